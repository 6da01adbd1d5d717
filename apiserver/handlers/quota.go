package handlers

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/envelope"
)

// A project's ResourceQuota (controllers/project) counts its batches and
// jobs. The facade writes a batch; the Batch controller creates its Jobs.
// So that a full quota is a clear refusal and never a half-made batch or a
// 500, the facade
//
//   - checks the quotas' room for the batch and its jobs before it writes
//     (checkQuota), with kube-apiserver's own wording;
//   - when the controller is refused all the same (concurrent writes in the
//     project took the room meanwhile), sees its QuotaExceeded condition
//     while it waits for the Jobs (awaitJobs), deletes the batch it has just
//     created and the Jobs made for it, and answers 403 with the
//     controller's message.
//
// The answer is 403, as kube-apiserver's for the same refusal (and
// docs/security.md): waiting does not make room, deleting batches or a
// larger quota does.

// Quota resources of the objects the facade makes a project hold.
var (
	batchesQuota = corev1.ResourceName("count/batches." + quantumv1alpha1.GroupVersion.Group)
	jobsQuota    = corev1.ResourceName("count/jobs." + quantumv1alpha1.GroupVersion.Group)
)

// checkQuota refuses (403) a write that needs more batches or jobs than one
// of the namespace's ResourceQuotas has room for, naming the quota and the
// resource. A quota whose usage is not computed yet is left to
// kube-apiserver.
//
// The facade's cache answers first: when every quota it holds leaves room
// for the write and a margin (roomy), no live read is made, so a batch
// create costs kube-apiserver one request less. Otherwise (near a limit, or
// a usage the cache has not seen) the quotas are read live, and that read
// decides. Should more than the margin have been created in the moment the
// cache lags behind, the controller's refusal withdraws the batch
// (awaitJobs), as for concurrent creates.
func (h *Handlers) checkQuota(ctx context.Context, ns string, batches, jobs int) error {
	need := map[corev1.ResourceName]int64{batchesQuota: int64(batches), jobsQuota: int64(jobs)}
	cached := &corev1.ResourceQuotaList{}
	if err := h.Cache.List(ctx, cached, client.InNamespace(ns)); err == nil && roomy(cached.Items, need) {
		return nil
	}
	list := &corev1.ResourceQuotaList{}
	if err := h.Client.List(ctx, list, client.InNamespace(ns)); err != nil {
		return internal(fmt.Errorf("reading the project's quota: %w", err))
	}
	slices.SortFunc(list.Items, func(a, b corev1.ResourceQuota) int { return cmp.Compare(a.Name, b.Name) })
	for _, q := range list.Items {
		for _, name := range []corev1.ResourceName{batchesQuota, jobsQuota} {
			hard, limited := q.Status.Hard[name]
			used, counted := q.Status.Used[name]
			if n := need[name]; n > 0 && limited && counted && used.Value()+n > hard.Value() {
				return quotaRefusal(fmt.Sprintf("exceeded quota: %s, requested: %s=%d, used: %s=%d, limited: %s=%d",
					q.Name, name, n, name, used.Value(), name, hard.Value()))
			}
		}
	}
	return nil
}

// roomy says whether every quota leaves room for need and a margin as large
// again, and at least a tenth of its limit: for the live quota to refuse
// the write, more than the margin must have been created in the moment the
// cache lags behind. A usage not computed yet is not roomy (the live read
// decides).
func roomy(quotas []corev1.ResourceQuota, need map[corev1.ResourceName]int64) bool {
	for _, q := range quotas {
		for name, n := range need {
			hard, limited := q.Status.Hard[name]
			if n <= 0 || !limited {
				continue
			}
			used, counted := q.Status.Used[name]
			if !counted || used.Value()+n+max(n, hard.Value()/10) > hard.Value() {
				return false
			}
		}
	}
	return true
}

// writeKept writes cm, the ConfigMap in which an object of kind, just
// written, keeps its what (a batch's sequences, a workload's config); a
// repeated request finds it written. If it cannot be written, withdraw
// takes the object back (when this request created it), and the error says
// the object was not created.
func (h *Handlers) writeKept(ctx context.Context, cm *corev1.ConfigMap, kind, what string, created bool, withdraw func() error) error {
	err := h.Client.Create(ctx, cm)
	if err == nil || apierrors.IsAlreadyExists(err) {
		return nil
	}
	if created {
		if werr := withdraw(); werr != nil {
			return internal(fmt.Errorf("writing the %s's %s: %w, and %w", kind, what, err, werr))
		}
	}
	return writeErr(fmt.Errorf("writing the %s's %s (ConfigMap %s): %w; the %s was not created", kind, what, cm.Name, err, kind), "body")
}

// quotaRefusal is the facade's answer to a full project quota.
func quotaRefusal(detail string) error {
	return envelope.Errorf(http.StatusForbidden, "the project's quota is used up: %s", detail)
}

// errJobsRefused is the controller's QuotaExceeded condition on a batch
// whose Jobs the facade waits for.
type errJobsRefused struct{ msg string }

func (e *errJobsRefused) Error() string { return e.msg }

// jobsRefused returns the controller's quota refusal of the batch's Jobs for
// its current generation, nil when there is none.
func (h *Handlers) jobsRefused(b *quantumv1alpha1.Batch) error {
	obj, ok, err := h.Batches.GetByKey(b.Namespace + "/" + b.Name)
	if err != nil || !ok {
		return err
	}
	cur := obj.(*quantumv1alpha1.Batch)
	if cur.UID != b.UID {
		return nil
	}
	c := apimeta.FindStatusCondition(cur.Status.Conditions, quantumv1alpha1.ConditionJobsCreated)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != quantumv1alpha1.ReasonQuotaExceeded || c.ObservedGeneration < b.Generation {
		return nil
	}
	// The controller's message begins with kube-apiserver's detail (the
	// quota and the resource), then says what it does about it.
	detail, _, _ := strings.Cut(c.Message, "; ")
	return &errJobsRefused{msg: detail}
}

// withdraw deletes a batch this request created and whose Jobs the quota
// refused, and the Jobs made for it (owner references would remove them
// too, later), so that a refused create leaves nothing behind and frees
// the room it took.
func (h *Handlers) withdraw(ctx context.Context, b *quantumv1alpha1.Batch) error {
	err := h.Client.Delete(ctx, b, client.Preconditions{UID: &b.UID}, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("withdrawing batch %s: %w", b.Name, err)
	}
	jobs := &quantumv1alpha1.JobList{}
	if err := h.Client.List(ctx, jobs, client.InNamespace(b.Namespace), client.MatchingLabels{quantumv1alpha1.BatchLabel: b.Name}); err != nil {
		return fmt.Errorf("listing the jobs of withdrawn batch %s: %w", b.Name, err)
	}
	for i := range jobs.Items {
		j := &jobs.Items[i]
		if owner := metav1.GetControllerOf(j); owner == nil || owner.UID != b.UID {
			continue
		}
		if err := h.Client.Delete(ctx, j, client.Preconditions{UID: &j.UID}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("withdrawing job %s of batch %s: %w", j.Name, b.Name, err)
		}
	}
	return nil
}
