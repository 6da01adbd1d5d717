// Package workload holds the Workload reconciler: it picks the runner image
// of a workload's (workload_type, backend) pair from the cluster's image
// mapping, starts the runner through the same executor as batches, and makes
// sure every workload ends: DONE or ERROR from the runner, CANCELED on
// request, ERROR at once when no image is mapped or when the runner ends
// without recording an outcome, ERROR when it runs past its time limit.
//
// Workloads are admitted per project: at most MaxPerProject run at once, in
// creation order; the others wait PENDING with the Scheduled condition False
// (reason ProjectConcurrencyLimit) saying why, and start when one ends.
//
// A workload whose config is kept in a ConfigMap (spec.configFrom) starts
// once that ConfigMap is there and is its own.
package workload

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/executor"
	"github.com/tweezer-dev/tweezer/internal/runnerspec"
	"github.com/tweezer-dev/tweezer/internal/sequences"
)

// ImagesConfigMap is the ConfigMap, in the manager's namespace, that maps a
// (workload_type, backend) pair to its runner image: key ImageKey(type,
// backend), value the image. A pair without a key cannot run.
const ImagesConfigMap = "tweezer-workload-images"

// ImageKey is the ImagesConfigMap key of a pair, e.g. "qadence_circuit.pulser_basic".
func ImageKey(t quantumv1alpha1.WorkloadType, b quantumv1alpha1.BackendName) string {
	return string(t) + "." + string(b)
}

// Condition types and reasons of a Workload.
const (
	// ConditionScheduled is true once the workload's runner was started; false
	// with reason NoRunnerImage when its pair has no image.
	ConditionScheduled = quantumv1alpha1.ConditionScheduled
	// ConditionRunner is true while the runner works, false once it ended or was stopped.
	ConditionRunner = quantumv1alpha1.ConditionRunner

	ReasonNoRunnerImage = "NoRunnerImage"
	ReasonStarted       = "RunnerStarted"
	ReasonCanceled      = "Canceled"
	ReasonFinished      = "Finished"
	ReasonRunnerEnded   = "RunnerEndedWithoutOutcome"
	// ReasonConcurrencyLimit: the workload waits for one of its project's to end.
	ReasonConcurrencyLimit = "ProjectConcurrencyLimit"
	// ReasonTimedOut: the workload ran past its time limit and was stopped (ERROR).
	ReasonTimedOut = "TimedOut"
	// ReasonBadTimeLimit: the TimeLimitAnnotation is not a duration (ERROR).
	ReasonBadTimeLimit = "InvalidTimeLimit"
	// ReasonConfigMissing: the ConfigMap spec.configFrom names is not the
	// workload's own, or did not appear within ConfigWait (ERROR).
	ReasonConfigMissing = "ConfigMissing"
)

// TimeLimitAnnotation on a Workload asks for a shorter time limit than the
// manager's (a Go duration, e.g. "10m"); it never lengthens it.
const TimeLimitAnnotation = "quantum.tweezer.dev/time-limit"

// Defaults of the admission and time limit.
const (
	DefaultMaxPerProject = 4
	DefaultTimeLimit     = time.Hour
)

// Reconciler runs Workloads.
type Reconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads the image mapping and confirms a workload's status
	// when its runner has ended.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Executor  executor.Executor
	// Namespace is the manager's namespace, which holds ImagesConfigMap.
	Namespace string
	// MaxPerProject is how many workloads of a project run at once; the
	// others wait PENDING. Zero or less means no cap.
	MaxPerProject int
	// TimeLimit is how long a workload may run, from its runner's start,
	// before it is stopped and ends in ERROR. Zero or less means none.
	TimeLimit time.Duration
	// ConfigWait is how long after its creation a workload waits for the
	// ConfigMap its spec.configFrom names (the facade writes it right after
	// the workload) before it ends in ERROR; zero means DefaultConfigWait.
	ConfigWait time.Duration
}

// DefaultConfigWait is the default of Reconciler.ConfigWait.
const DefaultConfigWait = time.Minute

// +kubebuilder:rbac:groups=quantum.tweezer.dev,resources=workloads,verbs=get;list;watch
// +kubebuilder:rbac:groups=quantum.tweezer.dev,resources=workloads/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=create
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=rolebindings,verbs=create
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterroles,verbs=bind,resourceNames=tweezer-runner
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager registers the reconciler. Give it its own Executor
// instance: a Process executor's exit notifications go to one controller.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr).For(&quantumv1alpha1.Workload{}).
		// A workload that ends frees a slot of its project: its waiting
		// workloads look again.
		Watches(&quantumv1alpha1.Workload{}, handler.EnqueueRequestsFromMapFunc(r.waitersOf))
	return r.Executor.Watch(b).Named("workload").Complete(r)
}

