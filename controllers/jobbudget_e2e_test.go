package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/jobbudget"
)

// The manager paces the Jobs each project's batches create, whatever
// created the batches: here they are written straight to kube-apiserver,
// as a tenant with its own token can, past the facade and its write budget.
var _ = Describe("A project's job budget", func() {
	It("paces the jobs of one project's batches, not another project's", func() {
		conf := managerConfig()
		conf.Options.JobBudget = jobbudget.Limits{PerSecond: 1, Burst: 4}
		runManager(cfg, conf)
		a, b := project(), project()
		// No device of this type exists: the batches wait in PENDING once
		// their jobs exist.
		var as []*quantumv1alpha1.Batch
		for range 3 {
			x := batch(a, quantumv1alpha1.DeviceTypeEmuTN, 10, 10, 10, 10)
			create(x)
			as = append(as, x)
		}
		withJobs := func(bs ...*quantumv1alpha1.Batch) func() int {
			return func() int {
				n := 0
				for _, x := range bs {
					if len(jobsOf(x)) > 0 {
						n++
					}
				}
				return n
			}
		}
		waiting := func(x *quantumv1alpha1.Batch) bool {
			c := condition(x, quantumv1alpha1.ConditionJobsCreated)
			return c != nil && c.Status == metav1.ConditionFalse && c.Reason == quantumv1alpha1.ReasonJobBudget
		}

		By("the burst: one batch's four jobs at once, the others wait with a condition")
		Eventually(func() int {
			n := 0
			for _, x := range as {
				if waiting(x) {
					n++
				}
			}
			return n
		}).Should(Equal(2))
		Expect(withJobs(as...)()).To(Equal(1))
		for _, x := range as {
			if waiting(x) {
				Expect(jobsOf(x)).To(BeEmpty(), "a batch waits for all its jobs, none is created")
				Expect(condition(x, quantumv1alpha1.ConditionJobsCreated).Message).To(Equal(
					"4 of 4 inline jobs wait for the project's job budget: project " + a +
						" creates at most 1 jobs per second (4 at once, or one batch of more when none were created lately)"))
				Expect(phaseOf(x)()).To(Equal(quantumv1alpha1.BatchPending))
			}
		}

		By("another project's batch gets its jobs while A's last one still waits")
		other := batch(b, quantumv1alpha1.DeviceTypeEmuTN, 10, 10, 10, 10)
		create(other)
		Eventually(func() int { return len(jobsOf(other)) }).Should(Equal(4))
		Expect(withJobs(as...)()).To(BeNumerically("<", 3))

		By("a later batch of one job of A's does not pass the ones that wait")
		small := batch(a, quantumv1alpha1.DeviceTypeEmuTN, 10)
		create(small)
		Eventually(func() bool { return waiting(small) }).Should(BeTrue())

		By("jobs the facade charged to A's write budget are not charged again")
		paid := batch(a, quantumv1alpha1.DeviceTypeEmuTN, 10, 10, 10, 10)
		paid.Annotations = map[string]string{quantumv1alpha1.JobsChargedAnnotation: "4"}
		create(paid)
		Eventually(func() int { return len(jobsOf(paid)) }).Should(Equal(4))
		Expect(waiting(small)).To(BeTrue())
		// Two of four charged: the other two wait their turn, with none created.
		half := batch(a, quantumv1alpha1.DeviceTypeEmuTN, 10, 10, 10, 10)
		half.Annotations = map[string]string{quantumv1alpha1.JobsChargedAnnotation: "2"}
		create(half)
		Eventually(func() bool { return waiting(half) }).Should(BeTrue())
		Expect(condition(half, quantumv1alpha1.ConditionJobsCreated).Message).To(HavePrefix("2 of 4 inline jobs wait"))
		Expect(jobsOf(half)).To(BeEmpty())

		By("A's batches get their jobs at the budget's rate, in their order, each told once")
		Eventually(withJobs(as...)).WithTimeout(20 * time.Second).Should(Equal(3))
		var first, last time.Time
		for _, x := range as {
			Eventually(func() int { return len(jobsOf(x)) }).Should(Equal(4))
			Eventually(func() metav1.ConditionStatus {
				return condition(x, quantumv1alpha1.ConditionJobsCreated).Status
			}).Should(Equal(metav1.ConditionTrue))
			at := jobsOf(x)[0].CreationTimestamp.Time
			if first.IsZero() || at.Before(first) {
				first = at
			}
			if at.After(last) {
				last = at
			}
		}
		// Twice four jobs at one a second after the burst: 8 s (creation
		// times are whole seconds).
		Expect(last.Sub(first)).To(BeNumerically(">=", 7*time.Second))
		Eventually(func() int { return len(jobsOf(small)) }).Should(Equal(1))
		Expect(jobsOf(small)[0].CreationTimestamp.Time).To(BeTemporally(">=", last))
		waited := 0
		for _, x := range append(as, small, half) {
			n := countEvents(a, x.Name, quantumv1alpha1.ReasonJobBudget)
			Expect(n).To(BeNumerically("<=", 1))
			waited += n
		}
		Expect(waited).To(Equal(4))
		Expect(countEvents(a, paid.Name, quantumv1alpha1.ReasonJobBudget)).To(Equal(0))
		Expect(countEvents(b, other.Name, quantumv1alpha1.ReasonJobBudget)).To(Equal(0))
	})
})
