package handlers

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	corev1 "k8s.io/api/core/v1"

	"github.com/tweezer-dev/tweezer/apiserver/envelope"
	"github.com/tweezer-dev/tweezer/internal/restdoc"
)

// ProjectNameAnnotation on a project namespace gives the project's display name.
const ProjectNameAnnotation = "quantum.tweezer.dev/project-name"

// Project is a project the caller belongs to.
type Project struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Status    string `json:"status" enum:"ACTIVE,ARCHIVED"`
	CreatedAt string `json:"created_at" format:"date-time"`
}

type projectsIn struct {
	ProjectStatus string `query:"project_status" enum:"ACTIVE,ARCHIVED" doc:"Only ACTIVE projects exist here; ARCHIVED lists none."`
}

type projectsOut struct {
	Body envelope.Envelope[[]Project]
}

func (h *Handlers) registerProjects(api huma.API) {
	huma.Register(api, h.op("list-projects", http.MethodGet, "/api/v1/projects", "projects", "The caller's active projects (where they may list batches)"), h.listProjects)
}

func (h *Handlers) listProjects(ctx context.Context, in *projectsIn) (*projectsOut, error) {
	out := []Project{}
	if in.ProjectStatus == "ARCHIVED" {
		return &projectsOut{Body: envelope.OK(out)}, nil
	}
	projects, err := h.projects(ctx, "list", "batches")
	if err != nil {
		return nil, internal(err)
	}
	for _, p := range projects {
		out = append(out, projectDoc(p.ns, p.id))
	}
	slices.SortFunc(out, func(a, b Project) int { return strings.Compare(a.ID, b.ID) })
	return &projectsOut{Body: envelope.OK(out)}, nil
}

func projectDoc(ns *corev1.Namespace, id string) Project {
	name := ns.Annotations[ProjectNameAnnotation]
	if name == "" {
		name = id
	}
	return Project{ID: id, Name: name, Status: "ACTIVE", CreatedAt: restdoc.Time(ns.CreationTimestamp.Time)}
}
