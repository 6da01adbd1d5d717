package handlers

import (
	"context"
	"strings"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// firstProject is the project a per-user record (learner, quiz response,
// use case) goes to when the request names none, as the reference's routes
// have no project: of the caller's projects where they may write the
// record, the one created first (ties broken by id). Joining a newer
// project never moves it; records that already exist are found wherever
// they are (see existingIn).
func firstProject(projects map[string]project) string {
	var first project
	for _, p := range projects {
		if first.ns == nil {
			first = p
			continue
		}
		c := p.ns.CreationTimestamp.Compare(first.ns.CreationTimestamp.Time)
		if c < 0 || (c == 0 && strings.Compare(p.id, first.id) < 0) {
			first = p
		}
	}
	return first.ns.Name
}

// existingIn returns the namespace of the caller's record named name (list
// is of its kind) in a project where they may do verb on resource, or "".
// A record found this way wins over firstProject, so that it stays where it
// was created even when the caller joins an older project.
func (h *Handlers) existingIn(ctx context.Context, list client.ObjectList, name, verb, resource string, owner func(client.Object) string) (string, error) {
	if err := h.byName(ctx, list, name); err != nil {
		return "", internal(err)
	}
	var found []client.Object
	if err := forEach(list, func(o client.Object) { found = append(found, o) }); err != nil {
		return "", internal(err)
	}
	for _, o := range found {
		if owner(o) != user(ctx).Name {
			continue
		}
		ok, err := h.allowed(ctx, o.GetNamespace(), verb, resource, "")
		if err != nil {
			return "", internal(err)
		}
		if ok {
			return o.GetNamespace(), nil
		}
	}
	return "", nil
}

// forEach calls f with each item of list.
func forEach(list client.ObjectList, f func(client.Object)) error {
	return apimeta.EachListItem(list, func(o runtime.Object) error {
		if obj, ok := o.(client.Object); ok {
			f(obj)
		}
		return nil
	})
}
