// Package controllers holds Tweezer's reconcilers: the Batch reconciler
// (jobs, queue admission, runners, faults, status), the webhook reconciler
// (delivery of terminal batches) and the Device reconciler (device status
// and queue size). The queueing rules live in
// package scheduler, runner start/stop in package executor.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/executor"
	"github.com/tweezer-dev/tweezer/controllers/jobbudget"
	"github.com/tweezer-dev/tweezer/controllers/metrics"
	"github.com/tweezer-dev/tweezer/controllers/scheduler"
	"github.com/tweezer-dev/tweezer/internal/fairqueue"
	"github.com/tweezer-dev/tweezer/internal/runnerspec"
)

// Options tune the Batch reconciler.
type Options struct {
	// Namespace is the manager's namespace: it holds the QPU Leases.
	Namespace string
	// LeaseDuration is how long a runner's Lease lasts without renewal; a
	// dead runner is noticed about this long after its last renewal.
	LeaseDuration time.Duration
	// ResyncInterval is how often a running batch is checked (liveness, time
	// limit) without any event; default half the lease duration.
	ResyncInterval time.Duration
	// QueueResyncInterval is how often a waiting batch looks at the queue
	// without any event (default 30 s); kicks normally start it sooner.
	QueueResyncInterval time.Duration
	// MaxAttempts is how many runner starts a job gets before it is ERROR
	// (default 3).
	MaxAttempts int
	// DefaultTimeLimit applies when neither the batch nor its device sets one;
	// zero means no limit.
	DefaultTimeLimit time.Duration
	// MaxConcurrentReconciles is the number of batch workers (default 4).
	MaxConcurrentReconciles int
	// StatusInterval is the least time between two writes of a running
	// batch's job counters alone (default 500 ms); phases, conditions and
	// times are written at once.
	StatusInterval time.Duration
	// IdleRelease is how long an open batch may hold a QPU with no job to
	// run (none PENDING or RUNNING) before it gives the QPU back and waits
	// in the queue again, until a job is added (default 10 s).
	IdleRelease time.Duration
	// JobBudget paces the Jobs each project's batches create (package
	// jobbudget); zero is the default (5 a second, 20 at once), a
	// PerSecond below zero no limit.
	JobBudget jobbudget.Limits
}

func (o *Options) defaults() {
	if o.LeaseDuration <= 0 {
		o.LeaseDuration = runnerspec.DefaultLeaseDuration
	}
	if o.ResyncInterval <= 0 {
		o.ResyncInterval = o.LeaseDuration / 2
	}
	if o.QueueResyncInterval <= 0 {
		o.QueueResyncInterval = 30 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 3
	}
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = 4
	}
	if o.StatusInterval <= 0 {
		o.StatusInterval = 500 * time.Millisecond
	}
	if o.IdleRelease <= 0 {
		o.IdleRelease = 10 * time.Second
	}
	if o.JobBudget == (jobbudget.Limits{}) {
		o.JobBudget = jobbudget.Limits{PerSecond: jobbudget.DefaultPerSecond, Burst: jobbudget.DefaultBurst}
	}
}

// BatchReconciler turns a Batch into Jobs, queues it, starts its runner,
// watches the runner, and derives the batch's status (see batch_status.go).
type BatchReconciler struct {
	Client    client.Client
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  events.EventRecorder
	Executor  executor.Executor
	Queue     *Queue
	Options   Options
	// Webhooks says that a WebhookReconciler delivers webhooks: terminal
	// batches with a webhook are marked due.
	Webhooks bool
	// Clock tells the time for leases, time limits, idling and status
	// timestamps; nil is the real clock (tests pass a fake one).
	Clock clock.PassiveClock

	statusMu      sync.Mutex
	countsWritten map[client.ObjectKey]time.Time
	jobBudget     *jobbudget.Budget
}