// waitersOf returns the waiting workloads of an ended workload's project.
func (r *Reconciler) waitersOf(ctx context.Context, o client.Object) []ctrl.Request {
	wl := o.(*quantumv1alpha1.Workload)
	if !wl.Status.Phase.Terminal() || r.MaxPerProject <= 0 {
		return nil
	}
	list := &quantumv1alpha1.WorkloadList{}
	if err := r.Client.List(ctx, list, client.InNamespace(wl.Namespace)); err != nil {
		return nil
	}
	var out []ctrl.Request
	for i := range list.Items {
		if w := &list.Items[i]; waiting(w) {
			out = append(out, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(w)})
		}
	}
	return out
}

// started reports whether the workload's runner was started.
func started(wl *quantumv1alpha1.Workload) bool {
	c := meta.FindStatusCondition(wl.Status.Conditions, ConditionScheduled)
	return c != nil && c.Status == metav1.ConditionTrue
}

// waiting reports whether the workload waits to be admitted.
func waiting(wl *quantumv1alpha1.Workload) bool {
	return !wl.Status.Phase.Terminal() && !wl.Spec.Canceled && wl.DeletionTimestamp == nil && !started(wl)
}

func runnerOf(wl *quantumv1alpha1.Workload, image string) executor.Runner {
	return executor.Runner{
		Spec:     runnerspec.Spec{Kind: runnerspec.Workload, Namespace: wl.Namespace, Name: wl.Name, RunnerID: wl.Name + "-runner-1"},
		OwnerUID: wl.UID, Generation: 1, Image: image,
	}
}

// Reconcile moves one workload along: admit, start, watch, cancel, fail.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	wl := &quantumv1alpha1.Workload{}
	if err := r.Client.Get(ctx, req.NamespacedName, wl); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if wl.DeletionTimestamp != nil {
		return ctrl.Result{}, nil
	}
	switch {
	case wl.Status.Phase.Terminal():
		return ctrl.Result{}, r.finished(ctx, wl)
	case wl.Spec.Canceled:
		return ctrl.Result{}, r.cancel(ctx, wl)
	case !started(wl):
		return r.start(ctx, wl)
	}
	return r.watch(ctx, wl)
}

// admission tells whether the project has room for the workload: fewer
// than MaxPerProject of its workloads started and unfinished, counting the
// ones that wait before it (creation order). Else it says why it waits.
func (r *Reconciler) admission(ctx context.Context, wl *quantumv1alpha1.Workload) (string, error) {
	if r.MaxPerProject <= 0 {
		return "", nil
	}
	list := &quantumv1alpha1.WorkloadList{}
	if err := r.Client.List(ctx, list, client.InNamespace(wl.Namespace)); err != nil {
		return "", err
	}
	running, before := 0, 0
	for i := range list.Items {
		w := &list.Items[i]
		switch {
		case w.UID == wl.UID || w.Status.Phase.Terminal():
		case started(w):
			running++
		case waiting(w) && olderThan(w, wl):
			before++
		}
	}
	if running+before < r.MaxPerProject {
		return "", nil
	}
	msg := fmt.Sprintf("waiting for a slot: project %s runs %d workloads, at most %d at a time", wl.Namespace, running, r.MaxPerProject)
	if before > 0 {
		msg += fmt.Sprintf(", and %d created earlier wait before this one", before)
	}
	return msg, nil
}

// olderThan orders workloads by creation, then name.
func olderThan(a, b *quantumv1alpha1.Workload) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// timeLimit is the workload's time limit: the manager's, or the shorter
// one its TimeLimitAnnotation asks for; zero means none.
func (r *Reconciler) timeLimit(wl *quantumv1alpha1.Workload) (time.Duration, error) {
	limit := r.TimeLimit
	v, ok := wl.Annotations[TimeLimitAnnotation]
	if !ok {
		return max(limit, 0), nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("annotation %s: %q is not a positive duration (e.g. 10m)", TimeLimitAnnotation, v)
	}
	if limit <= 0 || d < limit {
		limit = d
	}
	return limit, nil
}

