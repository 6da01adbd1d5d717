package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

var _ = Describe("A batch on an emulator", func() {
	It("creates one Job per inline entry and reaches DONE with counters whose totals equal runs", func() {
		startManager()
		ns := project()
		device(quantumv1alpha1.DeviceTypeEmuFree)
		b := batch(ns, quantumv1alpha1.DeviceTypeEmuFree, 50, 100, 150)
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
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: j.Status.ResultRef}, cm)).To(Succeed())
			Expect(j.Status.ResultRef).To(Equal(quantumv1alpha1.ResultConfigMapName(j.Name)))
			Expect(metav1.GetControllerOf(cm).UID).To(Equal(j.UID))
			Expect(cm.Data[quantumv1alpha1.ResultKey]).To(MatchJSON(mustJSON(map[string]any{
				"counter": j.Status.Counter, "raw": rawOf(cm),
			})))
			Expect(rawOf(cm)).To(HaveLen(int(j.Spec.Runs)))
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
		}).Should(ContainElements("JobsCreated", "Started", "RunnerStarted", "Finished"))

		By("never duplicating jobs when the batch is applied again")
		updateBatch(b, func(cur *quantumv1alpha1.Batch) {
			cur.Labels = map[string]string{"reapplied": "yes"}
			cur.Spec.Tags = []string{"again"}
		})
		Consistently(func() int { return len(jobsOf(b)) }, "1s").Should(Equal(3))
		Expect(get(b).Status.Phase).To(Equal(quantumv1alpha1.BatchDone))
	})
})

func rawOf(cm *corev1.ConfigMap) []string {
	var res struct {
		Raw []string `json:"raw"`
	}
	ExpectWithOffset(1, jsonUnmarshal(cm.Data[quantumv1alpha1.ResultKey], &res)).To(Succeed())
	return res.Raw
}

