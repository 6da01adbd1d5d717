// Package retention deletes finished batches once they are older than the
// retention period: a batch in a terminal phase (DONE, ERROR, CANCELED,
// TIMED_OUT) whose end time lies more than the TTL in the past is deleted,
// and owner references take its Jobs and their result ConfigMaps with it
// (kube-controller-manager's garbage collector). Each deletion is logged,
// recorded as an event on the batch and counted in
// tweezer_batches_expired_total. Unfinished batches are never touched.
package retention

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// DefaultTTL is the manager's default retention of finished batches.
const DefaultTTL = 30 * 24 * time.Hour

// ReasonExpired is the reason of the event recorded for each deletion.
const ReasonExpired = "Expired"

// Expired counts the batches deleted by the retention policy.
var Expired = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "tweezer_batches_expired_total",
	Help: "Finished batches deleted (with their jobs and results) once older than the retention period, per terminal status.",
}, []string{"status"})

func init() { metrics.Registry.MustRegister(Expired) }

// FinishedAt is when a batch finished: its end time, else the time its
// Complete condition became true; ok is false for a batch that has not
// finished.
func FinishedAt(b *quantumv1alpha1.Batch) (t time.Time, ok bool) {
	if !b.Status.Phase.Terminal() {
		return time.Time{}, false
	}
	if b.Status.EndTime != nil {
		return b.Status.EndTime.Time, true
	}
	if c := meta.FindStatusCondition(b.Status.Conditions, quantumv1alpha1.ConditionComplete); c != nil && c.Status == metav1.ConditionTrue {
		return c.LastTransitionTime.Time, true
	}
	// Terminal without a time (written by hand): keep it until it has one.
	return time.Time{}, false
}

// Due says when a batch falls out of the retention period; ok is false for
// a batch that is kept regardless (unfinished, or a TTL ≤ 0).
func Due(b *quantumv1alpha1.Batch, ttl time.Duration) (time.Time, bool) {
	end, ok := FinishedAt(b)
	if !ok || ttl <= 0 {
		return time.Time{}, false
	}
	return end.Add(ttl), true
}

// Reconciler deletes finished batches older than TTL.
type Reconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	// TTL is the retention period after a batch's end.
	TTL time.Duration
	// Clock tells the time; nil is the real clock (tests pass a fake one).
	Clock clock.PassiveClock
}

// +kubebuilder:rbac:groups=quantum.tweezer.dev,resources=batches,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

func (r *Reconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

// Reconcile deletes one batch if it is past its retention, else asks to be
// called again when it will be.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	b := &quantumv1alpha1.Batch{}
	if err := r.Client.Get(ctx, req.NamespacedName, b); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if b.DeletionTimestamp != nil {
		return ctrl.Result{}, nil
	}
	due, ok := Due(b, r.TTL)
	if !ok {
		return ctrl.Result{}, nil
	}
	if wait := due.Sub(r.now()); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	// The UID precondition spares a batch recreated under the same name
	// since the cache saw this one.
	err := r.Client.Delete(ctx, b, client.Preconditions{UID: &b.UID}, client.PropagationPolicy(metav1.DeletePropagationBackground))
	switch {
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return ctrl.Result{}, nil
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("deleting expired batch %s/%s: %w", b.Namespace, b.Name, err)
	}
	end, _ := FinishedAt(b)
	Expired.WithLabelValues(string(b.Status.Phase)).Inc()
	log.FromContext(ctx).Info("deleted an expired batch with its jobs and results",
		"namespace", b.Namespace, "batch", b.Name, "status", b.Status.Phase, "finished", end, "retention", r.TTL)
	r.Recorder.Eventf(b, nil, corev1.EventTypeNormal, ReasonExpired, "Delete",
		"deleted with its jobs and results: %s since %s, past the retention of %s", b.Status.Phase, end.UTC().Format(time.RFC3339), r.TTL)
	return ctrl.Result{}, nil
}

// SetupWithManager registers the reconciler; it looks at finished batches only.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	finished := predicate.NewPredicateFuncs(func(o client.Object) bool {
		b, ok := o.(*quantumv1alpha1.Batch)
		return ok && b.Status.Phase.Terminal()
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("retention").
		For(&quantumv1alpha1.Batch{}, builder.WithPredicates(finished)).
		Complete(r)
}