// config checks that the ConfigMap spec.configFrom names, if any, is there
// for the runner to read: the workload's own. While it is not there yet
// and the workload is younger than ConfigWait, it says when to look again;
// after that, or when the ConfigMap is not the workload's own, it says why
// the workload cannot run. It reads the ConfigMap's metadata only.
func (r *Reconciler) config(ctx context.Context, wl *quantumv1alpha1.Workload) (time.Duration, string, error) {
	if wl.Spec.ConfigFrom == "" {
		return 0, "", nil
	}
	cm := &metav1.PartialObjectMetadata{}
	cm.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMap"))
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: wl.Namespace, Name: wl.Spec.ConfigFrom}, cm)
	switch {
	case apierrors.IsNotFound(err):
		wait := cmp.Or(r.ConfigWait, DefaultConfigWait)
		if left := wait - time.Since(wl.CreationTimestamp.Time); left > 0 {
			return min(left, time.Second), "", nil
		}
		return 0, fmt.Sprintf("spec.configFrom: ConfigMap %s does not exist (waited %s after the workload's creation)", wl.Spec.ConfigFrom, wait), nil
	case err != nil:
		return 0, "", err
	case !sequences.Owns(wl, cm):
		return 0, fmt.Sprintf("spec.configFrom: ConfigMap %s is not owned by the workload", wl.Spec.ConfigFrom), nil
	}
	return 0, "", nil
}

// image returns the runner image of the workload's pair, or a reason why there is none.
func (r *Reconciler) image(ctx context.Context, wl *quantumv1alpha1.Workload) (string, string, error) {
	key := ImageKey(wl.Spec.WorkloadType, wl.Spec.Backend)
	cm := &corev1.ConfigMap{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: ImagesConfigMap}, cm)
	if apierrors.IsNotFound(err) {
		return "", fmt.Sprintf("no runner image for workload_type %s with backend %s: ConfigMap %s/%s, which maps %q to an image, does not exist",
			wl.Spec.WorkloadType, wl.Spec.Backend, r.Namespace, ImagesConfigMap, key), nil
	}
	if err != nil {
		return "", "", err
	}
	image := strings.TrimSpace(cm.Data[key])
	if image == "" {
		return "", fmt.Sprintf("no runner image for workload_type %s with backend %s: ConfigMap %s/%s has no key %q",
			wl.Spec.WorkloadType, wl.Spec.Backend, r.Namespace, ImagesConfigMap, key), nil
	}
	return image, "", nil
}

func (r *Reconciler) start(ctx context.Context, cached *quantumv1alpha1.Workload) (ctrl.Result, error) {
	// A stale cache must not start a runner twice (the first may be gone by
	// now). The read is a fresh object, with a config the cache may have
	// dropped, and only its status is written.
	wl := &quantumv1alpha1.Workload{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(cached), wl); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !waiting(wl) {
		return ctrl.Result{}, nil // the event of that write reconciles again
	}
	if _, err := r.timeLimit(wl); err != nil {
		return ctrl.Result{}, r.fail(ctx, wl, ConditionScheduled, ReasonBadTimeLimit, err.Error())
	}
	image, missing, err := r.image(ctx, wl)
	if err != nil {
		return ctrl.Result{}, err
	}
	if missing != "" {
		r.Recorder.Eventf(wl, nil, corev1.EventTypeWarning, ReasonNoRunnerImage, "Schedule", "%s", missing)
		return ctrl.Result{}, r.fail(ctx, wl, ConditionScheduled, ReasonNoRunnerImage, missing)
	}
	why, err := r.admission(ctx, wl)
	if err != nil {
		return ctrl.Result{}, err
	}
	if why != "" {
		// A workload that ends brings this one back (waitersOf); the
		// requeue is a safety net.
		return ctrl.Result{RequeueAfter: 30 * time.Second}, r.wait(ctx, wl, why)
	}
	// Its ConfigMap last: a workload that waits for a slot does not look for it.
	retry, missing, err := r.config(ctx, wl)
	switch {
	case err != nil:
		return ctrl.Result{}, err
	case missing != "":
		r.Recorder.Eventf(wl, nil, corev1.EventTypeWarning, ReasonConfigMissing, "Schedule", "%s", missing)
		return ctrl.Result{}, r.fail(ctx, wl, ConditionScheduled, ReasonConfigMissing, missing)
	case retry > 0:
		return ctrl.Result{RequeueAfter: retry}, nil
	}
	if err := r.Executor.Start(ctx, runnerOf(wl, image)); err != nil {
		return ctrl.Result{}, err
	}
	r.Recorder.Eventf(wl, nil, corev1.EventTypeNormal, ReasonStarted, "Schedule", "started runner %s from image %s", executor.Name(runnerOf(wl, image)), image)
	if wl.Status.Phase == "" {
		wl.Status.Phase = quantumv1alpha1.WorkloadPending
	}
	msg := fmt.Sprintf("runner %s from image %s", executor.Name(runnerOf(wl, image)), image)
	meta.SetStatusCondition(&wl.Status.Conditions, metav1.Condition{Type: ConditionScheduled, Status: metav1.ConditionTrue, Reason: ReasonStarted, Message: msg, ObservedGeneration: wl.Generation})
	meta.SetStatusCondition(&wl.Status.Conditions, metav1.Condition{Type: ConditionRunner, Status: metav1.ConditionTrue, Reason: ReasonStarted, Message: msg, ObservedGeneration: wl.Generation})
	if err := r.Client.Status().Update(ctx, wl); err != nil {
		return ctrl.Result{}, err
	}
	// The next admission counts this start: wait until the cache shows it.
	r.awaitCache(ctx, wl)
	return ctrl.Result{}, nil
}

