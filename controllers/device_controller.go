package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/scheduler"
)

// DeviceReconciler keeps a Device's status: Ready, the queue of its type
// (pending batches and their jobs) and the batches it runs. When a device
// becomes ready it kicks the queue of its type.
type DeviceReconciler struct {
	Client client.Client
	Queue  *Queue
	// StatusInterval is the least time between two writes of the queue
	// figures alone (Ready changes are written at once).
	StatusInterval time.Duration

	mu      sync.Mutex
	written map[string]time.Time
}

func deviceCountsOnly(a, b *quantumv1alpha1.DeviceStatusFields) bool {
	x, y := a.DeepCopy(), b.DeepCopy()
	x.PendingBatches, x.PendingJobs, x.RunningBatches = 0, 0, 0
	y.PendingBatches, y.PendingJobs, y.RunningBatches = 0, 0, 0
	return equality.Semantic.DeepEqual(x, y)
}

// +kubebuilder:rbac:groups=quantum.tweezer.dev,resources=devices,verbs=get;list;watch
// +kubebuilder:rbac:groups=quantum.tweezer.dev,resources=devices/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=quantum.tweezer.dev,resources=batches,verbs=get;list;watch

// SetupWithManager registers the reconciler; call SetupIndexes first.
func (r *DeviceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.written = map[string]time.Time{}
	return ctrl.NewControllerManagedBy(mgr).
		For(&quantumv1alpha1.Device{}).
		Watches(&quantumv1alpha1.Batch{}, handler.EnqueueRequestsFromMapFunc(r.batchToDevices)).
		Named("device").
		Complete(r)
}

func (r *DeviceReconciler) batchToDevices(ctx context.Context, o client.Object) []ctrl.Request {
	b := o.(*quantumv1alpha1.Batch)
	devices := &quantumv1alpha1.DeviceList{}
	if err := r.Client.List(ctx, devices, client.MatchingFields{deviceTypeIndex: string(b.Spec.DeviceType)}); err != nil {
		return nil
	}
	out := make([]ctrl.Request, 0, len(devices.Items))
	for i := range devices.Items {
		out = append(out, ctrl.Request{NamespacedName: client.ObjectKey{Name: devices.Items[i].Name}})
	}
	return out
}

// Reconcile computes the device's status and writes it when it changed.
func (r *DeviceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	d := &quantumv1alpha1.Device{}
	if err := r.Client.Get(ctx, req.NamespacedName, d); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	orig := d.DeepCopy()
	batches := &quantumv1alpha1.BatchList{} // read-only: shares the cache's objects
	if err := r.Client.List(ctx, batches, client.MatchingFields{batchDeviceTypeIndex: string(d.Spec.DeviceType)}, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, err
	}
	computeDeviceStatus(d, batches.Items)
	wasReady := meta.IsStatusConditionTrue(orig.Status.Conditions, quantumv1alpha1.ConditionReady)
	if equality.Semantic.DeepEqual(orig.Status, d.Status) {
		return ctrl.Result{}, nil
	}
	// The queue figures change with every batch: when they are all that
	// changed, they are written at most once per StatusInterval.
	if deviceCountsOnly(&orig.Status, &d.Status) {
		r.mu.Lock()
		wait := time.Until(r.written[d.Name].Add(r.StatusInterval))
		r.mu.Unlock()
		if wait > 0 {
			return ctrl.Result{RequeueAfter: wait}, nil
		}
	}
	// Checked against the resourceVersion read: after a conflict the next
	// reconciliation computes the status again on the fresh Device.
	if err := r.Client.Status().Patch(ctx, d, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{Requeue: true}, nil
		}
		return ctrl.Result{}, err
	}
	r.mu.Lock()
	r.written[d.Name] = time.Now()
	r.mu.Unlock()
	if !wasReady && meta.IsStatusConditionTrue(d.Status.Conditions, quantumv1alpha1.ConditionReady) {
		return ctrl.Result{}, r.Queue.Kick(ctx, d.Spec.DeviceType)
	}
	return ctrl.Result{}, nil
}

// computeDeviceStatus sets Ready and the queue figures of a device from the
// batches of its type.
func computeDeviceStatus(d *quantumv1alpha1.Device, batches []quantumv1alpha1.Batch) {
	var pendingBatches, pendingJobs, running int32
	for i := range batches {
		b := &batches[i]
		if b.Status.Phase.Terminal() || b.DeletionTimestamp != nil {
			continue
		}
		if b.Status.DeviceID == "" {
			pendingBatches++
			pendingJobs += b.Status.JobsCountPerStatus[quantumv1alpha1.JobPending]
			continue
		}
		if b.Status.DeviceID == d.Name {
			running++
		}
	}
	d.Status.PendingBatches = pendingBatches
	d.Status.PendingJobs = pendingJobs
	d.Status.RunningBatches = running
	d.Status.ObservedGeneration = d.Generation
	cond := metav1.Condition{Type: quantumv1alpha1.ConditionReady, ObservedGeneration: d.Generation}
	switch {
	case !d.IsActive():
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, "Inactive", "the device is inactive: it starts nothing new"
	case d.Spec.Availability == quantumv1alpha1.DeviceDown:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, "Down", "the device is DOWN: it starts nothing new"
	default:
		cond.Status, cond.Reason = metav1.ConditionTrue, "Up"
		cond.Message = fmt.Sprintf("runs up to %d batches at once", scheduler.Capacity(d))
	}
	meta.SetStatusCondition(&d.Status.Conditions, cond)
}
