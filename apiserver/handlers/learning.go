package handlers

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tweezer-dev/tweezer/apiserver/envelope"
	"github.com/tweezer-dev/tweezer/apiserver/query"
	"github.com/tweezer-dev/tweezer/internal/restdoc"
)

// registerLearning adds the routes of workloads, learners, use cases and quizzes.
func (h *Handlers) registerLearning(api huma.API) {
	h.registerWorkloads(api)
	h.registerLearners(api)
	h.registerUseCases(api)
	h.registerQuizzes(api)
}

// isSuperuser reports whether the caller may do verb on resource (sub) in every project.
func (h *Handlers) isSuperuser(ctx context.Context, verb, resource, sub string) (bool, error) {
	ok, err := h.allowed(ctx, "", verb, resource, sub)
	if err != nil {
		return false, internal(err)
	}
	return ok, nil
}

// ProjectQuery is the project of a per-user record; optional when the caller belongs to one project.
type ProjectQuery struct {
	ProjectID string `query:"project_id" doc:"The project; by default the one that already holds your record, else your first project (the oldest you may write in)."`
}

// PackagePath is the learning package of a route.
type PackagePath struct {
	Package string `path:"package" enum:"QUANTUM_DISCOVERY,QUANTUM_DISCOVERY_CHEMISTRY,QUANTUM_DISCOVERY_LIGHT,QUANTUM_DISCOVERY_PLAY,QUANTUM_DISCOVERY_ESSENTIAL,LEARN_BY_CODING,VQPU"`
}

// jsonOf stores a free-form body value; nil stays nil.
func jsonOf(v any) (*apiextensionsv1.JSON, error) {
	if v == nil {
		return nil, nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &apiextensionsv1.JSON{Raw: raw}, nil
}

func timeOrNil(t *metav1.Time) *string {
	if t == nil {
		return nil
	}
	s := restdoc.Time(t.Time)
	return &s
}

// getOrCreate reads obj (key set) from the API server, creating it as given
// when missing; like every write of the facade, it returns once the cache
// has the object, so the caller's next list shows it.
func (h *Handlers) getOrCreate(ctx context.Context, obj client.Object) error {
	key := client.ObjectKeyFromObject(obj)
	err := h.Client.Create(ctx, obj)
	if apierrors.IsAlreadyExists(err) {
		err = h.Client.Get(ctx, key, obj)
	}
	if err != nil {
		return writeErr(err)
	}
	h.await(ctx, obj)
	return nil
}

// updateWith re-reads obj (key set), applies change and writes it, retrying
// on conflicts; what names the object in a too-large error. Like every write
// of the facade it returns once the cache has the write. Errors are the API
// server's (or change's), for the caller to map.
func updateWith[T client.Object](ctx context.Context, h *Handlers, obj T, what string, change func(T) error) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := h.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		if err := change(obj); err != nil {
			return err
		}
		if err := h.fits(obj, what); err != nil {
			return err
		}
		return h.Client.Update(ctx, obj)
	})
	if err == nil {
		h.await(ctx, obj)
	}
	return err
}

// matches is the text search of lists: every word, case-insensitively, in one of the texts.
func matches(search string, texts ...string) bool {
	all := strings.ToLower(strings.Join(texts, "\n"))
	for _, w := range strings.Fields(strings.ToLower(search)) {
		if !strings.Contains(all, w) {
			return false
		}
	}
	return true
}

// sortPage orders items by creation (the only order_by of these lists; the
// RFC 3339 strings order as times), ties broken by id.
func sortPage[T any](items []T, p *PageParams, created, id func(T) string) error {
	if p.OrderBy != "created_at" {
		return envelope.Invalid("must be created_at", "query", "order_by")
	}
	desc, err := query.Direction(p.OrderDirection)
	if err != nil {
		return envelope.Invalid(err.Error(), "query", "order_by_direction")
	}
	slices.SortFunc(items, func(a, b T) int {
		c := cmp.Or(strings.Compare(created(a), created(b)), strings.Compare(id(a), id(b)))
		if desc {
			return -c
		}
		return c
	})
	return nil
}
