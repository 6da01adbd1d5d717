package controllers_test

import (
	"sync"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

var _ = Describe("A batch on an emulator", func() {
	It("creates one Job per inline entry and reaches DONE with counters whose totals equal runs", func() {
		startManager()
		ns := project()
		device(quantumv1alpha1.DeviceTypeEmuFree)
		// 5000 shots of 4 atoms are 20 kB of raw shots: over InlineRawBytes.
		b := batch(ns, quantumv1alpha1.DeviceTypeEmuFree, 50, 100, 5000)
		create(b)

		Eventually(phaseOf(b)).Should(Equal(quantumv1alpha1.BatchDone))
		b = get(b)
		jobs := jobsOf(b)
		Expect(jobs).To(HaveLen(3))
		for i, j := range jobs {
			Expect(j.Name).To(Equal(quantumv1alpha1.InlineJobName(b.UID, i)))
			Expect(j.Spec.CreationOrder).To(Equal(int32(i + 1)))
			Expect(j.Spec.BatchName).To(Equal(b.Name))
			Expect(metav1.GetControllerOf(&j)).NotTo(BeNil())
			Expect(metav1.GetControllerOf(&j).UID).To(Equal(b.UID))
			Expect(j.Status.Phase).To(Equal(quantumv1alpha1.JobDone))
			Expect(j.Status.Progress).To(Equal(int32(100)))
			Expect(j.Status.Attempts).To(Equal(int32(1)))
			Expect(j.Status.StartTime).NotTo(BeNil())
			Expect(j.Status.EndTime).NotTo(BeNil())
			Expect(total(j.Status.Counter)).To(Equal(int64(b.Spec.Jobs[i].Runs)))
			for bits := range j.Status.Counter {
				Expect(bits).To(MatchRegexp(`^[01]{4}$`))
			}
			cm := &corev1.ConfigMap{}
			if i < 2 {
				By("keeping a small result in the job's status, with no ConfigMap")
				Expect(j.Status.Raw).To(HaveLen(int(j.Spec.Runs)))
				Expect(tally(j.Status.Raw)).To(Equal(j.Status.Counter))
				Expect(j.Status.ResultRef).To(BeEmpty())
				err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: quantumv1alpha1.ResultConfigMapName(j.Name)}, cm)
				Expect(apierrors.IsNotFound(err)).To(BeTrue(), "no result ConfigMap for a small result: %v", err)
				continue
			}
			By("storing a large result in a ConfigMap owned by the job")
			Expect(j.Status.Raw).To(BeNil())
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: j.Status.ResultRef}, cm)).To(Succeed())
			Expect(j.Status.ResultRef).To(Equal(quantumv1alpha1.ResultConfigMapName(j.Name)))
			Expect(metav1.GetControllerOf(cm).UID).To(Equal(j.UID))
			Expect(cm.Data[quantumv1alpha1.ResultKey]).To(MatchJSON(mustJSON(map[string]any{
				"counter": j.Status.Counter, "raw": rawOf(cm),
			})))
			Expect(rawOf(cm)).To(HaveLen(int(j.Spec.Runs)))
			Expect(tally(rawOf(cm))).To(Equal(j.Status.Counter))
		}
		Expect(b.Status.JobsCount).To(Equal(int32(3)))
		Expect(b.Status.JobsCountPerStatus).To(HaveKeyWithValue(quantumv1alpha1.JobDone, int32(3)))
		Expect(b.Status.JobsCountPerStatus).To(HaveKeyWithValue(quantumv1alpha1.JobPending, int32(0)))
		Expect(b.Status.StartTime).NotTo(BeNil())
		Expect(b.Status.EndTime).NotTo(BeNil())
		Expect(b.Status.DeviceID).NotTo(BeEmpty())
		Expect(condition(b, quantumv1alpha1.ConditionJobsCreated).Status).To(Equal(metav1.ConditionTrue))
		Expect(condition(b, quantumv1alpha1.ConditionScheduled).Status).To(Equal(metav1.ConditionTrue))

		By("telling humans through events")
		Eventually(func() []string {
			evs := &eventsv1.EventList{}
			Expect(k8s.List(ctx, evs, client.InNamespace(ns))).To(Succeed())
			var reasons []string
			for _, e := range evs.Items {
				if e.Regarding.Name == b.Name {
					reasons = append(reasons, e.Reason)
				}
			}
			return reasons
		}).Should(ContainElements("JobsCreated", "Started", "Finished"))

		By("never duplicating jobs when the batch is applied again")
		updateBatch(b, func(cur *quantumv1alpha1.Batch) {
			cur.Labels = map[string]string{"reapplied": "yes"}
			cur.Spec.Tags = []string{"again"}
		})
		Consistently(func() int { return len(jobsOf(b)) }, "1s").Should(Equal(3))
		Expect(get(b).Status.Phase).To(Equal(quantumv1alpha1.BatchDone))
	})
})

