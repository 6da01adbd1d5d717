// Package project keeps the guard rails of every project namespace (a
// namespace labelled quantum.tweezer.dev/project-id): a ResourceQuota that
// caps how many batches, jobs, workloads, learners and pods the project may
// hold, enforced by kube-apiserver for every writer, and a LimitRange that
// gives containers without their own requests and limits the manager's
// defaults.
//
// Both objects are written with server-side apply under one field owner, so
// the reconciler is idempotent (an unchanged apply writes nothing) and only
// the fields it owns are put back: a platform team may add its own quota
// lines (requests.cpu, say) or limits with its own field manager and keep
// them. A project's counts are the manager's defaults, each overridable by
// the namespace annotation quantum.tweezer.dev/quota.
package project

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

const (
	// Name is the name of the ResourceQuota and of the LimitRange in each
	// project namespace.
	Name = quantumv1alpha1.ProjectGuardRails
	// FieldOwner is the server-side apply field manager of both.
	FieldOwner = "tweezer-project-controller"
	// ManagedByLabel and ManagedBy mark both objects (the manager caches
	// only ResourceQuotas and LimitRanges that carry them).
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "tweezer"
)

// Event reasons.
const (
	ReasonApplied      = "GuardRailsApplied"
	ReasonInvalidQuota = "InvalidQuotaAnnotation"
)

// quotaKeys maps the short names of the flag and the annotation to the
// ResourceQuota's resource names.
var quotaKeys = map[string]corev1.ResourceName{
	"batches":   corev1.ResourceName("count/batches." + quantumv1alpha1.GroupVersion.Group),
	"jobs":      corev1.ResourceName("count/jobs." + quantumv1alpha1.GroupVersion.Group),
	"workloads": corev1.ResourceName("count/workloads." + quantumv1alpha1.GroupVersion.Group),
	"learners":  corev1.ResourceName("count/learners." + quantumv1alpha1.GroupVersion.Group),
	"pods":      corev1.ResourcePods,
}

// DefaultQuota is the quota of a project whose namespace overrides nothing:
// room for a thousand batches of twenty jobs each (the retention policy
// deletes old ones), and a few dozen pods at once.
const DefaultQuota = "batches=1000,jobs=20000,workloads=200,learners=100,pods=50"

// ResourceName returns the quota resource of a short name (batches, jobs,
// workloads, learners, pods).
func ResourceName(key string) (corev1.ResourceName, bool) {
	n, ok := quotaKeys[key]
	return n, ok
}

// ParseQuota reads "batches=1000,pods=50": object counts by short name.
// An unknown name, a repeated one or a count that is not a whole number ≥ 0
// is an error naming it.
func ParseQuota(s string) (corev1.ResourceList, error) {
	out := corev1.ResourceList{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, val, ok := strings.Cut(part, "=")
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		name, known := quotaKeys[key]
		switch {
		case !ok:
			return nil, fmt.Errorf("%q is not name=count", part)
		case !known:
			return nil, fmt.Errorf("unknown quota %q (known: %s)", key, strings.Join(slices.Sorted(maps.Keys(quotaKeys)), ", "))
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("quota %q given twice", key)
		}
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("quota %s=%q: want a whole number ≥ 0", key, val)
		}
		out[name] = *resource.NewQuantity(n, resource.DecimalSI)
	}
	return out, nil
}

// Settings are the manager's defaults for every project.
type Settings struct {
	// Quota holds the default object counts (ParseQuota).
	Quota corev1.ResourceList
	// Container holds the default requests and limits of a container that
	// sets none; empty lists set no default.
	Container corev1.ResourceRequirements
}

// Reconciler applies the ResourceQuota and the LimitRange of each project namespace.
type Reconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	Settings Settings
}

// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=resourcequotas;limitranges,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Hard is the quota of a namespace: the defaults with its annotation's
// counts over them.
func (s Settings) Hard(ns *corev1.Namespace) (corev1.ResourceList, error) {
	hard := s.Quota.DeepCopy()
	if hard == nil {
		hard = corev1.ResourceList{}
	}
	if a, ok := ns.Annotations[quantumv1alpha1.QuotaAnnotation]; ok {
		over, err := ParseQuota(a)
		if err != nil {
			return nil, fmt.Errorf("annotation %s: %w", quantumv1alpha1.QuotaAnnotation, err)
		}
		maps.Copy(hard, over)
	}
	return hard, nil
}

