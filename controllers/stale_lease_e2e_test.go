package controllers_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers"
	"github.com/tweezer-dev/tweezer/controllers/executor"
	"github.com/tweezer-dev/tweezer/internal/leaseholder"
)

// stopRecorder is an executor whose runners are alive and which records
// the runners it is asked to stop.
type stopRecorder struct{ stopped []executor.Runner }

func (*stopRecorder) Start(context.Context, executor.Runner) error { return nil }
func (*stopRecorder) Observe(context.Context, executor.Runner) (executor.Observation, error) {
	return executor.Observation{Phase: executor.Running}, nil
}
func (e *stopRecorder) Stop(_ context.Context, r executor.Runner) error {
	e.stopped = append(e.stopped, r)
	return nil
}
func (*stopRecorder) Watch(b *ctrl.Builder) *ctrl.Builder           { return b }
func (*stopRecorder) Cleanup(context.Context, string, string) error { return nil }

var _ = Describe("A runner whose Lease the cache shows run out", func() {
	It("is judged again on the API server's Lease, and lives when it renewed in time", func() {
		ns := project()
		d := device(quantumv1alpha1.DeviceTypeEmuFree)
		b := batch(ns, quantumv1alpha1.DeviceTypeEmuFree, 10)
		create(b)
		holder := leaseholder.Holder{Batch: client.ObjectKeyFromObject(b), Generation: 2}.String()
		renewed := metav1.NewMicroTime(time.Now())
		lease := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: b.Name},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity: ptr.To(holder), LeaseDurationSeconds: ptr.To(int32(10)),
				AcquireTime: &renewed, RenewTime: &renewed, LeaseTransitions: ptr.To(int32(2)),
			},
		}
		create(lease)
		// The cache's copy: the same holder, renewed a minute ago.
		seen := lease.DeepCopy()
		old := metav1.NewMicroTime(renewed.Add(-time.Minute))
		seen.Spec.RenewTime = &old

		ex := &stopRecorder{}
		r := &controllers.BatchReconciler{
			Client: k8s, APIReader: k8s, Scheme: k8s.Scheme(), Executor: ex,
			Options: controllers.Options{Namespace: managerNamespace, LeaseDuration: 10 * time.Second, MaxAttempts: maxAttempts},
		}
		again, err := r.RunnerEndedByLease(ctx, get(b), d, seen, 2)
		Expect(err).NotTo(HaveOccurred())
		Expect(ex.stopped).To(BeEmpty(), "a runner that renewed its Lease in time was stopped")
		// Looked at again when the fresh renewal runs out (10 s after it).
		Expect(again).To(BeNumerically("~", time.Until(renewed.Add(10*time.Second)), 2*time.Second))
		stored := &coordinationv1.Lease{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(lease), stored)).To(Succeed())
		Expect(*stored.Spec.HolderIdentity).To(Equal(holder), "the live runner's Lease was taken over")

		By("a Lease that has run out on the API server too ends the runner")
		expired := metav1.NewMicroTime(time.Now().Add(-time.Minute))
		stored.Spec.RenewTime = &expired
		Expect(k8s.Update(ctx, stored)).To(Succeed())
		_, err = r.RunnerEndedByLease(ctx, get(b), d, stored, 2)
		Expect(err).NotTo(HaveOccurred())
		Expect(ex.stopped).To(HaveLen(1))
		Expect(ex.stopped[0].Generation).To(Equal(2))
	})
})
