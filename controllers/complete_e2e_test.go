package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// completeReason is the reason of a batch's Complete condition once it is
// True (what `kubectl wait --for=condition=Complete` waits for), else "".
func completeReason(b *quantumv1alpha1.Batch) func() string {
	return func() string {
		c := condition(b, quantumv1alpha1.ConditionComplete)
		if c == nil || c.Status != metav1.ConditionTrue {
			return ""
		}
		return c.Reason
	}
}

var _ = Describe("A batch's Complete condition", func() {
	It("turns true with the terminal status as its reason, whoever ended the batch", func() {
		startManager()
		ns := project()
		device(quantumv1alpha1.DeviceTypeEmuFree)

		By("a batch that ran: DONE")
		ran := batch(ns, quantumv1alpha1.DeviceTypeEmuFree, 20)
		create(ran)
		Eventually(completeReason(ran)).Should(Equal("DONE"))
		Expect(get(ran).Status.Phase).To(Equal(quantumv1alpha1.BatchDone))

		By("a closed batch without jobs: DONE at once, with zero jobs, on a type without a device")
		empty := batch(ns, quantumv1alpha1.DeviceTypeEmuTN)
		create(empty)
		Eventually(completeReason(empty)).Should(Equal("DONE"))
		Expect(get(empty).Status.JobsCount).To(BeZero())
		Expect(get(empty).Status.DeviceID).To(BeEmpty())

		By("a pending batch whose status the facade set CANCELED")
		waiting := batch(ns, quantumv1alpha1.DeviceTypeEmuTN, 10)
		create(waiting)
		Eventually(phaseOf(waiting)).Should(Equal(quantumv1alpha1.BatchPending))
		Expect(completeReason(waiting)()).To(BeEmpty())
		updateBatch(waiting, func(cur *quantumv1alpha1.Batch) { cur.Spec.Canceled = true })
		Eventually(completeReason(waiting)).Should(Equal("CANCELED"))
	})
})
