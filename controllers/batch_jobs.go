package controllers

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/metrics"
)

// reconcileJobs makes the batch's Jobs what its spec says: one Job per inline
// entry (created once, by deterministic name), every Job of the batch owned
// by it, and pending Jobs of a canceled batch (or canceled themselves)
// CANCELED.
func (r *BatchReconciler) reconcileJobs(ctx context.Context, s *batchScope) error {
	b := s.batch
	list := &quantumv1alpha1.JobList{}
	if err := r.Client.List(ctx, list, client.InNamespace(b.Namespace), client.MatchingFields{jobBatchIndex: b.Name}); err != nil {
		return err
	}
	s.jobs = list.Items
	if err := r.createInlineJobs(ctx, s); err != nil {
		return err
	}
	errs := parallel(len(s.jobs), func(i int) error {
		j := &s.jobs[i]
		if err := r.adopt(ctx, b, j); err != nil {
			return err
		}
		return r.settlePending(ctx, b, j)
	})
	if len(errs) > 0 {
		return fmt.Errorf("reconciling the jobs of batch %s: %v", b.Name, errs)
	}
	return nil
}

// createInlineJobs creates the Jobs of spec.jobs that do not exist. It is
// the only creator of a batch's Jobs: the REST facade writes spec.jobs (a
// batch's jobs at creation, and the jobs added to an open batch, appended),
// and the controller numbers each Job by its entry's position, so creation
// orders are unique and gapless however many facade replicas append. Jobs
// are named by position too (InlineJobName), so creating one again is a no-op.
// The JobsCreated condition remembers the spec generation it checked.
func (r *BatchReconciler) createInlineJobs(ctx context.Context, s *batchScope) error {
	b := s.batch
	if c := meta.FindStatusCondition(b.Status.Conditions, quantumv1alpha1.ConditionJobsCreated); c != nil &&
		c.Status == metav1.ConditionTrue && c.ObservedGeneration == b.Generation {
		return nil
	}
	have := map[string]bool{}
	for i := range s.jobs {
		have[s.jobs[i].Name] = true
	}
	var missing []int
	for i := range b.Spec.Jobs {
		if !have[quantumv1alpha1.InlineJobName(b.UID, i)] {
			missing = append(missing, i)
		}
	}
	// The cache holds no sequences (CacheOptions): the Jobs to create get
	// theirs from the batch as the API server has it.
	var full *quantumv1alpha1.Batch
	made := make([]*quantumv1alpha1.Job, len(missing))
	if len(missing) > 0 {
		// The project's job budget (package jobbudget) paces what its
		// batches fan out into, whoever created them, first come, first
		// served; the jobs it gave and that were not created go back. Jobs
		// the facade charged to its write budget pass.
		charged, _ := strconv.Atoi(b.Annotations[quantumv1alpha1.JobsChargedAnnotation])
		unpaid := func() (n int) {
			for k, i := range missing {
				if i >= charged && made[k] == nil {
					n++
				}
			}
			return n
		}
		if n := unpaid(); n > 0 {
			if wait := r.jobBudget.Book(r.now(), b.Namespace, client.ObjectKeyFromObject(b).String(), n); wait > 0 {
				return r.jobsPaced(s, n, wait)
			}
			defer func() { r.jobBudget.Return(r.now(), b.Namespace, unpaid()) }()
		}
		full = &quantumv1alpha1.Batch{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(b), full); err != nil {
			return client.IgnoreNotFound(err)
		}
		if full.UID != b.UID || len(full.Spec.Jobs) < len(b.Spec.Jobs) {
			return nil // the cache is ahead of the read: the next event comes back
		}
	}
	// Once the project's quota refuses one Job it refuses the rest: they
	// are not sent.
	var refused atomic.Pointer[error]
	errs := parallel(len(missing), func(k int) error {
		if e := refused.Load(); e != nil {
			return *e
		}
		i := missing[k]
		ij := full.Spec.Jobs[i]
		j := &quantumv1alpha1.Job{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: b.Namespace, Name: quantumv1alpha1.InlineJobName(b.UID, i),
				Labels: map[string]string{quantumv1alpha1.BatchLabel: b.Name},
			},
			Spec: quantumv1alpha1.JobSpec{
				BatchName: b.Name, Runs: ij.Runs, Variables: ij.Variables.DeepCopy(), Sequence: ij.Sequence,
				CreationOrder: int32(i + 1), UserID: b.Spec.UserID, ParentID: ij.ParentID,
			},
		}
		if ij.UserID != "" {
			j.Spec.UserID = ij.UserID
		}
		if err := controllerutil.SetControllerReference(b, j, r.Scheme); err != nil {
			return err
		}
		if err := r.Client.Create(ctx, j); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return nil // made by an earlier reconciliation the cache does not show yet
			}
			if IsQuotaRefusal(err) {
				refused.CompareAndSwap(nil, &err)
				return err
			}
			return fmt.Errorf("creating job %d of %d: %w", i+1, len(b.Spec.Jobs), err)
		}
		made[k] = j
		return nil
	})
	created := 0
	for _, j := range made {
		if j != nil {
			created++
			s.jobs = append(s.jobs, *j)
		}
	}
	if e := refused.Load(); e != nil {
		if created > 0 {
			r.event(s, "Normal", "JobsCreated", "created %d of %d inline jobs", created, len(b.Spec.Jobs))
		}
		return r.quotaRefused(s, quantumv1alpha1.ConditionJobsCreated, "job", jobQuotaMessage(*e, len(b.Spec.Jobs)-len(missing)+created, len(b.Spec.Jobs)))
	}
	if len(errs) > 0 {
		s.setCondition(quantumv1alpha1.ConditionJobsCreated, metav1.ConditionFalse, "CreateFailed", errs[0].Error())
		return errs[0]
	}
	msg := fmt.Sprintf("%d inline jobs exist", len(b.Spec.Jobs))
	s.setCondition(quantumv1alpha1.ConditionJobsCreated, metav1.ConditionTrue, "Created", msg)
	if created > 0 {
		r.event(s, "Normal", "JobsCreated", "created %d of %d inline jobs", created, len(b.Spec.Jobs))
	}
	return nil
}