// Reconcile applies the guard rails of one namespace.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ns := &corev1.Namespace{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: req.Name}, ns); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !isProject(ns) || ns.DeletionTimestamp != nil {
		return ctrl.Result{}, nil
	}
	hard, err := r.Settings.Hard(ns)
	if err != nil {
		// A typo must not lower a raised quota: leave it as it is until fixed.
		r.Recorder.Eventf(ns, nil, corev1.EventTypeWarning, ReasonInvalidQuota, "ApplyQuota", "%v; the project's quota is left as it is", err)
		return ctrl.Result{}, nil
	}
	before := map[string]string{}
	for _, obj := range []client.Object{&corev1.ResourceQuota{}, &corev1.LimitRange{}} {
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: Name}, obj); client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, err
		}
		before[fmt.Sprintf("%T", obj)] = obj.GetResourceVersion()
	}

	quota := corev1ac.ResourceQuota(Name, ns.Name).
		WithLabels(map[string]string{ManagedByLabel: ManagedBy}).
		WithSpec(corev1ac.ResourceQuotaSpec().WithHard(hard))
	if err := r.Client.Apply(ctx, quota, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return ctrl.Result{}, fmt.Errorf("applying the ResourceQuota of %s: %w", ns.Name, err)
	}
	item := corev1ac.LimitRangeItem().WithType(corev1.LimitTypeContainer)
	if len(r.Settings.Container.Limits) > 0 {
		item.WithDefault(r.Settings.Container.Limits)
	}
	if len(r.Settings.Container.Requests) > 0 {
		item.WithDefaultRequest(r.Settings.Container.Requests)
	}
	lr := corev1ac.LimitRange(Name, ns.Name).
		WithLabels(map[string]string{ManagedByLabel: ManagedBy}).
		WithSpec(corev1ac.LimitRangeSpec().WithLimits(item))
	if err := r.Client.Apply(ctx, lr, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return ctrl.Result{}, fmt.Errorf("applying the LimitRange of %s: %w", ns.Name, err)
	}
	// An apply that changes nothing keeps the resourceVersion: tell humans
	// only about real changes.
	if ptrOr(quota.ResourceVersion) != before["*v1.ResourceQuota"] || ptrOr(lr.ResourceVersion) != before["*v1.LimitRange"] {
		log.FromContext(ctx).Info("applied the project's guard rails", "namespace", ns.Name, "quota", hard)
		r.Recorder.Eventf(ns, nil, corev1.EventTypeNormal, ReasonApplied, "ApplyQuota", "ResourceQuota and LimitRange %s applied (quota %s)", Name, describe(hard))
	}
	return ctrl.Result{}, nil
}

func ptrOr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// describe prints a quota in a stable order.
func describe(hard corev1.ResourceList) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(hard)) {
		q := hard[k]
		parts = append(parts, string(k)+"="+q.String())
	}
	return strings.Join(parts, ",")
}

func isProject(o client.Object) bool {
	_, ok := o.GetLabels()[quantumv1alpha1.ProjectIDLabel]
	return ok
}

// SetupWithManager watches project namespaces and the objects this
// reconciler applies (a deleted or edited one is put back).
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	ours := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetName() == Name && o.GetLabels()[ManagedByLabel] == ManagedBy
	})
	toNamespace := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []ctrl.Request {
		return []ctrl.Request{{NamespacedName: client.ObjectKey{Name: o.GetNamespace()}}}
	})
	changed := predicate.Funcs{UpdateFunc: guardRailChanged}
	return ctrl.NewControllerManagedBy(mgr).
		Named("project").
		For(&corev1.Namespace{}, builder.WithPredicates(predicate.NewPredicateFuncs(isProject))).
		Watches(&corev1.ResourceQuota{}, toNamespace, builder.WithPredicates(ours, changed)).
		Watches(&corev1.LimitRange{}, toNamespace, builder.WithPredicates(ours, changed)).
		Complete(r)
}

// guardRailChanged lets through the updates of a ResourceQuota or LimitRange
// that may undo what this reconciler applies: a change of spec or labels.
// kube-controller-manager rewrites a quota's status whenever an object it
// counts is created or deleted; without this filter every batch and job
// cost two server-side applies (bench-abuse counted 2 of each per batch).
func guardRailChanged(e event.UpdateEvent) bool {
	if !maps.Equal(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels()) {
		return true
	}
	switch old := e.ObjectOld.(type) {
	case *corev1.ResourceQuota:
		cur, ok := e.ObjectNew.(*corev1.ResourceQuota)
		return !ok || !equality.Semantic.DeepEqual(old.Spec, cur.Spec)
	case *corev1.LimitRange:
		cur, ok := e.ObjectNew.(*corev1.LimitRange)
		return !ok || !equality.Semantic.DeepEqual(old.Spec, cur.Spec)
	}
	return true
}