// tally counts shots per bitstring.
func tally(raw []string) map[string]int64 {
	out := map[string]int64{}
	for _, s := range raw {
		out[s]++
	}
	return out
}

func rawOf(cm *corev1.ConfigMap) []string {
	var res struct {
		Raw []string `json:"raw"`
	}
	ExpectWithOffset(1, jsonUnmarshal(cm.Data[quantumv1alpha1.ResultKey], &res)).To(Succeed())
	return res.Raw
}

var _ = Describe("An open batch", func() {
	It("runs jobs added later, adopting them, and ends DONE once closed", func() {
		startManager()
		ns := project()
		device(quantumv1alpha1.DeviceTypeEmuFree)
		b := batch(ns, quantumv1alpha1.DeviceTypeEmuFree, 40)
		b.Spec.Open = true
		create(b)

		Eventually(jobPhases(b)).Should(Equal([]quantumv1alpha1.JobStatus{quantumv1alpha1.JobDone}))
		Consistently(phaseOf(b), "1s").Should(Equal(quantumv1alpha1.BatchRunning))

		By("adding jobs as the REST facade does: UUID names, next creation order, no owner")
		for i, runs := range []int32{60, 80} {
			create(&quantumv1alpha1.Job{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: uuid.NewString(),
					Labels: map[string]string{quantumv1alpha1.BatchLabel: b.Name}},
				Spec: quantumv1alpha1.JobSpec{BatchName: b.Name, Runs: runs, CreationOrder: int32(i + 2), Variables: vars(500)},
			})
		}
		Eventually(jobPhases(b)).Should(Equal([]quantumv1alpha1.JobStatus{
			quantumv1alpha1.JobDone, quantumv1alpha1.JobDone, quantumv1alpha1.JobDone}))
		b = get(b)
		// A job can finish before the controller adopts it (the adoption
		// then conflicts with the runner's write and is retried).
		Eventually(func(g Gomega) {
			for _, j := range jobsOf(b) {
				g.Expect(metav1.GetControllerOf(&j)).NotTo(BeNil(), "job %s is adopted", j.Name)
				g.Expect(metav1.GetControllerOf(&j).UID).To(Equal(b.UID))
				g.Expect(total(j.Status.Counter)).To(Equal(int64(j.Spec.Runs)))
			}
		}).Should(Succeed())
		Expect(b.Status.Phase).To(Equal(quantumv1alpha1.BatchRunning))

		By("closing it")
		updateBatch(b, func(cur *quantumv1alpha1.Batch) { cur.Spec.Open = false })
		Eventually(phaseOf(b)).Should(Equal(quantumv1alpha1.BatchDone))
		Expect(get(b).Status.JobsCount).To(Equal(int32(3)))
	})
})

