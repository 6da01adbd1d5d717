package handlers

import (
	"context"
	"net/http"

	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/envelope"
)

// The facade's rights on the resources of workloads.go, learners.go,
// usecases.go, quizzes.go and statistics.go:
//
// +kubebuilder:rbac:groups=quantum.tweezer.dev,resources=workloads;learners;usecases;quizzes,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=quantum.tweezer.dev,resources=workloads/status;learners/status;usecases/status,verbs=get;update;patch

// IndexOwner indexes Workloads, Learners, UseCases and Quizzes by the user
// they belong to; IndexName (see index.go) by their name in any namespace.
const IndexOwner = "tweezer/owner"

// IndexLearning registers the cache indexes of workloads, learners, use
// cases and quizzes; call it before the cache starts.
func IndexLearning(ctx context.Context, c cache.Cache) error {
	type indexed struct {
		obj   client.Object
		owner func(client.Object) string
	}
	for _, ix := range []indexed{
		{&quantumv1alpha1.Workload{}, func(o client.Object) string { return o.(*quantumv1alpha1.Workload).Spec.UserID }},
		{&quantumv1alpha1.Learner{}, func(o client.Object) string { return o.(*quantumv1alpha1.Learner).Spec.UserID }},
		{&quantumv1alpha1.UseCase{}, func(o client.Object) string { return o.(*quantumv1alpha1.UseCase).Spec.UserID }},
		{&quantumv1alpha1.Quiz{}, func(o client.Object) string { return o.(*quantumv1alpha1.Quiz).Spec.UserID }},
	} {
		if err := c.IndexField(ctx, ix.obj, IndexName, func(o client.Object) []string { return []string{o.GetName()} }); err != nil {
			return err
		}
		owner := ix.owner
		if err := c.IndexField(ctx, ix.obj, IndexOwner, func(o client.Object) []string { return []string{owner(o)} }); err != nil {
			return err
		}
	}
	return nil
}

// byName lists the cached objects of list's kind with this name in every
// namespace; callers keep only one the caller may see (firstVisible in
// lookup.go), never simply the first.
func (h *Handlers) byName(ctx context.Context, list client.ObjectList, name string) error {
	return h.Cache.List(ctx, list, client.MatchingFields{IndexName: name})
}

// callerProject resolves the project a per-user record lives in: the given
// project id (404 when the caller may not see it, 403 when they may see but
// not verb), else the caller's only project.
func (h *Handlers) callerProject(ctx context.Context, projectID, verb, resource string) (string, error) {
	if projectID != "" {
		ns, err := h.projectByID(ctx, projectID)
		if err != nil {
			return "", internal(err)
		}
		notFound := envelope.NotFound("project", projectID)
		if ns == nil {
			return "", notFound
		}
		if err := h.access(ctx, ns.Name, verb, resource, "", notFound); err != nil {
			return "", err
		}
		return ns.Name, nil
	}
	projects, err := h.projects(ctx, verb, resource)
	if err != nil {
		return "", internal(err)
	}
	if len(projects) == 0 {
		return "", envelope.Errorf(http.StatusForbidden, "%s belongs to no project where they may %s %s", user(ctx).Name, verb, resource)
	}
	return firstProject(projects), nil
}

// window is one page of items: items[offset : offset+limit], clamped.
func window[T any](items []T, offset, limit int) []T {
	if offset >= len(items) {
		return []T{}
	}
	return items[offset:min(offset+limit, len(items))]
}