// +kubebuilder:rbac:groups=quantum.tweezer.dev,resources=batches,verbs=get;list;watch
// The manager writes for the platform (inline jobs keep their batch's owner),
// so config/admission's tenancy policies let it through (docs/security.md).
// +kubebuilder:rbac:groups=quantum.tweezer.dev,resources=tenancy,verbs=bypass
// +kubebuilder:rbac:groups=quantum.tweezer.dev,resources=batches/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=quantum.tweezer.dev,resources=jobs,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=quantum.tweezer.dev,resources=jobs/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=quantum.tweezer.dev,resources=devices,verbs=get;list;watch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=resourcequotas,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=create
// +kubebuilder:rbac:groups="",resources=serviceaccounts/token,verbs=create
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=list;create;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterroles,verbs=bind,resourceNames=tweezer-runner
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// now is the reconciler's current time, from Clock.
func (r *BatchReconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

// SetupWithManager registers the reconciler; call SetupIndexes first.
func (r *BatchReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.Options.defaults()
	r.countsWritten = map[client.ObjectKey]time.Time{}
	r.jobBudget = jobbudget.New(r.Options.JobBudget)
	b := ctrl.NewControllerManagedBy(mgr).
		For(&quantumv1alpha1.Batch{}).
		Watches(&quantumv1alpha1.Job{}, handler.EnqueueRequestsFromMapFunc(jobToBatch)).
		// Only a device's spec (UP/DOWN, active, concurrency) matters to its
		// batches, not its status, which changes with every batch.
		Watches(&quantumv1alpha1.Device{}, handler.EnqueueRequestsFromMapFunc(r.deviceToWaitingBatches),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesRawSource(source.Channel(r.Queue.events, &handler.EnqueueRequestForObject{})).
		// A project's quota that frees room wakes the batches waiting for it.
		Watches(&corev1.ResourceQuota{}, handler.EnqueueRequestsFromMapFunc(r.quotaToWaitingBatches),
			builder.WithPredicates(quotaFreed)).
		// Not controller-runtime's priority queue: that one enqueues the
		// objects of the initial list at low priority, so after a manager
		// start the batches submitted while it was down got their Jobs, and
		// with them their place in the device's queue, after every batch
		// submitted later (fairness_e2e_test.go). A queue that takes turns
		// across projects, first come, first served within one: a project
		// that submits or changes many batches at once delays another
		// project's reconcile by one of its own, not by all of them.
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Options.MaxConcurrentReconciles, NewQueue: fairqueue.NewRateLimitingQueue})
	return r.Executor.Watch(b).Named("batch").Complete(r)
}

func jobToBatch(_ context.Context, o client.Object) []ctrl.Request {
	j := o.(*quantumv1alpha1.Job)
	if j.Spec.BatchName == "" {
		return nil
	}
	return []ctrl.Request{{NamespacedName: client.ObjectKey{Namespace: j.Namespace, Name: j.Spec.BatchName}}}
}

// deviceToWaitingBatches re-examines the batches that wait for a device's
// type (they may start, pause or resume) and the ones running on it.
func (r *BatchReconciler) deviceToWaitingBatches(ctx context.Context, o client.Object) []ctrl.Request {
	d := o.(*quantumv1alpha1.Device)
	batches := &quantumv1alpha1.BatchList{}
	if err := r.Client.List(ctx, batches, client.MatchingFields{batchDeviceTypeIndex: string(d.Spec.DeviceType)}); err != nil {
		return nil
	}
	var out []ctrl.Request
	for i := range batches.Items {
		if !batches.Items[i].Status.Phase.Terminal() {
			out = append(out, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&batches.Items[i])})
		}
	}
	return out
}

// batchScope carries one reconciliation: the batch, what was read, and what
// to do once its status is written.
type batchScope struct {
	batch    *quantumv1alpha1.Batch
	orig     *quantumv1alpha1.Batch
	jobs     []quantumv1alpha1.Job
	device   *quantumv1alpha1.Device
	admitted bool
	requeue  time.Duration
	// after runs once the status is written: events and metrics.
	after []func()
}

func (s *batchScope) requeueAfter(d time.Duration) {
	if d > 0 && (s.requeue == 0 || d < s.requeue) {
		s.requeue = d
	}
}

func (s *batchScope) setCondition(t string, st metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&s.batch.Status.Conditions, metav1.Condition{
		Type: t, Status: st, Reason: reason, Message: msg, ObservedGeneration: s.batch.Generation,
	})
}

