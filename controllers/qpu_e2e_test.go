package controllers_test

import (
	"sync"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/executor"
	"github.com/tweezer-dev/tweezer/internal/runnerspec"
)

// qpuDevice creates a FRESNEL device whose gateway takes shotTime per shot.
func qpuDevice(shotTime time.Duration, mutate ...func(*quantumv1alpha1.Device)) *quantumv1alpha1.Device {
	GinkgoHelper()
	url := gateway(shotTime)
	return device(quantumv1alpha1.DeviceTypeFresnel, append([]func(*quantumv1alpha1.Device){func(d *quantumv1alpha1.Device) {
		d.Spec.IsEmulator = false
		d.Spec.Concurrency = 5 // a QPU runs one batch whatever this says
		d.Spec.Gateway = &quantumv1alpha1.QPUGateway{URL: url}
	}}, mutate...)...)
}

func qpuLease(d *quantumv1alpha1.Device) func() string {
	return func() string { return holder(lease(managerNamespace, "tweezer-qpu-"+d.Name)) }
}

// jobRunning waits until the batch's job at index i is RUNNING and returns it.
func jobRunning(b *quantumv1alpha1.Batch, i int, attempt int32) *quantumv1alpha1.Job {
	GinkgoHelper()
	var out *quantumv1alpha1.Job
	Eventually(func() bool {
		jobs := jobsOf(b)
		if len(jobs) <= i {
			return false
		}
		j := jobs[i]
		out = &j
		return j.Status.Phase == quantumv1alpha1.JobRunning && j.Status.Attempts == attempt
	}).Should(BeTrue(), "job %d of batch %s RUNNING in attempt %d", i, b.Name, attempt)
	return out
}

// runnerID waits for the QPU's current runner to run and returns its ID.
func runnerID(m *manager, d *quantumv1alpha1.Device) string {
	GinkgoHelper()
	runnerPID(m, d)
	return qpuLease(d)()
}

// runnerRunning returns a function for Eventually that tells whether a
// process still runs the runner.
func runnerRunning(m *manager, id string) func() bool {
	return func() bool { return m.exec.(*executor.Process).Running(id) }
}

// runnerPID finds the process of the QPU's current runner.
func runnerPID(m *manager, d *quantumv1alpha1.Device) int {
	GinkgoHelper()
	p := m.exec.(*executor.Process)
	var pid int
	Eventually(func() bool {
		var ok bool
		pid, ok = p.PID(executor.Runner{Spec: runnerspec.Spec{RunnerID: qpuLease(d)()}})
		return ok
	}).Should(BeTrue())
	return pid
}

var _ = Describe("A QPU", func() {
	It("runs one batch at a time, held through its Lease, then the next", func() {
		startManager()
		ns := project()
		d := qpuDevice(5 * time.Millisecond)
		first := batch(ns, quantumv1alpha1.DeviceTypeFresnel, 40, 40)
		second := batch(ns, quantumv1alpha1.DeviceTypeFresnel, 40, 40)
		first.Spec.QueuePriority = quantumv1alpha1.QueuePriorityHigh

		var mu sync.Mutex
		running, maxRunning := map[string]bool{}, 0
		holders := map[string]bool{}
		stopWatch := watchBatches(ns, func(b *quantumv1alpha1.Batch) {
			mu.Lock()
			defer mu.Unlock()
			running[b.Name] = b.Status.Phase == quantumv1alpha1.BatchRunning
			n := 0
			for _, r := range running {
				if r {
					n++
				}
			}
			maxRunning = max(maxRunning, n)
			if h := qpuLease(d)(); h != "" {
				holders[h] = true
			}
		})
		defer stopWatch()
		create(first)
		create(second)

		Eventually(phaseOf(first)).Should(Equal(quantumv1alpha1.BatchDone))
		Eventually(phaseOf(second)).Should(Equal(quantumv1alpha1.BatchDone))
		mu.Lock()
		Expect(maxRunning).To(Equal(1), "never two batches RUNNING on the QPU")
		Expect(holders).To(HaveKey(HavePrefix(ns + "/" + first.Name + "#")))
		Expect(holders).To(HaveKey(HavePrefix(ns + "/" + second.Name + "#")))
		mu.Unlock()
		for _, b := range []*quantumv1alpha1.Batch{first, second} {
			for _, j := range jobsOf(b) {
				Expect(total(j.Status.Counter)).To(Equal(int64(40)))
			}
		}
		Expect(get(d).Status.RunningBatches).To(BeNumerically("<=", 1))
	})

	It("gives the QPU to the next batch once the Lease of a dead holder expires", func() {
		startManager()
		ns := project()
		d := qpuDevice(5 * time.Millisecond)
		now := metav1.NewMicroTime(time.Now())
		create(&coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: managerNamespace, Name: "tweezer-qpu-" + d.Name,
				Labels: map[string]string{executor.ManagedByLabel: executor.ManagedBy}},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity: ptrTo(ns + "/ghost#1"), LeaseDurationSeconds: ptrTo(int32(2)),
				AcquireTime: &now, RenewTime: &now, LeaseTransitions: ptrTo(int32(1)),
			},
		})
		b := batch(ns, quantumv1alpha1.DeviceTypeFresnel, 30)
		create(b)
		Eventually(func() string {
			c := condition(b, quantumv1alpha1.ConditionScheduled)
			if c == nil {
				return ""
			}
			return c.Reason
		}).Should(Equal("Queued"))
		Expect(get(b).Status.Phase).To(Equal(quantumv1alpha1.BatchPending))
		Eventually(phaseOf(b)).Should(Equal(quantumv1alpha1.BatchDone))
		Expect(qpuLease(d)()).To(BeEmpty(), "the finished batch gave the QPU back")
	})
})