// jobsPaced records that the project's job budget holds n jobs of the batch
// for wait: the JobsCreated condition, a Normal event and a metric when the
// batch starts waiting, and a look again after wait. The message does not
// carry the wait, so that each look does not write the status again. It
// returns errProjectWait: the batch does not queue before it has its jobs.
func (r *BatchReconciler) jobsPaced(s *batchScope, n int, wait time.Duration) error {
	b := s.batch
	msg := fmt.Sprintf("%d of %d inline jobs wait for the project's job budget: project %s creates %s", n, len(b.Spec.Jobs), b.Namespace, r.jobBudget.Limits())
	if _, started := r.held(s, quantumv1alpha1.ConditionJobsCreated, quantumv1alpha1.ReasonJobBudget, corev1.EventTypeNormal, msg); started {
		s.after = append(s.after, metrics.JobBudgetWaits.Inc)
	}
	s.requeueAfter(wait)
	return errProjectWait
}

// adopt makes the batch the controller owner of a Job that names it (a Job
// created with kubectl, without an owner reference).
func (r *BatchReconciler) adopt(ctx context.Context, b *quantumv1alpha1.Batch, j *quantumv1alpha1.Job) error {
	if metav1.GetControllerOf(j) != nil && j.Labels[quantumv1alpha1.BatchLabel] == b.Name {
		return nil
	}
	if c := metav1.GetControllerOf(j); c != nil && c.UID != b.UID {
		return nil // another controller owns it; leave it
	}
	orig := j.DeepCopy()
	if metav1.GetControllerOf(j) == nil {
		if err := controllerutil.SetControllerReference(b, j, r.Scheme); err != nil {
			return err
		}
	}
	if j.Labels == nil {
		j.Labels = map[string]string{}
	}
	j.Labels[quantumv1alpha1.BatchLabel] = b.Name
	return client.IgnoreNotFound(r.Client.Patch(ctx, j, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})))
}

// settlePending sets a pending Job CANCELED when it or its batch is
// canceled. It never touches a RUNNING job: the runner owns it. A new Job
// needs no write to be PENDING: the CRD defaults its phase.
func (r *BatchReconciler) settlePending(ctx context.Context, b *quantumv1alpha1.Batch, j *quantumv1alpha1.Job) error {
	if j.CurrentPhase() != quantumv1alpha1.JobPending || !(b.Spec.Canceled || j.Spec.Canceled) {
		return nil
	}
	if j.ResourceVersion == "" {
		return nil // just created: the next reconciliation sees it
	}
	next := j.DeepCopy()
	now := metav1.NewTime(r.now())
	next.Status.Phase = quantumv1alpha1.JobCanceled
	next.Status.EndTime = &now
	if err := r.Client.Status().Update(ctx, next); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return nil // a newer version brings us back
		}
		return err
	}
	*j = *next
	return nil
}

// parallel runs f for 0..n-1 on a few goroutines and returns the errors.
func parallel(n int, f func(i int) error) []error {
	const workers = 8
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	next := make(chan int)
	for w := 0; w < min(workers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return errs
}