// wait records why the workload waits: PENDING, Scheduled False.
func (r *Reconciler) wait(ctx context.Context, wl *quantumv1alpha1.Workload, why string) error {
	c := meta.FindStatusCondition(wl.Status.Conditions, ConditionScheduled)
	if wl.Status.Phase == quantumv1alpha1.WorkloadPending && c != nil && c.Reason == ReasonConcurrencyLimit && c.Message == why {
		return nil
	}
	wl.Status.Phase = quantumv1alpha1.WorkloadPending
	meta.SetStatusCondition(&wl.Status.Conditions, metav1.Condition{Type: ConditionScheduled, Status: metav1.ConditionFalse, Reason: ReasonConcurrencyLimit, Message: why, ObservedGeneration: wl.Generation})
	if err := r.Client.Status().Update(ctx, wl); err != nil {
		return client.IgnoreNotFound(err)
	}
	r.Recorder.Eventf(wl, nil, corev1.EventTypeNormal, ReasonConcurrencyLimit, "Schedule", "%s", why)
	return nil
}

// awaitCache waits (up to 5 s) until the cache holds wl as written.
func (r *Reconciler) awaitCache(ctx context.Context, wl *quantumv1alpha1.Workload) {
	want, err := strconv.ParseUint(wl.ResourceVersion, 10, 64)
	if err != nil {
		return
	}
	_ = wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
		cur := &quantumv1alpha1.Workload{}
		if err := r.Client.Get(ctx, client.ObjectKeyFromObject(wl), cur); err != nil {
			return apierrors.IsNotFound(err), nil
		}
		got, err := strconv.ParseUint(cur.ResourceVersion, 10, 64)
		return err == nil && got >= want, nil
	})
}

// watch notices a runner that ended without recording DONE or ERROR, and
// stops one that runs past the time limit.
func (r *Reconciler) watch(ctx context.Context, wl *quantumv1alpha1.Workload) (ctrl.Result, error) {
	run := runnerOf(wl, "")
	if limit, err := r.timeLimit(wl); err == nil && limit > 0 {
		since := meta.FindStatusCondition(wl.Status.Conditions, ConditionScheduled).LastTransitionTime.Time
		if left := time.Until(since.Add(limit)); left > 0 {
			res, err := r.observe(ctx, wl, run)
			if res.RequeueAfter == 0 || left < res.RequeueAfter {
				res.RequeueAfter = left
			}
			return res, err
		}
		return ctrl.Result{}, r.timeOut(ctx, wl, run, limit)
	}
	return r.observe(ctx, wl, run)
}

// observe is watch without the time limit.
func (r *Reconciler) observe(ctx context.Context, wl *quantumv1alpha1.Workload, run executor.Runner) (ctrl.Result, error) {
	obs, err := r.Executor.Observe(ctx, run)
	if err != nil {
		return ctrl.Result{}, err
	}
	if obs.Phase == executor.Unknown {
		// A local runner process of a previous manager: this one cannot see
		// it, so it starts its own.
		image, _, err := r.image(ctx, wl)
		if err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{}, r.Executor.Start(ctx, runnerOf(wl, image))
	}
	if !obs.Ended() {
		return ctrl.Result{}, nil
	}
	// The runner writes its outcome before it exits; the cache may not have it yet.
	fresh := &quantumv1alpha1.Workload{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(wl), fresh); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if fresh.Status.Phase.Terminal() || fresh.Spec.Canceled {
		return ctrl.Result{}, nil // the next event reconciles the fresh object
	}
	msg := "the runner ended without recording an outcome: " + obs.Reason
	r.Recorder.Eventf(fresh, nil, corev1.EventTypeWarning, ReasonRunnerEnded, "Run", "%s", msg)
	return ctrl.Result{}, r.fail(ctx, fresh, ConditionRunner, ReasonRunnerEnded, msg)
}

