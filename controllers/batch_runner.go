package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/executor"
	"github.com/tweezer-dev/tweezer/controllers/metrics"
	"github.com/tweezer-dev/tweezer/controllers/scheduler"
	"github.com/tweezer-dev/tweezer/internal/runnerspec"
)

// runnerState is what the manager knows of a started batch's runner.
type runnerState int

const (
	// runnerNone: no runner was started for the batch yet.
	runnerNone runnerState = iota
	// runnerAlive: the runner renews its Lease and its executor sees it running.
	runnerAlive
	// runnerEnded: the runner exited, was removed, or stopped renewing its Lease.
	runnerEnded
	// runnerLost: the QPU's Lease went to another batch.
	runnerLost
)

type runnerView struct {
	state  runnerState
	lease  *coordinationv1.Lease
	gen    int
	reason string
	// byLease says the runner was judged ended because its Lease, as the
	// cache showed it, had run out (not on the executor's word).
	byLease bool
}

// reconcileRunner keeps a live runner on a started batch: it starts the
// first one, notices a dead one (process exited, pod failed or deleted, Lease
// not renewed), retries or fails the job it was running and starts the next
// runner, and stops the batch at its time limit.
func (r *BatchReconciler) reconcileRunner(ctx context.Context, s *batchScope) error {
	b := s.batch
	if b.Status.DeviceID == "" || b.Status.Phase.Terminal() {
		return nil
	}
	s.requeueAfter(r.Options.ResyncInterval)
	if s.device == nil {
		d := &quantumv1alpha1.Device{}
		if err := r.Client.Get(ctx, client.ObjectKey{Name: b.Status.DeviceID}, d); err != nil {
			if apierrors.IsNotFound(err) {
				return r.failBatch(ctx, s, quantumv1alpha1.BatchError, "device "+b.Status.DeviceID+" was deleted while the batch ran")
			}
			return err
		}
		s.device = d
	}
	if limit := r.timeLimit(b, s.device); limit > 0 && b.Status.StartTime != nil {
		left := b.Status.StartTime.Add(limit).Sub(r.now())
		if left <= 0 {
			s.setCondition(quantumv1alpha1.ConditionTimeLimit, metav1.ConditionTrue, "TimedOut",
				fmt.Sprintf("the batch ran longer than its time limit of %s", limit))
			return r.failBatch(ctx, s, quantumv1alpha1.BatchTimedOut, fmt.Sprintf("batch exceeded its time limit of %s", limit))
		}
		s.requeueAfter(left + 50*time.Millisecond)
	}
	v, err := r.observeRunner(ctx, s)
	if err != nil {
		return err
	}
	if v.state == runnerEnded && !b.Spec.Canceled && derivePhase(b, s.jobs, "").Terminal() {
		// The runner ran out of work: every job is finished even in the
		// cache (finished jobs never change again), so nothing is left to
		// retry or restart and no fresh reads are needed.
		s.setCondition(quantumv1alpha1.ConditionRunner, metav1.ConditionFalse, "Ended", v.reason)
		return nil
	}
	if v.state == runnerNone || v.state == runnerEnded {
		// Starting or replacing a runner must not act on a stale copy of the batch.
		if fresh, err := r.isFresh(ctx, s); err != nil || !fresh {
			return err
		}
	}
	if released, err := r.releaseIfIdle(ctx, s, v); err != nil || released {
		return err
	}
	switch v.state {
	case runnerAlive:
		if !meta.IsStatusConditionTrue(b.Status.Conditions, quantumv1alpha1.ConditionRunner) {
			s.setCondition(quantumv1alpha1.ConditionRunner, metav1.ConditionTrue, "Running", fmt.Sprintf("runner %d is alive", v.gen))
		}
		return nil
	case runnerLost:
		// Another batch holds the QPU: give the device back and queue again.
		b.Status.DeviceID = ""
		r.Queue.Forget(client.ObjectKeyFromObject(b))
		s.setCondition(quantumv1alpha1.ConditionScheduled, metav1.ConditionFalse, string(scheduler.WaitingQueued), v.reason)
		r.event(s, corev1.EventTypeWarning, "DeviceLost", "%s; back to the queue", v.reason)
		return nil
	case runnerNone:
		if b.Spec.Canceled {
			return nil
		}
		if err := r.settleFencedRunners(ctx, s); err != nil {
			return err
		}
		return r.startRunner(ctx, s, v, carriedFailures(b, v.lease))
	default:
		return r.runnerEnded(ctx, s, v)
	}
}

