package controllers_test

import (
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// Jobs on the emulated QPU take runs × 20 ms, long enough to act on them
// while they run.
const shot = 20 * time.Millisecond

var _ = Describe("Canceling", func() {
	It("a running batch stops its runner's work and cancels unfinished jobs; finished results stay", func() {
		m := startManager()
		ns := project()
		d := qpuDevice(shot)
		b := batch(ns, quantumv1alpha1.DeviceTypeFresnel, 5, 1000, 5)
		create(b)
		jobRunning(b, 1, 1)
		runner := runnerID(m, d)

		updateBatch(b, func(cur *quantumv1alpha1.Batch) { cur.Spec.Canceled = true })
		Eventually(phaseOf(b)).Should(Equal(quantumv1alpha1.BatchCanceled))
		jobs := jobsOf(b)
		Expect(jobs[0].Status.Phase).To(Equal(quantumv1alpha1.JobDone))
		Expect(total(jobs[0].Status.Counter)).To(Equal(int64(5)))
		Expect(jobs[0].Status.Raw).To(HaveLen(5), "its result is kept")
		Expect(jobs[1].Status.Phase).To(Equal(quantumv1alpha1.JobCanceled))
		Expect(jobs[1].Status.Counter).To(BeEmpty())
		Expect(jobs[2].Status.Phase).To(Equal(quantumv1alpha1.JobCanceled))
		Expect(jobs[2].Status.Attempts).To(BeZero(), "a pending job is canceled without running")
		b = get(b)
		Expect(b.Status.JobsCountPerStatus).To(HaveKeyWithValue(quantumv1alpha1.JobCanceled, int32(2)))
		Expect(b.Status.EndTime).NotTo(BeNil())
		Eventually(runnerRunning(m, runner)).Should(BeFalse(), "the runner ended")
		Expect(qpuLease(d)()).To(BeEmpty())
	})

	It("one running job and one pending job cancels those only", func() {
		startManager()
		ns := project()
		qpuDevice(shot)
		b := batch(ns, quantumv1alpha1.DeviceTypeFresnel, 1000, 10, 1000)
		create(b)
		running := jobRunning(b, 0, 1)
		updateJob(running, func(cur *quantumv1alpha1.Job) { cur.Spec.Canceled = true })
		updateJob(&jobsOf(b)[2], func(cur *quantumv1alpha1.Job) { cur.Spec.Canceled = true })

		Eventually(phaseOf(b)).Should(Equal(quantumv1alpha1.BatchDone))
		Expect(jobPhases(b)()).To(Equal([]quantumv1alpha1.JobStatus{
			quantumv1alpha1.JobCanceled, quantumv1alpha1.JobDone, quantumv1alpha1.JobCanceled}))
		Expect(jobsOf(b)[2].Status.Attempts).To(BeZero())
	})

	It("a batch that has not started cancels all its jobs", func() {
		startManager()
		ns := project()
		b := batch(ns, quantumv1alpha1.DeviceTypeEmuMPS, 10, 10) // no EMU_MPS device
		create(b)
		Eventually(jobPhases(b)).Should(Equal([]quantumv1alpha1.JobStatus{quantumv1alpha1.JobPending, quantumv1alpha1.JobPending}))
		updateBatch(b, func(cur *quantumv1alpha1.Batch) { cur.Spec.Canceled = true })
		Eventually(phaseOf(b)).Should(Equal(quantumv1alpha1.BatchCanceled))
		Expect(jobPhases(b)()).To(Equal([]quantumv1alpha1.JobStatus{quantumv1alpha1.JobCanceled, quantumv1alpha1.JobCanceled}))
		Expect(get(b).Status.StartTime).To(BeNil())
	})
})

var _ = Describe("Time limits", func() {
	It("time a batch out after its own limit, else its device's, and stop its runner", func() {
		m := startManager()
		ns := project()
		d := qpuDevice(shot, func(d *quantumv1alpha1.Device) { d.Spec.TimeLimit = &metav1.Duration{Duration: time.Hour} })

		By("the batch's own limit")
		own := batch(ns, quantumv1alpha1.DeviceTypeFresnel, 10, 1000, 10)
		own.Spec.TimeLimit = &metav1.Duration{Duration: 3 * time.Second}
		create(own)
		jobRunning(own, 1, 1)
		runner := runnerID(m, d)
		Eventually(phaseOf(own)).Should(Equal(quantumv1alpha1.BatchTimedOut))
		jobs := jobsOf(own)
		Expect(jobs[0].Status.Phase).To(Equal(quantumv1alpha1.JobDone))
		for _, j := range jobs[1:] {
			Expect(j.Status.Phase).To(Equal(quantumv1alpha1.JobCanceled))
			Expect(j.Status.Errors).To(ContainElement(ContainSubstring("time limit of 3s")))
		}
		c := condition(own, quantumv1alpha1.ConditionTimeLimit)
		Expect(c).NotTo(BeNil())
		Expect(c.Status).To(Equal(metav1.ConditionTrue))
		Eventually(runnerRunning(m, runner)).Should(BeFalse(), "the runner was stopped")

		By("the device's default")
		updateDevice(d, func(cur *quantumv1alpha1.Device) { cur.Spec.TimeLimit = &metav1.Duration{Duration: time.Second} })
		dflt := batch(ns, quantumv1alpha1.DeviceTypeFresnel, 1000)
		create(dflt)
		Eventually(phaseOf(dflt)).Should(Equal(quantumv1alpha1.BatchTimedOut))
		Expect(jobPhases(dflt)()).To(Equal([]quantumv1alpha1.JobStatus{quantumv1alpha1.JobCanceled}))

		By("an own limit above the device's (written past the admission policy) is held to the device's")
		above := batch(ns, quantumv1alpha1.DeviceTypeFresnel, 1000)
		above.Spec.TimeLimit = &metav1.Duration{Duration: time.Hour}
		create(above) // as an administrator: the policy does not judge this writer
		Eventually(phaseOf(above)).Should(Equal(quantumv1alpha1.BatchTimedOut))
		Expect(jobsOf(above)[0].Status.Errors).To(ContainElement(ContainSubstring("time limit of 1s")))
	})
})

var _ = Describe("A runner that dies", func() {
	It("is noticed: its running job is retried, then ERROR with the reason once it used its attempts", func() {
		m := startManager()
		ns := project()
		d := qpuDevice(shot)
		b := batch(ns, quantumv1alpha1.DeviceTypeFresnel, 1000)
		create(b)

		for attempt := int32(1); attempt <= maxAttempts; attempt++ {
			jobRunning(b, 0, attempt)
			Expect(syscall.Kill(runnerPID(m, d), syscall.SIGKILL)).To(Succeed())
		}
		Eventually(phaseOf(b)).Should(Equal(quantumv1alpha1.BatchError))
		j := jobsOf(b)[0]
		Expect(j.Status.Phase).To(Equal(quantumv1alpha1.JobError))
		Expect(j.Status.Attempts).To(Equal(int32(maxAttempts)))
		Expect(j.Status.Errors).To(ContainElement(And(ContainSubstring("runner died"), ContainSubstring("killed"))))
		Eventually(func() []string { return eventReasons(ns, b.Name) }).Should(ContainElements("RunnerDied", "JobRetried", "JobFailed"))
		Expect(qpuLease(d)()).To(BeEmpty(), "the QPU is free again")
	})

	It("that stops renewing its lease while no manager runs is noticed by the next manager", func() {
		m := startManager()
		ns := project()
		d := qpuDevice(shot)
		b := batch(ns, quantumv1alpha1.DeviceTypeFresnel, 50, 400, 50)
		create(b)
		jobRunning(b, 1, 1)
		m.stop()
		Expect(syscall.Kill(runnerPID(m, d), syscall.SIGKILL)).To(Succeed())

		startManager()
		Eventually(phaseOf(b)).Should(Equal(quantumv1alpha1.BatchDone))
		jobs := jobsOf(b)
		Expect(jobs).To(HaveLen(3))
		Expect(jobs[1].Status.Attempts).To(Equal(int32(2)), "the job the dead runner held ran again")
		for _, j := range jobs {
			Expect(j.Status.Phase).To(Equal(quantumv1alpha1.JobDone))
			Expect(total(j.Status.Counter)).To(Equal(int64(j.Spec.Runs)))
		}
	})
})

var _ = Describe("A manager restart mid-batch", func() {
	It("loses nothing and runs no job twice", func() {
		m := startManager()
		ns := project()
		qpuDevice(shot)
		b := batch(ns, quantumv1alpha1.DeviceTypeFresnel, 50, 50, 50, 50)
		create(b)
		jobRunning(b, 1, 1)
		m.stop()
		jobRunning(b, 2, 1) // the runner goes on without a manager

		startManager()
		Eventually(phaseOf(b)).Should(Equal(quantumv1alpha1.BatchDone))
		jobs := jobsOf(b)
		Expect(jobs).To(HaveLen(4))
		for _, j := range jobs {
			Expect(j.Status.Phase).To(Equal(quantumv1alpha1.JobDone))
			Expect(j.Status.Attempts).To(Equal(int32(1)))
			Expect(total(j.Status.Counter)).To(Equal(int64(50)))
		}
		Expect(get(b).Status.JobsCount).To(Equal(int32(4)))
	})
})

func eventReasons(ns, name string) []string {
	GinkgoHelper()
	evs := &eventsv1.EventList{}
	Expect(k8s.List(ctx, evs, client.InNamespace(ns))).To(Succeed())
	var reasons []string
	for _, e := range evs.Items {
		if e.Regarding.Name == name {
			reasons = append(reasons, e.Reason)
		}
	}
	return reasons
}
