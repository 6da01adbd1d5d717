package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/executor"
)

// A project's ResourceQuota binds the manager: when it refuses a Job or a
// runner Pod the batch says so on a condition and in one Warning event, is
// retried with backoff (never failed for it), and goes on once the quota
// has room. No kube-controller-manager runs in this suite: the specs write
// the quota's status (hard and first usage) as its resource quota
// controller would, and kube-apiserver's admission counts from there.
var _ = Describe("A full project quota", func() {
	jobsQuota := corev1.ResourceName("count/jobs." + quantumv1alpha1.GroupVersion.Group)

	It("leaves a batch's jobs waiting with a QuotaExceeded condition and one warning, then creates them when the quota grows", func() {
		startManager()
		ns := project()
		q := projectQuota(ns, jobsQuota, 2)
		// No device of this type exists: the batch waits in PENDING once its jobs exist.
		b := batch(ns, quantumv1alpha1.DeviceTypeEmuTN, 10, 10, 10)
		create(b)

		Eventually(func() string {
			c := condition(b, quantumv1alpha1.ConditionJobsCreated)
			if c == nil || c.Status != metav1.ConditionFalse {
				return ""
			}
			return c.Reason
		}).Should(Equal(quantumv1alpha1.ReasonQuotaExceeded))
		c := condition(b, quantumv1alpha1.ConditionJobsCreated)
		Expect(c.Message).To(And(ContainSubstring("exceeded quota: "+quantumv1alpha1.ProjectGuardRails),
			ContainSubstring(string(jobsQuota)), ContainSubstring("2 of 3 jobs exist")))
		Expect(jobsOf(b)).To(HaveLen(2))

		By("retries with backoff tell nobody again and never fail the batch")
		Consistently(func() int { return countEvents(ns, b.Name, quantumv1alpha1.ReasonQuotaExceeded) }, "3s").Should(Equal(1))
		Expect(phaseOf(b)()).To(Equal(quantumv1alpha1.BatchPending))
		Expect(warningNote(ns, b.Name, quantumv1alpha1.ReasonQuotaExceeded)).To(ContainSubstring(string(jobsQuota)))

		By("a larger quota: the last job is created")
		setQuotaStatus(q, jobsQuota, 3, 2)
		Eventually(func() int { return len(jobsOf(b)) }).Should(Equal(3))
		Eventually(func() metav1.ConditionStatus {
			return condition(b, quantumv1alpha1.ConditionJobsCreated).Status
		}).Should(Equal(metav1.ConditionTrue))
	})

	It("keeps a started batch waiting for a runner pod the quota refuses, without spending its attempts", func() {
		startManager(&executor.Pod{LeaseNamespace: managerNamespace, DefaultImage: "ghcr.io/tweezer-dev/tweezer:test"})
		ns := project()
		q := projectQuota(ns, corev1.ResourcePods, 0)
		device(quantumv1alpha1.DeviceTypeEmuC)
		b := batch(ns, quantumv1alpha1.DeviceTypeEmuC, 10)
		create(b)

		Eventually(func() string {
			c := condition(b, quantumv1alpha1.ConditionRunner)
			if c == nil {
				return ""
			}
			return c.Reason
		}).Should(Equal(quantumv1alpha1.ReasonQuotaExceeded))
		Expect(condition(b, quantumv1alpha1.ConditionRunner).Message).To(And(
			ContainSubstring("exceeded quota: "+quantumv1alpha1.ProjectGuardRails), ContainSubstring("pods")))

		// Over more tries than the suite's MaxAttempts (2), the refusals cost
		// the batch nothing: it would be ERROR if each counted as a dead runner.
		Consistently(phaseOf(b), "4s").Should(Equal(quantumv1alpha1.BatchRunning))
		Expect(countEvents(ns, b.Name, quantumv1alpha1.ReasonQuotaExceeded)).To(Equal(1))
		Expect(countEvents(ns, b.Name, "RunnerDied")).To(Equal(0))
		Expect(runnerPods(b)).To(BeEmpty())

		By("room for one pod: the runner starts")
		setQuotaStatus(q, corev1.ResourcePods, 1, 0)
		Eventually(func() int { return len(runnerPods(b)) }).Should(Equal(1))
		Eventually(func() string { return condition(b, quantumv1alpha1.ConditionRunner).Reason }).Should(Equal("Started"))
		Expect(lease(ns, b.Name).Annotations).To(HaveKeyWithValue(quantumv1alpha1.RunnerFailuresAnnotation, "0"))
	})
})

// projectQuota creates the project's ResourceQuota with one line and
// writes its status (no usage yet), as kube-controller-manager would.
func projectQuota(ns string, name corev1.ResourceName, hard int64) *corev1.ResourceQuota {
	GinkgoHelper()
	q := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: quantumv1alpha1.ProjectGuardRails,
			Labels: map[string]string{executor.ManagedByLabel: executor.ManagedBy}},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{name: *resource.NewQuantity(hard, resource.DecimalSI)}},
	}
	create(q)
	setQuotaStatus(q, name, hard, 0)
	return q
}

// setQuotaStatus writes a quota's hard limit and usage of one resource.
func setQuotaStatus(q *corev1.ResourceQuota, name corev1.ResourceName, hard, used int64) {
	GinkgoHelper()
	Eventually(func() error {
		cur := &corev1.ResourceQuota{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(q), cur); err != nil {
			return err
		}
		cur.Spec.Hard = corev1.ResourceList{name: *resource.NewQuantity(hard, resource.DecimalSI)}
		if err := k8s.Update(ctx, cur); err != nil {
			return err
		}
		cur.Status = corev1.ResourceQuotaStatus{
			Hard: cur.Spec.Hard,
			Used: corev1.ResourceList{name: *resource.NewQuantity(used, resource.DecimalSI)},
		}
		return k8s.Status().Update(ctx, cur)
	}).WithTimeout(10 * time.Second).Should(Succeed())
}

// countEvents counts the events of an object with a reason.
func countEvents(ns, name, reason string) int {
	GinkgoHelper()
	n := 0
	for _, r := range eventReasons(ns, name) {
		if r == reason {
			n++
		}
	}
	return n
}

// warningNote returns the note of an object's Warning event with a reason.
func warningNote(ns, name, reason string) string {
	GinkgoHelper()
	evs := &eventsv1.EventList{}
	Expect(k8s.List(ctx, evs, client.InNamespace(ns))).To(Succeed())
	for _, e := range evs.Items {
		if e.Regarding.Name == name && e.Reason == reason && e.Type == corev1.EventTypeWarning {
			return e.Note
		}
	}
	return ""
}

// runnerPods lists a batch's runner pods.
func runnerPods(b *quantumv1alpha1.Batch) []corev1.Pod {
	GinkgoHelper()
	pods := &corev1.PodList{}
	Expect(k8s.List(ctx, pods, client.InNamespace(b.Namespace), client.MatchingLabels{quantumv1alpha1.BatchLabel: b.Name})).To(Succeed())
	return pods.Items
}