// timeLimit is the batch's own limit, never above its device's (the
// admission policy tweezer-time-limit refuses a larger one with a clear
// message, but it is skipped while kube-apiserver cannot resolve its
// parameters), else the device's, else the manager's default.
func (r *BatchReconciler) timeLimit(b *quantumv1alpha1.Batch, d *quantumv1alpha1.Device) time.Duration {
	device := d != nil && d.Spec.TimeLimit != nil
	switch {
	case b.Spec.TimeLimit != nil && device:
		return min(b.Spec.TimeLimit.Duration, d.Spec.TimeLimit.Duration)
	case b.Spec.TimeLimit != nil:
		return b.Spec.TimeLimit.Duration
	case device:
		return d.Spec.TimeLimit.Duration
	}
	return r.Options.DefaultTimeLimit
}

// observeRunner reads the batch's Lease and asks the executor.
func (r *BatchReconciler) observeRunner(ctx context.Context, s *batchScope) (runnerView, error) {
	b := s.batch
	key := leaseKey(b, s.device, r.Options.Namespace)
	lease := &coordinationv1.Lease{}
	if err := r.Client.Get(ctx, key, lease); err != nil {
		if apierrors.IsNotFound(err) {
			return runnerView{state: runnerNone}, nil
		}
		return runnerView{}, err
	}
	owner, gen, ok := parseHolder(leaseHolder(lease))
	if !ok || owner != client.ObjectKeyFromObject(b) {
		// The cache may not show our own reservation yet: decide on a fresh read.
		if err := r.APIReader.Get(ctx, key, lease); err != nil {
			if apierrors.IsNotFound(err) {
				return runnerView{state: runnerNone}, nil
			}
			return runnerView{}, err
		}
		owner, gen, ok = parseHolder(leaseHolder(lease))
	}
	v := runnerView{lease: lease}
	if !ok || owner != client.ObjectKeyFromObject(b) {
		if scheduler.IsQPU(s.device) && leaseHolder(lease) != "" {
			v.state, v.reason = runnerLost, describeLease(lease)
			return v, nil
		}
		v.state = runnerNone
		return v, nil
	}
	v.gen = gen
	if gen == 0 {
		v.state = runnerNone
		return v, nil
	}
	obs, err := r.Executor.Observe(ctx, r.runnerFor(b, s.device, gen))
	if err != nil {
		return runnerView{}, err
	}
	v.state, v.reason = runnerFate(obs.Ended(), obs.Reason, lease, gen, r.now())
	v.byLease = v.state == runnerEnded && !obs.Ended()
	return v, nil
}

// runnerFate judges the runner of generation gen, which holds lease, at now:
// ended when the executor says so (endReason) or when it stopped renewing
// the lease in time, alive otherwise.
func runnerFate(ended bool, endReason string, lease *coordinationv1.Lease, gen int, now time.Time) (runnerState, string) {
	switch {
	case ended:
		return runnerEnded, endReason
	case leaseExpired(lease, now):
		last := "never"
		if lease.Spec.RenewTime != nil {
			last = lease.Spec.RenewTime.UTC().Format(time.RFC3339Nano)
		}
		return runnerEnded, fmt.Sprintf("runner %d stopped renewing its lease (last renewal %s)", gen, last)
	default:
		return runnerAlive, ""
	}
}

