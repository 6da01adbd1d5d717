package batchrunner

import (
	"context"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// jobWriter writes the status of the job a runner runs, at most once per
// interval while it runs: RUNNING (with the attempt, the start time and the
// progress) once the job has run for one interval, then progress when it
// changed, then the outcome. A job that ends within its first interval goes
// from PENDING to its outcome in a single write, which carries the attempt
// and the start time too: on a busy platform of short jobs that is a third
// of the writes.
type jobWriter struct {
	c        client.Client
	interval time.Duration
	attempt  int32
	start    metav1.Time
	// changed is called when the job stopped being PENDING or was canceled
	// under the runner before it was marked RUNNING (the manager canceled
	// it): the runner stops it and writes nothing.
	changed func()

	mu      sync.Mutex
	job     *quantumv1alpha1.Job // the latest version read or written
	running bool                 // RUNNING was written
	percent int
	written int
	done    chan struct{}
	stopped chan struct{}
}

func newJobWriter(c client.Client, job *quantumv1alpha1.Job, interval time.Duration, changed func()) *jobWriter {
	return &jobWriter{
		c: c, interval: interval, attempt: job.Status.Attempts + 1, start: metav1.Now(), changed: changed,
		job: job.DeepCopy(), done: make(chan struct{}), stopped: make(chan struct{}),
	}
}

// set records the progress in percent (the engine's callback).
func (w *jobWriter) set(percent int) {
	w.mu.Lock()
	w.percent = min(max(percent, 0), 100)
	w.mu.Unlock()
}

// run writes RUNNING after the first interval, then progress, until stop.
func (w *jobWriter) run(ctx context.Context) {
	defer close(w.stopped)
	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.done:
			return
		case <-tick.C:
		}
		w.mu.Lock()
		running, percent, written := w.running, w.percent, w.written
		w.mu.Unlock()
		switch {
		case !running:
			w.markRunning(ctx, percent)
		case percent != written:
			w.writeProgress(ctx, percent)
		}
	}
}

// writeProgress writes the progress of the job, checked against the
// resourceVersion last read or written: only while it is still RUNNING in
// this attempt. A conflict (the manager, or a worker route, wrote the job
// meanwhile) reads it again, and the next tick decides on the fresh version,
// so a progress write never lands on a job that ended (DONE stays DONE
// with its own progress) or that another attempt runs.
func (w *jobWriter) writeProgress(ctx context.Context, percent int) {
	cur := w.current()
	if cur.Status.Phase != quantumv1alpha1.JobRunning || cur.Status.Attempts != w.attempt {
		return
	}
	next := cur.DeepCopy()
	next.Status.Progress = int32(percent)
	err := w.c.Status().Patch(ctx, next, client.MergeFromWithOptions(cur, client.MergeFromWithOptimisticLock{}))
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err == nil:
		w.job, w.written = next, percent
	case apierrors.IsConflict(err):
		fresh := &quantumv1alpha1.Job{}
		if w.c.Get(ctx, client.ObjectKeyFromObject(next), fresh) == nil {
			w.job = fresh
		}
	}
}

func (w *jobWriter) current() *quantumv1alpha1.Job {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.job.DeepCopy()
}

// markRunning writes RUNNING on the job if it is still PENDING and not
// canceled; a failed write is tried again at the next tick.
func (w *jobWriter) markRunning(ctx context.Context, percent int) {
	next := w.current()
	if next.CurrentPhase() != quantumv1alpha1.JobPending || next.Spec.Canceled {
		w.changed()
		return
	}
	next.Status.Phase = quantumv1alpha1.JobRunning
	next.Status.Attempts = w.attempt
	next.Status.Progress = int32(percent)
	next.Status.StartTime = &w.start
	next.Status.EndTime = nil
	err := w.c.Status().Update(ctx, next)
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err == nil:
		w.job, w.running, w.written = next, true, percent
	case apierrors.IsConflict(err):
		// Read it again; the next tick decides on the fresh version.
		fresh := &quantumv1alpha1.Job{}
		if w.c.Get(ctx, client.ObjectKeyFromObject(next), fresh) == nil {
			w.job = fresh
		}
	case apierrors.IsNotFound(err):
		w.changed()
	}
}

// stop ends the writer and waits for an in-flight write, so that nothing
// lands after the job's final status.
func (w *jobWriter) stop() {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
	<-w.stopped
}

// finish writes the job's outcome (after stop). A job marked RUNNING is
// finished only if it is still RUNNING in this attempt (the manager may have
// finished it); a job never marked only if it is still PENDING and not
// canceled (the manager cancels pending jobs itself). An API server that
// does not answer is tried again until ctx ends (the Lease may be lost).
func (w *jobWriter) finish(ctx context.Context, set func(*quantumv1alpha1.JobStatusFields)) error {
	cur := w.current()
	first := true
	err := untilAnswered(ctx, func() error {
		return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
			if !first {
				cur = &quantumv1alpha1.Job{}
				if err := w.c.Get(ctx, client.ObjectKeyFromObject(w.job), cur); err != nil {
					return err
				}
			}
			first = false
			if w.running {
				if cur.Status.Phase != quantumv1alpha1.JobRunning || cur.Status.Attempts != w.attempt {
					return nil
				}
			} else {
				if cur.CurrentPhase() != quantumv1alpha1.JobPending || cur.Spec.Canceled {
					return nil
				}
				cur.Status.Attempts = w.attempt
				cur.Status.StartTime = &w.start
			}
			set(&cur.Status)
			now := metav1.Now()
			cur.Status.EndTime = &now
			return w.c.Status().Update(ctx, cur)
		})
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
