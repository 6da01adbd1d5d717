package controllers

import (
	"context"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// RunnerEndedByLease runs the handling of a runner of generation gen of b
// on device d that was judged ended because seen, the cache's copy of its
// Lease, had run out; it returns how soon the batch is looked at again.
func (r *BatchReconciler) RunnerEndedByLease(ctx context.Context, b *quantumv1alpha1.Batch, d *quantumv1alpha1.Device, seen *coordinationv1.Lease, gen int) (time.Duration, error) {
	s := &batchScope{batch: b, orig: b.DeepCopy(), device: d}
	v := runnerView{state: runnerEnded, lease: seen, gen: gen, byLease: true}
	v.state, v.reason = runnerFate(false, "", seen, gen, r.now())
	err := r.runnerEnded(ctx, s, v)
	return s.requeue, err
}