func (r *BatchReconciler) runnerFor(b *quantumv1alpha1.Batch, d *quantumv1alpha1.Device, gen int) executor.Runner {
	key := leaseKey(b, d, r.Options.Namespace)
	spec := runnerspec.Spec{
		Kind: runnerspec.Batch, Namespace: b.Namespace, Name: b.Name,
		RunnerID:       holderID(b.Namespace, b.Name, gen),
		LeaseNamespace: key.Namespace, LeaseName: key.Name,
		LeaseDuration: r.Options.LeaseDuration,
	}
	if d != nil && d.Spec.Gateway != nil && scheduler.IsQPU(d) {
		spec.GatewayURL = d.Spec.Gateway.URL
	}
	return executor.Runner{Spec: spec, OwnerUID: b.UID, Generation: gen, Device: d}
}

// startRunner takes the batch's Lease for a new runner generation and starts it.
func (r *BatchReconciler) startRunner(ctx context.Context, s *batchScope, v runnerView, failures int) error {
	gen, err := r.takeLease(ctx, s, v, failures)
	if err != nil {
		return err
	}
	return r.launch(ctx, s, gen)
}

// takeLease moves the batch's Lease to the next runner generation, as long
// as it still has the holder observed in v; it returns the generation. This
// is the fence: a runner of an older generation stops writing.
func (r *BatchReconciler) takeLease(ctx context.Context, s *batchScope, v runnerView, failures int) (int, error) {
	b, d := s.batch, s.device
	key := leaseKey(b, d, r.Options.Namespace)
	var gen int
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		// No Lease observed: the only way on is creating one (AlreadyExists
		// says the observation was stale). Else it must still have the
		// observed holder.
		create := v.lease == nil
		lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: leaseLabels()}}
		if create {
			if !scheduler.IsQPU(d) {
				if err := controllerutil.SetControllerReference(b, lease, r.Scheme); err != nil {
					return err
				}
			}
		} else {
			if err := r.APIReader.Get(ctx, key, lease); apierrors.IsNotFound(err) {
				return errLeaseMoved
			} else if err != nil {
				return err
			}
		}
		var err error
		if gen, err = takeover(lease, v.lease, client.ObjectKeyFromObject(b), r.Options.LeaseDuration, r.now()); err != nil {
			return err
		}
		setLeaseAnnotation(lease, quantumv1alpha1.RunnerFailuresAnnotation, failures)
		setLeaseAnnotation(lease, quantumv1alpha1.RunnerFinishedJobsAnnotation, finishedJobs(s.jobs))
		if !create {
			return r.Client.Update(ctx, lease)
		}
		err = r.Client.Create(ctx, lease)
		if apierrors.IsAlreadyExists(err) {
			return errLeaseMoved
		}
		return err
	})
	if errors.Is(err, errLeaseMoved) {
		ctrl.LoggerFrom(ctx).Info("lease moved since observed; looking again", "lease", key)
		s.requeueAfter(100 * time.Millisecond)
		return 0, fmt.Errorf("taking lease %s: %w", key, err)
	}
	if err != nil {
		return 0, fmt.Errorf("taking lease %s: %w", key, err)
	}
	ctrl.LoggerFrom(ctx).Info("lease taken", "lease", key, "generation", gen, "failures", failures)
	return gen, nil
}

// launch starts the runner of a generation whose Lease is taken.
func (r *BatchReconciler) launch(ctx context.Context, s *batchScope, gen int) error {
	log := ctrl.LoggerFrom(ctx).WithValues("generation", gen, "device", s.device.Name)
	if err := r.Executor.Start(ctx, r.runnerFor(s.batch, s.device, gen)); err != nil {
		if IsQuotaRefusal(err) {
			if uerr := r.unstart(ctx, s, gen); uerr != nil {
				return uerr
			}
			return r.quotaRefused(s, quantumv1alpha1.ConditionRunner, "runner",
				fmt.Sprintf("%s; runner %d starts as the quota frees", QuotaDetail(err), gen))
		}
		log.Error(err, "runner start failed")
		s.setCondition(quantumv1alpha1.ConditionRunner, metav1.ConditionFalse, "StartFailed", err.Error())
		return err
	}
	log.Info("runner started")
	s.setCondition(quantumv1alpha1.ConditionRunner, metav1.ConditionTrue, "Started", fmt.Sprintf("runner %d started", gen))
	return nil
}

