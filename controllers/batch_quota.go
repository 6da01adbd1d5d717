package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/metrics"
)

// A project's ResourceQuota (controllers/project) binds the manager too:
// kube-apiserver refuses a Job or a runner Pod beyond it with 403 "exceeded
// quota". Such a refusal is no fault of the batch and no crash: the batch
// says so on a condition (JobsCreated or Runner, status False, reason
// QuotaExceeded, the message naming the quota and the resource), a Warning
// event tells its owner once, and the controller tries again with backoff
// (the wait grows with the time the batch has waited, from 1 s to 1 min) and
// at once when the project's quota usage drops. A runner that could not be
// created costs the batch no attempt.

// errProjectWait ends a reconciliation that the project's quota or job
// budget stopped; it is not an error of the controller (no error log, no
// rate-limited retry).
var errProjectWait = errors.New("waiting for the project's quota or job budget")

// quotaBackoff bounds the wait between two tries of a quota-refused batch.
const (
	quotaBackoffMin = time.Second
	quotaBackoffMax = time.Minute
)

// IsQuotaRefusal reports whether err is kube-apiserver refusing a create
// because a ResourceQuota is full.
func IsQuotaRefusal(err error) bool {
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "exceeded quota")
}

// QuotaDetail is the part of a quota refusal that names the quota and the
// resource: "exceeded quota: tweezer-project, requested: count/jobs…=1,
// used: …, limited: …".
func QuotaDetail(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "exceeded quota"); i >= 0 {
		return msg[i:]
	}
	return msg
}

// quotaRefused records a quota refusal on the condition condType: the
// condition, a Warning event when the batch starts waiting, a metric, and a
// retry after the backoff. It returns errProjectWait.
func (r *BatchReconciler) quotaRefused(s *batchScope, condType, what, msg string) error {
	since, _ := r.held(s, condType, quantumv1alpha1.ReasonQuotaExceeded, corev1.EventTypeWarning, msg)
	s.after = append(s.after, func() { metrics.QuotaRefusals.WithLabelValues(what).Inc() })
	s.requeueAfter(min(max(r.now().Sub(since), quotaBackoffMin), quotaBackoffMax))
	return errProjectWait
}

// held records that a limit of the project holds the batch: condType False
// with reason and msg, and an event of eventType when the batch starts
// waiting (started). since is when it started.
func (r *BatchReconciler) held(s *batchScope, condType, reason, eventType, msg string) (since time.Time, started bool) {
	prev := meta.FindStatusCondition(s.batch.Status.Conditions, condType)
	if prev != nil && prev.Status == metav1.ConditionFalse && prev.Reason == reason {
		since = prev.LastTransitionTime.Time
	} else {
		since, started = r.now(), true
		r.event(s, eventType, reason, "%s", msg)
	}
	s.setCondition(condType, metav1.ConditionFalse, reason, msg)
	return since, started
}

// unstart gives back the Lease generation of a runner whose Pod the quota
// refused: the batch keeps its reservation (generation 0, as the queue
// holds a QPU) and the next try starts the next generation, with the
// failure count unchanged. No runner of that generation ever ran, so none
// needs fencing.
func (r *BatchReconciler) unstart(ctx context.Context, s *batchScope, gen int) error {
	b := s.batch
	key := leaseKey(b, s.device, r.Options.Namespace)
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		lease := &coordinationv1.Lease{}
		if err := r.APIReader.Get(ctx, key, lease); err != nil {
			return client.IgnoreNotFound(err)
		}
		if leaseHolder(lease) != holderID(b.Namespace, b.Name, gen) {
			return nil // someone moved on meanwhile
		}
		now := metav1.NewMicroTime(r.now())
		lease.Spec.HolderIdentity = ptr.To(holderID(b.Namespace, b.Name, 0))
		lease.Spec.RenewTime = &now
		return r.Client.Update(ctx, lease)
	})
}

// carriedFailures is the failure count of the batch's own reserved Lease
// (0 for a Lease it does not hold), which a new runner generation keeps.
func carriedFailures(b *quantumv1alpha1.Batch, lease *coordinationv1.Lease) int {
	if lease == nil {
		return 0
	}
	if owner, _, ok := parseHolder(leaseHolder(lease)); !ok || owner != client.ObjectKeyFromObject(b) {
		return 0
	}
	return leaseAnnotation(lease, quantumv1alpha1.RunnerFailuresAnnotation)
}

// quotaWaiting reports whether the batch waits for its project's quota.
func quotaWaiting(b *quantumv1alpha1.Batch) bool {
	for _, t := range []string{quantumv1alpha1.ConditionJobsCreated, quantumv1alpha1.ConditionRunner} {
		if c := meta.FindStatusCondition(b.Status.Conditions, t); c != nil && c.Status == metav1.ConditionFalse && c.Reason == quantumv1alpha1.ReasonQuotaExceeded {
			return true
		}
	}
	return false
}

// quotaToWaitingBatches wakes the batches of a namespace that wait for its
// quota.
func (r *BatchReconciler) quotaToWaitingBatches(ctx context.Context, o client.Object) []reconcile.Request {
	list := &quantumv1alpha1.BatchList{}
	if err := r.Client.List(ctx, list, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if b := &list.Items[i]; !b.Status.Phase.Terminal() && quotaWaiting(b) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(b)})
		}
	}
	return out
}

// quotaFreed passes the updates of a ResourceQuota whose usage dropped
// (objects were deleted and kube-controller-manager recounted), not the
// many that raise it with every create.
var quotaFreed = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return true },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		before, ok1 := e.ObjectOld.(*corev1.ResourceQuota)
		after, ok2 := e.ObjectNew.(*corev1.ResourceQuota)
		if !ok1 || !ok2 {
			return false
		}
		for name, hard := range after.Status.Hard {
			if old, ok := before.Status.Hard[name]; ok && hard.Cmp(old) > 0 {
				return true // raised
			}
		}
		for name, used := range after.Status.Used {
			if old, ok := before.Status.Used[name]; ok && used.Cmp(old) < 0 {
				return true
			}
		}
		return false
	},
}

// jobQuotaMessage describes Jobs refused by the quota. Quota messages begin
// with kube-apiserver's detail, up to the first "; " (the REST facade
// quotes that part).
func jobQuotaMessage(refused error, have, want int) string {
	return fmt.Sprintf("%s; %d of %d jobs exist, the others are created as the quota frees", QuotaDetail(refused), have, want)
}