// timeOut stops a workload that ran past its time limit and ends it in ERROR.
func (r *Reconciler) timeOut(ctx context.Context, wl *quantumv1alpha1.Workload, run executor.Runner, limit time.Duration) error {
	if err := r.Executor.Stop(ctx, run); err != nil {
		return err
	}
	fresh := &quantumv1alpha1.Workload{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(wl), fresh); err != nil {
		return client.IgnoreNotFound(err)
	}
	if fresh.Status.Phase.Terminal() || fresh.Spec.Canceled {
		return nil // it ended meanwhile: the next event reconciles it
	}
	msg := fmt.Sprintf("the workload ran longer than its time limit of %s and was stopped", limit)
	r.Recorder.Eventf(fresh, nil, corev1.EventTypeWarning, ReasonTimedOut, "Run", "%s", msg)
	return r.fail(ctx, fresh, ConditionRunner, ReasonTimedOut, msg)
}

func (r *Reconciler) cancel(ctx context.Context, wl *quantumv1alpha1.Workload) error {
	if err := r.Executor.Stop(ctx, runnerOf(wl, "")); err != nil {
		return err
	}
	now := metav1.Now()
	wl.Status.Phase = quantumv1alpha1.WorkloadCanceled
	wl.Status.EndTime = &now
	meta.SetStatusCondition(&wl.Status.Conditions, metav1.Condition{Type: ConditionRunner, Status: metav1.ConditionFalse, Reason: ReasonCanceled, Message: "the workload was canceled", ObservedGeneration: wl.Generation})
	if err := r.Client.Status().Update(ctx, wl); err != nil {
		return err
	}
	r.Recorder.Eventf(wl, nil, corev1.EventTypeNormal, ReasonCanceled, "Cancel", "workload canceled")
	return nil
}

// finished records that the runner of a finished workload has ended. A
// runner still running is left to exit on its own (it stops when it sees the
// workload finished), so that its pod keeps its logs.
func (r *Reconciler) finished(ctx context.Context, wl *quantumv1alpha1.Workload) error {
	c := meta.FindStatusCondition(wl.Status.Conditions, ConditionRunner)
	if c == nil || c.Status != metav1.ConditionTrue {
		return nil
	}
	obs, err := r.Executor.Observe(ctx, runnerOf(wl, ""))
	if err != nil || (!obs.Ended() && obs.Phase != executor.Unknown) {
		return err
	}
	meta.SetStatusCondition(&wl.Status.Conditions, metav1.Condition{Type: ConditionRunner, Status: metav1.ConditionFalse, Reason: ReasonFinished, Message: "the workload is " + string(wl.Status.Phase), ObservedGeneration: wl.Generation})
	return r.Client.Status().Update(ctx, wl)
}

// fail ends the workload in ERROR with msg, recorded as an error and on condition cond.
func (r *Reconciler) fail(ctx context.Context, wl *quantumv1alpha1.Workload, cond, reason, msg string) error {
	now := metav1.Now()
	wl.Status.Phase = quantumv1alpha1.WorkloadError
	wl.Status.EndTime = &now
	wl.Status.Errors = append(wl.Status.Errors, msg)
	if n := len(wl.Status.Errors); n > 100 {
		wl.Status.Errors = wl.Status.Errors[n-100:]
	}
	meta.SetStatusCondition(&wl.Status.Conditions, metav1.Condition{Type: cond, Status: metav1.ConditionFalse, Reason: reason, Message: msg, ObservedGeneration: wl.Generation})
	if cond != ConditionRunner {
		meta.SetStatusCondition(&wl.Status.Conditions, metav1.Condition{Type: ConditionRunner, Status: metav1.ConditionFalse, Reason: reason, Message: msg, ObservedGeneration: wl.Generation})
	}
	return r.Client.Status().Update(ctx, wl)
}