// runnerEnded handles a runner that is no longer running (a runner judged
// ended only by the cache's copy of its Lease is judged again on the API
// server's). When the batch is
// complete (or canceled) nothing more is needed. Otherwise the runner died:
// the next generation takes the Lease first (so that a retry of this step
// after a partial failure counts nothing twice), then the job the dead
// runner was running is retried (back to PENDING) until it has had
// MaxAttempts runner starts, or ERROR with the reason, and the new runner
// starts. A runner that keeps dying before it runs any job fails the batch
// after MaxAttempts starts.
func (r *BatchReconciler) runnerEnded(ctx context.Context, s *batchScope, v runnerView) error {
	b := s.batch
	// The cache may lag behind a runner start of our own: only a Lease still
	// held by the ended runner proves that no newer runner exists.
	fresh := &coordinationv1.Lease{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(v.lease), fresh); err != nil {
		return err
	}
	if leaseHolder(fresh) != holderID(b.Namespace, b.Name, v.gen) {
		s.requeueAfter(100 * time.Millisecond)
		return nil
	}
	if v.byLease && !leaseExpired(fresh, r.now()) {
		// The cache showed an old renewal (it lags under load, and after an
		// API outage): the runner renewed in time and lives. Look again
		// when this renewal runs out, if no newer one comes first.
		s.requeueAfter(fresh.Spec.RenewTime.Add(time.Duration(*fresh.Spec.LeaseDurationSeconds)*time.Second).Sub(r.now()) + 50*time.Millisecond)
		return nil
	}
	v.lease = fresh
	ctrl.LoggerFrom(ctx).Info("runner ended", "generation", v.gen, "reason", v.reason)
	if err := r.Executor.Stop(ctx, r.runnerFor(b, s.device, v.gen)); err != nil {
		return err
	}
	if err := r.readJobs(ctx, s); err != nil {
		return err
	}
	reason := v.reason
	if reason == "" {
		reason = fmt.Sprintf("runner %d ended", v.gen)
	}
	var orphans []*quantumv1alpha1.Job
	for i := range s.jobs {
		if s.jobs[i].Status.Phase == quantumv1alpha1.JobRunning {
			orphans = append(orphans, &s.jobs[i])
		}
	}
	if b.Spec.Canceled || (len(orphans) == 0 && derivePhase(b, s.jobs, "").Terminal()) {
		for _, j := range orphans {
			if err := r.settleOrphan(ctx, s, j, reason); err != nil {
				return err
			}
		}
		s.setCondition(quantumv1alpha1.ConditionRunner, metav1.ConditionFalse, "Ended", reason)
		return nil
	}
	// A runner that dies with a job RUNNING costs that job an attempt. One
	// that dies otherwise (a job done within one progress interval is never
	// marked RUNNING) counts against the batch, unless it finished a job.
	failures := 0
	if len(orphans) == 0 && finishedJobs(s.jobs) <= leaseAnnotation(v.lease, quantumv1alpha1.RunnerFinishedJobsAnnotation) {
		failures = leaseAnnotation(v.lease, quantumv1alpha1.RunnerFailuresAnnotation) + 1
	}
	if failures >= r.Options.MaxAttempts {
		return r.failBatch(ctx, s, quantumv1alpha1.BatchError,
			fmt.Sprintf("the runner failed %d times in a row without finishing a job; last: %s", failures, reason))
	}
	gen, err := r.takeLease(ctx, s, v, failures)
	if err != nil {
		return err
	}
	for _, j := range orphans {
		if err := r.settleOrphan(ctx, s, j, reason); err != nil {
			return err
		}
	}
	r.event(s, corev1.EventTypeWarning, "RunnerDied", "%s; starting a new runner", reason)
	dt := string(b.Spec.DeviceType)
	s.after = append(s.after, func() { metrics.RunnerRestarts.WithLabelValues(dt).Inc() })
	if derivePhase(b, s.jobs, "").Terminal() {
		return nil // the orphan was the last job: nothing left to run
	}
	return r.launch(ctx, s, gen)
}

