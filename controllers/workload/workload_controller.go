// Package workload holds the Workload reconciler: it picks the runner image
// of a workload's (workload_type, backend) pair from the cluster's image
// mapping, starts the runner through the same executor as batches, and makes
// sure every workload ends: DONE or ERROR from the runner, CANCELED on
// request, ERROR at once when no image is mapped or when the runner ends
// without recording an outcome.
package workload

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/executor"
	"github.com/tweezer-dev/tweezer/internal/runnerspec"
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
}

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
	b := ctrl.NewControllerManagedBy(mgr).For(&quantumv1alpha1.Workload{})
	return r.Executor.Watch(b).Named("workload").Complete(r)
}

func runnerOf(wl *quantumv1alpha1.Workload, image string) executor.Runner {
	return executor.Runner{
		Spec:     runnerspec.Spec{Kind: runnerspec.Workload, Namespace: wl.Namespace, Name: wl.Name, RunnerID: wl.Name + "-runner-1"},
		OwnerUID: wl.UID, Generation: 1, Image: image,
	}
}

// Reconcile moves one workload along: start, watch, cancel, fail.
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
	case meta.FindStatusCondition(wl.Status.Conditions, ConditionScheduled) == nil:
		return ctrl.Result{}, r.start(ctx, wl)
	}
	return ctrl.Result{}, r.watch(ctx, wl)
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

func (r *Reconciler) start(ctx context.Context, wl *quantumv1alpha1.Workload) error {
	// A stale cache must not start a runner twice (the first may be gone by now).
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(wl), wl); err != nil {
		return client.IgnoreNotFound(err)
	}
	if meta.FindStatusCondition(wl.Status.Conditions, ConditionScheduled) != nil || wl.Status.Phase.Terminal() || wl.Spec.Canceled {
		return nil // the event of that write reconciles again
	}
	image, missing, err := r.image(ctx, wl)
	if err != nil {
		return err
	}
	if missing != "" {
		r.Recorder.Eventf(wl, nil, corev1.EventTypeWarning, ReasonNoRunnerImage, "Schedule", "%s", missing)
		return r.fail(ctx, wl, ConditionScheduled, ReasonNoRunnerImage, missing)
	}
	if err := r.Executor.Start(ctx, runnerOf(wl, image)); err != nil {
		return err
	}
	r.Recorder.Eventf(wl, nil, corev1.EventTypeNormal, ReasonStarted, "Schedule", "started runner %s from image %s", executor.Name(runnerOf(wl, image)), image)
	if wl.Status.Phase == "" {
		wl.Status.Phase = quantumv1alpha1.WorkloadPending
	}
	msg := fmt.Sprintf("runner %s from image %s", executor.Name(runnerOf(wl, image)), image)
	meta.SetStatusCondition(&wl.Status.Conditions, metav1.Condition{Type: ConditionScheduled, Status: metav1.ConditionTrue, Reason: ReasonStarted, Message: msg, ObservedGeneration: wl.Generation})
	meta.SetStatusCondition(&wl.Status.Conditions, metav1.Condition{Type: ConditionRunner, Status: metav1.ConditionTrue, Reason: ReasonStarted, Message: msg, ObservedGeneration: wl.Generation})
	return r.Client.Status().Update(ctx, wl)
}

// watch notices a runner that ended without recording DONE or ERROR.
func (r *Reconciler) watch(ctx context.Context, wl *quantumv1alpha1.Workload) error {
	run := runnerOf(wl, "")
	obs, err := r.Executor.Observe(ctx, run)
	if err != nil {
		return err
	}
	if obs.Phase == executor.Unknown {
		// A local runner process of a previous manager: this one cannot see
		// it, so it starts its own.
		image, _, err := r.image(ctx, wl)
		if err != nil {
			return err
		}
		return r.Executor.Start(ctx, runnerOf(wl, image))
	}
	if !obs.Ended() {
		return nil
	}
	// The runner writes its outcome before it exits; the cache may not have it yet.
	fresh := &quantumv1alpha1.Workload{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(wl), fresh); err != nil {
		return client.IgnoreNotFound(err)
	}
	if fresh.Status.Phase.Terminal() || fresh.Spec.Canceled {
		return nil // the next event reconciles the fresh object
	}
	msg := "the runner ended without recording an outcome: " + obs.Reason
	r.Recorder.Eventf(fresh, nil, corev1.EventTypeWarning, ReasonRunnerEnded, "Run", "%s", msg)
	return r.fail(ctx, fresh, ConditionRunner, ReasonRunnerEnded, msg)
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