var _ = Describe("The queue", func() {
	It("keeps batches PAUSED while their device is DOWN, then starts them by queue priority, priority and age", func() {
		startManager()
		ns := project()
		d := device(quantumv1alpha1.DeviceTypeEmuSV, func(d *quantumv1alpha1.Device) {
			d.Spec.Concurrency = 1
			d.Spec.Availability = quantumv1alpha1.DeviceDown
		})
		type entry struct {
			qp       quantumv1alpha1.QueuePriority
			priority int32
		}
		entries := []entry{
			{quantumv1alpha1.QueuePriorityLow, 100},
			{quantumv1alpha1.QueuePriorityMedium, 1},
			{quantumv1alpha1.QueuePriorityHigh, 0},
			{quantumv1alpha1.QueuePriorityMedium, 5},
			{quantumv1alpha1.QueuePriorityHigh, 3},
			{quantumv1alpha1.QueuePriorityMedium, 5}, // same as the 4th, younger
		}
		var batches []*quantumv1alpha1.Batch
		for i, e := range entries {
			if i == 5 {
				// Age counts in creationTimestamp's whole seconds: make the
				// younger twin of entry 3 visibly younger.
				Eventually(func() bool {
					return time.Now().After(get(batches[3]).CreationTimestamp.Add(time.Second))
				}).Should(BeTrue())
			}
			b := batch(ns, quantumv1alpha1.DeviceTypeEmuSV, 20)
			b.Spec.QueuePriority, b.Spec.Priority = e.qp, e.priority
			create(b)
			batches = append(batches, b)
			Eventually(phaseOf(b)).Should(Equal(quantumv1alpha1.BatchPaused))
		}
		for _, b := range batches {
			c := condition(b, quantumv1alpha1.ConditionScheduled)
			Expect(c.Status).To(Equal(metav1.ConditionFalse))
			Expect(c.Reason).To(Equal("DeviceDown"))
		}
		Eventually(func() int32 { return get(d).Status.PendingBatches }).Should(Equal(int32(len(entries))))
		Eventually(func() int32 { return get(d).Status.PendingJobs }).Should(Equal(int32(len(entries))))
		Expect(get(d).Status.RunningBatches).To(Equal(int32(0)))
		Expect(meta.IsStatusConditionFalse(get(d).Status.Conditions, quantumv1alpha1.ConditionReady)).To(BeTrue())

		By("recording the order in which batches get their device")
		order := watchStarts(ns)
		updateDevice(d, func(cur *quantumv1alpha1.Device) { cur.Spec.Availability = quantumv1alpha1.DeviceUp })
		for _, b := range batches {
			Eventually(phaseOf(b)).Should(Equal(quantumv1alpha1.BatchDone))
		}
		want := []string{batches[4].Name, batches[2].Name, batches[3].Name, batches[5].Name, batches[1].Name, batches[0].Name}
		Expect(order()).To(Equal(want))
		Eventually(func() int32 { return get(d).Status.PendingBatches }).Should(Equal(int32(0)))
	})

	It("keeps a batch PENDING with the reason while its device type has no device", func() {
		startManager()
		ns := project()
		b := batch(ns, quantumv1alpha1.DeviceTypeEmuTN, 10)
		create(b)
		Eventually(func() string {
			c := condition(b, quantumv1alpha1.ConditionScheduled)
			if c == nil {
				return ""
			}
			return c.Reason
		}).Should(Equal("NoDevice"))
		Expect(get(b).Status.Phase).To(Equal(quantumv1alpha1.BatchPending))
		Expect(condition(b, quantumv1alpha1.ConditionScheduled).Message).To(ContainSubstring("no device of type EMU_TN"))

		By("an inactive device starts nothing either")
		d := device(quantumv1alpha1.DeviceTypeEmuTN, func(d *quantumv1alpha1.Device) { d.Spec.Active = ptrTo(false) })
		Eventually(func() string { return condition(b, quantumv1alpha1.ConditionScheduled).Reason }).Should(Equal("NoActiveDevice"))
		Expect(get(b).Status.Phase).To(Equal(quantumv1alpha1.BatchPending))

		updateDevice(d, func(cur *quantumv1alpha1.Device) { cur.Spec.Active = ptrTo(true) })
		Eventually(phaseOf(b)).Should(Equal(quantumv1alpha1.BatchDone))
	})
})

// watchStarts records, from a watch, the order in which the namespace's
// batches get a device.
func watchStarts(ns string) func() []string {
	GinkgoHelper()
	wc, err := client.NewWithWatch(cfg, client.Options{Scheme: k8s.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	w, err := wc.Watch(ctx, &quantumv1alpha1.BatchList{}, client.InNamespace(ns))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(w.Stop)
	var mu sync.Mutex
	var order []string
	seen := map[string]bool{}
	go func() {
		for ev := range w.ResultChan() {
			b, ok := ev.Object.(*quantumv1alpha1.Batch)
			if !ok || b.Status.DeviceID == "" || seen[b.Name] {
				continue
			}
			mu.Lock()
			seen[b.Name] = true
			order = append(order, b.Name)
			mu.Unlock()
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), order...)
	}
}