// reasonIdle on the Scheduled and Runner conditions: an open batch gave its
// QPU back because it had no job to run. It queues again when a job is added.
const reasonIdle = "Idle"

// idleOpen reports whether a batch is open and has nothing to run: no job
// PENDING or RUNNING.
func idleOpen(b *quantumv1alpha1.Batch, jobs []quantumv1alpha1.Job) bool {
	if !b.Spec.Open || b.Spec.Canceled {
		return false
	}
	counts := jobCounts(jobs)
	return counts[quantumv1alpha1.JobPending]+counts[quantumv1alpha1.JobRunning] == 0
}

// releaseIfIdle gives a QPU back when an open batch has had no job to run
// for IdleRelease, counted from the later of its runner's start and its
// last job's end: the runner is fenced and stopped, and the batch waits in
// the queue (PENDING, Scheduled=False reason Idle) until a job is added.
// It reports whether it released the QPU.
func (r *BatchReconciler) releaseIfIdle(ctx context.Context, s *batchScope, v runnerView) (bool, error) {
	b := s.batch
	if v.state != runnerAlive || !scheduler.IsQPU(s.device) || !idleOpen(b, s.jobs) {
		return false, nil
	}
	var since time.Time
	if t := v.lease.Spec.AcquireTime; t != nil {
		since = t.Time
	}
	for i := range s.jobs {
		if t := s.jobs[i].Status.EndTime; t != nil && t.After(since) {
			since = t.Time
		}
	}
	if left := r.Options.IdleRelease - r.now().Sub(since); left > 0 {
		s.requeueAfter(left + 50*time.Millisecond)
		return false, nil
	}
	// Giving the QPU back is decided on fresh reads: a job may just have come.
	if fresh, err := r.isFresh(ctx, s); err != nil || !fresh {
		return true, err
	}
	if err := r.readJobs(ctx, s); err != nil {
		return true, err
	}
	if !idleOpen(b, s.jobs) {
		return false, nil
	}
	if err := r.stopRunner(ctx, s); err != nil {
		return true, err
	}
	// A job added since the read that the fenced runner took goes back to
	// the queue with the batch.
	if err := r.readJobs(ctx, s); err != nil {
		return true, err
	}
	for i := range s.jobs {
		if s.jobs[i].Status.Phase == quantumv1alpha1.JobRunning {
			if err := r.settleOrphan(ctx, s, &s.jobs[i], "the batch gave its QPU back while idle"); err != nil {
				return true, err
			}
		}
	}
	device := b.Status.DeviceID
	b.Status.DeviceID = ""
	r.Queue.Vacate(client.ObjectKeyFromObject(b))
	msg := fmt.Sprintf("the open batch had no job to run for %s and gave QPU %s back; it queues again when a job is added", r.Options.IdleRelease, device)
	s.setCondition(quantumv1alpha1.ConditionScheduled, metav1.ConditionFalse, reasonIdle, msg)
	s.setCondition(quantumv1alpha1.ConditionRunner, metav1.ConditionFalse, reasonIdle, msg)
	r.event(s, corev1.EventTypeNormal, "Idle", "%s", msg)
	dt := b.Spec.DeviceType
	s.after = append(s.after, func() { _ = r.Queue.Kick(context.WithoutCancel(ctx), dt) })
	return true, nil
}

