package handlers

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// The facade writes intent only: a Batch with its spec.jobs, jobs appended
// to an open batch's spec.jobs, spec.canceled on a batch or a job. The Batch
// controller acts on it (creates the Jobs, cancels what has not started,
// derives the batch's phase) and the runner stops what runs. A route that
// wrote intent answers once the controller's answer is in the cache, so its
// response shows the outcome as before; settleTimeout bounds that wait, after
// which the route answers with what the cache shows.
const settleTimeout = 10 * time.Second

// settle polls the cache until done holds or settleTimeout passes.
func (h *Handlers) settle(ctx context.Context, done func() (bool, error)) error {
	deadline := time.Now().Add(settleTimeout)
	for {
		ok, err := done()
		if err != nil || ok || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// awaitJobs waits until the cache holds the Jobs of the batch's spec entries
// from index `from` on (the controller creates them, named by position). It
// stops with an *errJobsRefused when the controller says that the project's
// quota refused them.
func (h *Handlers) awaitJobs(ctx context.Context, b *quantumv1alpha1.Batch, from int) error {
	return h.settle(ctx, func() (bool, error) {
		for i := from; i < len(b.Spec.Jobs); i++ {
			j, err := h.findJobIn(b.Namespace, quantumv1alpha1.InlineJobName(b.UID, i))
			if err != nil {
				return false, err
			}
			if j == nil {
				return false, h.jobsRefused(b)
			}
		}
		return true, nil
	})
}

// findJobIn returns the cached job of a namespace and name, nil when absent.
func (h *Handlers) findJobIn(ns, name string) (*quantumv1alpha1.Job, error) {
	obj, ok, err := h.Jobs.GetByKey(ns + "/" + name)
	if err != nil || !ok {
		return nil, err
	}
	return obj.(*quantumv1alpha1.Job), nil
}

// awaitCanceled waits until a canceled batch is settled: none of its jobs is
// PENDING any more and, unless it runs, the batch is terminal. b is refreshed
// in place from the cache.
func (h *Handlers) awaitCanceled(ctx context.Context, b *quantumv1alpha1.Batch) error {
	key := client.ObjectKeyFromObject(b)
	return h.settle(ctx, func() (bool, error) {
		cur := &quantumv1alpha1.Batch{}
		if err := h.Cache.Get(ctx, key, cur); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		*b = *cur
		jobs, err := h.batchJobs(b)
		if err != nil {
			return false, err
		}
		for _, j := range jobs {
			if j.CurrentPhase() == quantumv1alpha1.JobPending {
				return false, nil
			}
		}
		return b.Status.Phase.Terminal() || b.Status.Phase == quantumv1alpha1.BatchRunning, nil
	})
}

// awaitJobSettled waits until a canceled job has left PENDING; j is refreshed
// in place from the cache.
func (h *Handlers) awaitJobSettled(ctx context.Context, j *quantumv1alpha1.Job) error {
	key := types.NamespacedName{Namespace: j.Namespace, Name: j.Name}
	return h.settle(ctx, func() (bool, error) {
		cur, err := h.findJobIn(key.Namespace, key.Name)
		if err != nil || cur == nil {
			return false, err
		}
		*j = *cur.DeepCopy()
		return j.CurrentPhase() != quantumv1alpha1.JobPending, nil
	})
}