var _ = Describe("An open batch on a QPU", func() {
	It("gives the QPU back while it has no job to run, and queues again when a job is added", func() {
		startManager()
		ns := project()
		d := qpuDevice(time.Millisecond)
		open := batch(ns, quantumv1alpha1.DeviceTypeFresnel, 20)
		open.Spec.Open = true
		create(open)
		Eventually(jobPhases(open)).Should(Equal([]quantumv1alpha1.JobStatus{quantumv1alpha1.JobDone}))

		By("idle for the release delay: the QPU is free and the batch waits, reason Idle")
		scheduled := func() string {
			if c := condition(open, quantumv1alpha1.ConditionScheduled); c != nil && c.Status == metav1.ConditionFalse {
				return c.Reason
			}
			return ""
		}
		Eventually(scheduled).Should(Equal("Idle"))
		Expect(get(open).Status.Phase).To(Equal(quantumv1alpha1.BatchPending))
		Expect(get(open).Status.DeviceID).To(BeEmpty())
		Expect(get(open).Status.StartTime).NotTo(BeNil(), "it started once")
		Eventually(qpuLease(d)).Should(BeEmpty(), "the QPU's Lease is released")

		By("another batch of the same QPU starts and finishes while the open one idles")
		second := batch(ns, quantumv1alpha1.DeviceTypeFresnel, 20)
		create(second)
		Eventually(phaseOf(second)).Should(Equal(quantumv1alpha1.BatchDone))
		Expect(get(open).Status.Phase).To(Equal(quantumv1alpha1.BatchPending))
		Expect(scheduled()).To(Equal("Idle"), "an idle batch does not take the QPU back by itself")

		By("a job added to the open batch queues it again; it runs, and the batch ends once closed")
		create(&quantumv1alpha1.Job{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: uuid.NewString(),
				Labels: map[string]string{quantumv1alpha1.BatchLabel: open.Name}},
			Spec: quantumv1alpha1.JobSpec{BatchName: open.Name, Runs: 30, CreationOrder: 2, Variables: vars(500)},
		})
		Eventually(jobPhases(open)).Should(Equal([]quantumv1alpha1.JobStatus{quantumv1alpha1.JobDone, quantumv1alpha1.JobDone}))
		for _, j := range jobsOf(open) {
			Expect(total(j.Status.Counter)).To(Equal(int64(j.Spec.Runs)))
		}
		updateBatch(open, func(cur *quantumv1alpha1.Batch) { cur.Spec.Open = false })
		Eventually(phaseOf(open)).Should(Equal(quantumv1alpha1.BatchDone))
		Eventually(qpuLease(d)).Should(BeEmpty())
	})
})

// watchBatches calls f for every change of the namespace's batches.
func watchBatches(ns string, f func(*quantumv1alpha1.Batch)) func() {
	GinkgoHelper()
	wc, err := client.NewWithWatch(cfg, client.Options{Scheme: k8s.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	w, err := wc.Watch(ctx, &quantumv1alpha1.BatchList{}, client.InNamespace(ns))
	Expect(err).NotTo(HaveOccurred())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			if b, ok := ev.Object.(*quantumv1alpha1.Batch); ok {
				f(b)
			}
		}
	}()
	return func() { w.Stop(); <-done }
}