// settleFencedRunners puts back the jobs left RUNNING by an earlier runner
// of a batch that starts on a device again (it gave an idle QPU back, or
// lost the QPU's Lease): that runner was fenced, and a new runner runs
// PENDING jobs only. A batch that never had a runner costs no read.
func (r *BatchReconciler) settleFencedRunners(ctx context.Context, s *batchScope) error {
	if meta.FindStatusCondition(s.batch.Status.Conditions, quantumv1alpha1.ConditionRunner) == nil {
		return nil
	}
	if err := r.readJobs(ctx, s); err != nil {
		return err
	}
	for i := range s.jobs {
		if s.jobs[i].Status.Phase == quantumv1alpha1.JobRunning {
			if err := r.settleOrphan(ctx, s, &s.jobs[i], "its runner was stopped when the batch left the device"); err != nil {
				return err
			}
		}
	}
	return nil
}

// settleOrphan decides the fate of a job left RUNNING by a dead runner:
// CANCELED when it or its batch is canceled, ERROR when it used its
// attempts, else PENDING for the next runner.
func (r *BatchReconciler) settleOrphan(ctx context.Context, s *batchScope, j *quantumv1alpha1.Job, reason string) error {
	b := s.batch
	next := j.DeepCopy()
	now := metav1.NewTime(r.now())
	switch {
	case b.Spec.Canceled || j.Spec.Canceled:
		next.Status.Phase = quantumv1alpha1.JobCanceled
		next.Status.EndTime = &now
	case int(j.Status.Attempts) >= r.Options.MaxAttempts:
		next.Status.Phase = quantumv1alpha1.JobError
		next.Status.EndTime = &now
		next.Status.Errors = append(next.Status.Errors,
			fmt.Sprintf("the runner died while running the job, %d times (the limit): %s", j.Status.Attempts, reason))
		r.event(s, corev1.EventTypeWarning, "JobFailed", "job %s failed after %d attempts: %s", j.Name, j.Status.Attempts, reason)
	default:
		next.Status.Phase = quantumv1alpha1.JobPending
		next.Status.Progress = 0
		next.Status.StartTime = nil
		r.event(s, corev1.EventTypeWarning, "JobRetried", "job %s goes back to the queue after attempt %d: %s", j.Name, j.Status.Attempts, reason)
	}
	if err := r.Client.Status().Update(ctx, next); err != nil {
		return client.IgnoreNotFound(err)
	}
	*j = *next
	return nil
}

// failBatch ends a started batch that cannot go on: it stops the runner,
// finishes its unfinished jobs (CANCELED on a time-out, ERROR otherwise) with
// the reason, and sets the batch's terminal phase.
func (r *BatchReconciler) failBatch(ctx context.Context, s *batchScope, phase quantumv1alpha1.BatchStatus, why string) error {
	if err := r.stopRunner(ctx, s); err != nil {
		return err
	}
	if err := r.readJobs(ctx, s); err != nil {
		return err
	}
	jobPhase := quantumv1alpha1.JobError
	if phase == quantumv1alpha1.BatchTimedOut {
		jobPhase = quantumv1alpha1.JobCanceled
	}
	for i := range s.jobs {
		j := &s.jobs[i]
		if j.Status.Phase.Terminal() {
			continue
		}
		// The list is fresh: read the job again only after a conflict.
		cur, first := j.DeepCopy(), true
		err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
			if !first {
				cur = &quantumv1alpha1.Job{}
				if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(j), cur); err != nil {
					return err
				}
			}
			first = false
			if cur.Status.Phase.Terminal() {
				*j = *cur
				return nil
			}
			now := metav1.NewTime(r.now())
			cur.Status.Phase = jobPhase
			cur.Status.EndTime = &now
			cur.Status.Errors = append(cur.Status.Errors, why)
			if err := r.Client.Status().Update(ctx, cur); err != nil {
				return err
			}
			*j = *cur
			return nil
		})
		if client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	s.setCondition(quantumv1alpha1.ConditionRunner, metav1.ConditionFalse, "Stopped", why)
	r.finish(s, phase, why)
	return nil
}