// Reconcile runs the phases of a batch and writes its status once.
func (r *BatchReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	b := &quantumv1alpha1.Batch{}
	if err := r.Client.Get(ctx, req.NamespacedName, b); err != nil {
		if apierrors.IsNotFound(err) {
			if err := r.Executor.Cleanup(ctx, req.Namespace, req.Name); err != nil {
				return ctrl.Result{}, err
			}
			r.Queue.Forget(req.NamespacedName)
			r.jobBudget.Cancel(r.now(), req.String())
			r.statusMu.Lock()
			delete(r.countsWritten, req.NamespacedName)
			r.statusMu.Unlock()
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if b.DeletionTimestamp != nil {
		// Owner references remove jobs, results and pods; the runner stops
		// when it sees the batch go. What the executor made elsewhere (QPU
		// Lease access) goes now.
		return ctrl.Result{}, r.Executor.Cleanup(ctx, b.Namespace, b.Name)
	}
	s := &batchScope{batch: b, orig: b.DeepCopy()}
	defer func() {
		if err := r.patchStatus(ctx, s); err != nil {
			if s.admitted {
				r.Queue.Forget(req.NamespacedName)
			}
			if apierrors.IsConflict(err) {
				res = ctrl.Result{Requeue: true}
				return
			}
			retErr = kerrors.NewAggregate([]error{retErr, err})
			return
		}
		for _, f := range s.after {
			f()
		}
		if retErr == nil && s.requeue > 0 {
			res.RequeueAfter = s.requeue
		}
	}()

	if b.Status.Phase.Terminal() {
		return ctrl.Result{}, r.reconcileTerminal(ctx, s)
	}
	phases := []func(context.Context, *batchScope) error{
		r.reconcileJobs,
		r.reconcileQueue,
		r.reconcileRunner,
		r.reconcileStatus,
	}
	for _, phase := range phases {
		if err := phase(ctx, s); err != nil {
			if !errors.Is(err, errProjectWait) {
				return ctrl.Result{}, err
			}
			// The project's quota or job budget stopped this phase (tried
			// again after s.requeue); the status still says where the batch
			// is.
			if err := r.reconcileStatus(ctx, s); err != nil {
				return ctrl.Result{}, err
			}
			break
		}
		if s.batch.Status.Phase.Terminal() {
			break
		}
	}
	if s.batch.Status.Phase.Terminal() {
		return ctrl.Result{}, r.reconcileTerminal(ctx, s)
	}
	return ctrl.Result{}, nil
}

// patchStatus writes the status when it changed, with optimistic locking so
// that a stale cache read never overwrites a newer status.
//
// Job counters of a running batch change with every job transition: when
// they are all that changed, they are written at most once per
// StatusInterval (a later reconciliation writes the latest counts).
func (r *BatchReconciler) patchStatus(ctx context.Context, s *batchScope) error {
	if equality.Semantic.DeepEqual(s.orig.Status, s.batch.Status) {
		return nil
	}
	key := client.ObjectKeyFromObject(s.batch)
	if countsOnly(&s.orig.Status, &s.batch.Status) {
		if wait := r.countsWait(key); wait > 0 {
			s.requeueAfter(wait)
			return nil
		}
	}
	s.batch.Status.ObservedGeneration = s.batch.Generation
	// A PUT of the status subresource, not a merge patch: kube-apiserver
	// keeps the stored spec and takes only the status (so the cached copy,
	// whose sequences are dropped, is safe to send), the resourceVersion
	// makes it optimistic, and it spares kube-apiserver encoding the stored
	// Batch, up to a megabyte of sequences, to apply a patch to it.
	if err := r.Client.Status().Update(ctx, s.batch); err != nil {
		return err
	}
	r.statusMu.Lock()
	if s.batch.Status.Phase.Terminal() {
		delete(r.countsWritten, key)
	} else {
		r.countsWritten[key] = r.now()
	}
	r.statusMu.Unlock()
	return nil
}

// countsOnly reports whether two statuses differ in their job counters only.
func countsOnly(a, b *quantumv1alpha1.BatchStatusFields) bool {
	x, y := a.DeepCopy(), b.DeepCopy()
	x.JobsCount, x.JobsCountPerStatus = 0, nil
	y.JobsCount, y.JobsCountPerStatus = 0, nil
	return equality.Semantic.DeepEqual(x, y)
}

// countsWait is how long a counters-only write of the batch must wait.
func (r *BatchReconciler) countsWait(key client.ObjectKey) time.Duration {
	r.statusMu.Lock()
	defer r.statusMu.Unlock()
	last, ok := r.countsWritten[key]
	if !ok {
		return 0
	}
	return last.Add(r.Options.StatusInterval).Sub(r.now())
}

func (r *BatchReconciler) event(s *batchScope, eventType, reason, note string, args ...any) {
	b := s.batch
	s.after = append(s.after, func() {
		if r.Recorder != nil {
			r.Recorder.Eventf(b, nil, eventType, reason, reason, note, args...)
		}
	})
}

// reconcileStatus counts jobs and derives the phase (batch_status.go).
func (r *BatchReconciler) reconcileStatus(ctx context.Context, s *batchScope) error {
	b := s.batch
	waiting := waitingReason(b)
	phase := derivePhase(b, s.jobs, waiting)
	if phase.Terminal() && phase != b.Status.Phase && addedJobs(b, s.jobs) {
		// Jobs added to an open batch come through a different watch than
		// the batch's close: the cache may show the close before a job
		// added just before it. Ending the batch is final, so it is decided
		// on a fresh list.
		if err := r.readJobs(ctx, s); err != nil {
			return err
		}
		phase = derivePhase(b, s.jobs, waiting)
	}
	counts := jobCounts(s.jobs)
	b.Status.JobsCount = int32(len(s.jobs))
	b.Status.JobsCountPerStatus = counts
	if phase != b.Status.Phase {
		b.Status.Phase = phase
		if phase.Terminal() {
			r.finish(s, phase, "")
		}
	}
	return nil
}

// finish records a terminal transition: end time, event and metrics.
func (r *BatchReconciler) finish(s *batchScope, phase quantumv1alpha1.BatchStatus, why string) {
	b := s.batch
	b.Status.Phase = phase
	now := metav1.NewTime(r.now())
	b.Status.EndTime = &now
	counts := jobCounts(s.jobs)
	b.Status.JobsCount = int32(len(s.jobs))
	b.Status.JobsCountPerStatus = counts
	eventType := corev1.EventTypeNormal
	if phase == quantumv1alpha1.BatchError || phase == quantumv1alpha1.BatchTimedOut {
		eventType = corev1.EventTypeWarning
	}
	msg := fmt.Sprintf("batch is %s: %d done, %d error, %d canceled", phase,
		counts[quantumv1alpha1.JobDone], counts[quantumv1alpha1.JobError], counts[quantumv1alpha1.JobCanceled])
	if why != "" {
		msg += ": " + why
	}
	r.event(s, eventType, "Finished", "%s", msg)
	dt := string(b.Spec.DeviceType)
	started := 0
	for i := range s.jobs {
		if s.jobs[i].Status.StartTime != nil {
			started++
		}
	}
	s.after = append(s.after, func() {
		metrics.BatchesFinished.WithLabelValues(dt, string(phase)).Inc()
		metrics.JobsStarted.WithLabelValues(dt).Add(float64(started))
		for st, n := range counts {
			if st.Terminal() && n > 0 {
				metrics.JobsFinished.WithLabelValues(dt, string(st)).Add(float64(n))
			}
		}
	})
}

// reasonFinished on the Runner condition says the terminal batch's runner
// was stopped and its device freed.
const reasonFinished = "Finished"

// reconcileTerminal stops what still runs for a finished batch, frees its
// device, removes its runners' access to it, and marks its webhook delivery
// due (webhook_delivery.go delivers it, on workers of its own).
func (r *BatchReconciler) reconcileTerminal(ctx context.Context, s *batchScope) error {
	b := s.batch
	// Jobs it booked and never created (canceled while it waited for
	// them) go back to its project.
	r.jobBudget.Cancel(r.now(), client.ObjectKeyFromObject(b).String())
	// Whoever wrote the terminal status (the controller, a runner, or the
	// facade cancelling a pending batch), the batch is Complete.
	if c := meta.FindStatusCondition(b.Status.Conditions, quantumv1alpha1.ConditionComplete); c == nil || c.Status != metav1.ConditionTrue || c.Reason != string(b.Status.Phase) {
		s.setCondition(quantumv1alpha1.ConditionComplete, metav1.ConditionTrue, string(b.Status.Phase), "the batch is "+string(b.Status.Phase))
	}
	c := meta.FindStatusCondition(b.Status.Conditions, quantumv1alpha1.ConditionRunner)
	// A batch that had a runner: it holds a device, or gave an idle QPU back.
	ran := b.Status.DeviceID != "" || c != nil
	if ran && (c == nil || c.Reason != reasonFinished) {
		if b.Status.DeviceID != "" {
			if err := r.stopRunner(ctx, s); err != nil {
				return err
			}
			dt, freed := b.Spec.DeviceType, b.DeepCopy()
			s.after = append(s.after, func() { _ = r.Queue.Kick(context.WithoutCancel(ctx), dt, freed) })
		}
		if err := r.Executor.Cleanup(ctx, b.Namespace, b.Name); err != nil {
			return err
		}
		s.setCondition(quantumv1alpha1.ConditionRunner, metav1.ConditionFalse, reasonFinished, "the batch is "+string(b.Status.Phase))
	}
	if r.Webhooks && b.Spec.Webhook != "" && meta.FindStatusCondition(b.Status.Conditions, quantumv1alpha1.ConditionWebhookDelivered) == nil {
		s.setCondition(quantumv1alpha1.ConditionWebhookDelivered, metav1.ConditionUnknown, reasonWebhookPending, "the delivery is due")
	}
	return nil
}

// waitingReason reads why the batch waits from its Scheduled condition.
func waitingReason(b *quantumv1alpha1.Batch) scheduler.Waiting {
	c := meta.FindStatusCondition(b.Status.Conditions, quantumv1alpha1.ConditionScheduled)
	if c == nil || c.Status == metav1.ConditionTrue {
		return ""
	}
	return scheduler.Waiting(c.Reason)
}