// stopRunner fences the batch's runner (its Lease loses its holder, so the
// runner stops at its next renewal and a QPU is free) and asks the executor
// to stop it. An emulator batch that is DONE needs no fence: its runner ran
// out of work and stops by itself, its Lease is its own, and the executor's
// stop is the backstop.
func (r *BatchReconciler) stopRunner(ctx context.Context, s *batchScope) error {
	b := s.batch
	if b.Status.DeviceID == "" {
		return nil
	}
	d := s.device
	if d == nil {
		d = &quantumv1alpha1.Device{}
		if err := r.Client.Get(ctx, client.ObjectKey{Name: b.Status.DeviceID}, d); err != nil {
			if !apierrors.IsNotFound(err) {
				return err
			}
			// The device is gone: its QPU lease (if any) expires by itself.
			d.Name, d.Spec.IsEmulator = b.Status.DeviceID, true
		}
	}
	key := leaseKey(b, d, r.Options.Namespace)
	if b.Status.Phase == quantumv1alpha1.BatchDone && !scheduler.IsQPU(d) {
		lease := &coordinationv1.Lease{}
		if err := r.Client.Get(ctx, key, lease); err != nil {
			return client.IgnoreNotFound(err)
		}
		if owner, gen, ok := parseHolder(leaseHolder(lease)); ok && owner == client.ObjectKeyFromObject(b) && gen > 0 {
			return r.Executor.Stop(ctx, r.runnerFor(b, d, gen))
		}
		return nil
	}
	gen := 0
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		lease := &coordinationv1.Lease{}
		if err := r.APIReader.Get(ctx, key, lease); err != nil {
			return client.IgnoreNotFound(err)
		}
		owner, g, ok := parseHolder(leaseHolder(lease))
		if !ok || owner != client.ObjectKeyFromObject(b) {
			return nil
		}
		gen = g
		lease.Spec.HolderIdentity = nil
		return r.Client.Update(ctx, lease)
	})
	if err != nil {
		return fmt.Errorf("releasing lease %s: %w", key, err)
	}
	if gen > 0 {
		ctrl.LoggerFrom(ctx).Info("lease released; stopping the runner", "lease", key, "generation", gen, "phase", b.Status.Phase)
		return r.Executor.Stop(ctx, r.runnerFor(b, d, gen))
	}
	return nil
}

// readJobs replaces the batch's jobs from the cache with a fresh list from
// the API server, for decisions that must not rest on a lagging cache.
func (r *BatchReconciler) readJobs(ctx context.Context, s *batchScope) error {
	fresh := &quantumv1alpha1.JobList{}
	if err := r.APIReader.List(ctx, fresh, client.InNamespace(s.batch.Namespace),
		client.MatchingLabels{quantumv1alpha1.BatchLabel: s.batch.Name}); err != nil {
		return err
	}
	s.jobs = fresh.Items
	return nil
}

// isFresh reports whether the batch read from the cache is the latest
// version; when it is not, it asks to look again soon. Side effects (runner
// starts, QPU reservations) are taken on fresh batches only. It reads the
// batch's metadata only: a Batch may hold a megabyte of sequences, which
// this read has no use for.
func (r *BatchReconciler) isFresh(ctx context.Context, s *batchScope) (bool, error) {
	cur := &metav1.PartialObjectMetadata{}
	cur.SetGroupVersionKind(quantumv1alpha1.GroupVersion.WithKind("Batch"))
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(s.orig), cur); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	if cur.ResourceVersion != s.orig.ResourceVersion {
		s.requeueAfter(50 * time.Millisecond)
		return false, nil
	}
	return true, nil
}
