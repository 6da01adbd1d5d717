// Package handlers serves the REST contract's routes: each request becomes
// reads of the informer cache and writes to the API server, and each response
// is rebuilt from the resources.
package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/auth"
	"github.com/tweezer-dev/tweezer/apiserver/envelope"
)

// Limits bound what a request may store.
type Limits struct {
	// MaxBodyBytes caps a request body after decompression.
	MaxBodyBytes int64
	// MaxObjectBytes caps the serialized size of one object sent to the API server.
	MaxObjectBytes int
	// MaxSequenceBytes caps one serialized sequence (413 beyond it); 0 means no cap.
	MaxSequenceBytes int
	// InlineSequenceBytes is how many bytes of sequences a new batch keeps
	// in its spec, and of config a new workload; larger ones go to its
	// sequences or config ConfigMap (internal/sequences). Negative keeps
	// them all in the spec.
	InlineSequenceBytes int
	// MaxJobsPerBatch caps a batch's jobs, added ones included; 0 means no cap.
	MaxJobsPerBatch int
	// MaxShotsPerBatch caps the runs of all of a batch's jobs together; 0 means no cap.
	MaxShotsPerBatch int64
	// MaxInlineResultsBytes bounds the full results that GET
	// /api/v1/batches/{id} inlines; past it, jobs carry their counter and
	// full_result is null (GET /api/v1/jobs/{id} or the results link serve
	// it). 0 means no bound.
	MaxInlineResultsBytes int
	// BodyReadTimeout bounds reading a request body: slow clients get 408.
	BodyReadTimeout time.Duration
	// NotebookWait bounds how long a spawn waits for the notebook controller
	// to act on it, so that it answers what the learner's record says.
	NotebookWait time.Duration
}

// Handlers holds what every route needs.
type Handlers struct {
	// Cache serves reads of namespaces and devices, and of single objects.
	Cache client.Reader
	// Batches and Jobs are the informers' stores with the indexers of index.go.
	Batches, Jobs toolscache.Indexer
	// Client writes straight to the API server (and reads result ConfigMaps).
	Client client.Client
	Scheme *runtime.Scheme
	Auth   *auth.Reviewer
	Limits Limits
	// ResultsKeys sign results links so the SDK can fetch them without a token.
	ResultsKeys *Keyring
	// ResultsLinkTTL is how long a results link stays valid.
	ResultsLinkTTL time.Duration
	// PublicURL is the facade's base URL in results links.
	PublicURL string
	// Log receives structured logs of refusals; the zero Logger discards them.
	Log logr.Logger
	// AllowPrivateWebhooks accepts webhook URLs whose host is a blocked
	// literal address (internal/webhooktarget).
	AllowPrivateWebhooks bool
}

// Operation metadata keys read by the server's authentication middleware.
const (
	// MetaAuth is "none" for public routes, "optional" for routes that accept
	// another proof (signed links); absent means a bearer token is required.
	MetaAuth = "auth"
)

// Register adds every route to api.
func (h *Handlers) Register(api huma.API) {
	h.registerBatches(api)
	h.registerJobs(api)
	h.registerDevices(api)
	h.registerProjects(api)
	h.registerWorkers(api)
	h.registerStatistics(api)
	h.registerLearning(api)
	h.registerQueueVisibility(api)
}

// op builds an operation; bodies of write routes get the body limit.
func (h *Handlers) op(id, method, path, tag, summary string) huma.Operation {
	return huma.Operation{
		OperationID: id, Method: method, Path: path, Tags: []string{tag}, Summary: summary,
		Security:        []map[string][]string{{"bearer": {}}},
		MaxBodyBytes:    h.Limits.MaxBodyBytes,
		BodyReadTimeout: h.Limits.BodyReadTimeout,
		Errors:          []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusUnprocessableEntity},
	}
}

func user(ctx context.Context) *auth.User { return auth.UserFrom(ctx) }

// allowed asks the cluster whether the caller may do verb on resource in ns.
func (h *Handlers) allowed(ctx context.Context, ns, verb, resource, sub string) (bool, error) {
	u := user(ctx)
	if u == nil {
		return false, nil
	}
	return h.Auth.Allowed(ctx, u, auth.Attributes{Verb: verb, Resource: resource, Subresource: sub, Namespace: ns})
}

// access checks that the caller may see a resource in ns (else notFound, so
// that other projects' ids look unknown) and then may do verb on it (else 403).
func (h *Handlers) access(ctx context.Context, ns, verb, resource, sub string, notFound error) error {
	ok, err := h.allowed(ctx, ns, "get", resource, "")
	if err != nil {
		return internal(err)
	}
	if !ok {
		// A worker may hold only the status subresource; it still sees the object.
		if sub == "" {
			return notFound
		}
		if ok, err = h.allowed(ctx, ns, verb, resource, sub); err != nil {
			return internal(err)
		}
		if !ok {
			return notFound
		}
		return nil
	}
	if verb == "get" && sub == "" {
		return nil
	}
	if ok, err = h.allowed(ctx, ns, verb, resource, sub); err != nil {
		return internal(err)
	}
	if !ok {
		what := resource
		if sub != "" {
			what += "/" + sub
		}
		h.Log.Info("authorization refused", "user", user(ctx).Name, "verb", verb, "resource", what, "namespace", ns)
		return envelope.Errorf(http.StatusForbidden, "%s may not %s %s in project %s", user(ctx).Name, verb, what, ns)
	}
	return nil
}

func internal(err error) error {
	return envelope.Errorf(http.StatusInternalServerError, "%v", err)
}

// writeErr turns an API server error into the envelope.
func writeErr(err error, loc ...any) error {
	var st *envelope.Error
	switch {
	case errors.As(err, &st):
		return st
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return envelope.Invalid(err.Error(), loc...)
	case apierrors.IsRequestEntityTooLargeError(err):
		return envelope.Errorf(http.StatusRequestEntityTooLarge, "%v", err)
	case apierrors.IsConflict(err):
		return envelope.Errorf(http.StatusConflict, "%v", err)
	case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "exceeded quota"):
		// The project's ResourceQuota (controllers/project) binds every writer.
		return envelope.Errorf(http.StatusForbidden, "the project's quota is used up: %v", err)
	case apierrors.IsForbidden(err):
		return envelope.Errorf(http.StatusInternalServerError, "the facade's service account lacks a permission: %v", err)
	}
	return internal(err)
}

// project is a project namespace the caller may see.
type project struct {
	ns *corev1.Namespace
	id string
}

// projectByID returns the namespace of a project id (nil when there is none).
func (h *Handlers) projectByID(ctx context.Context, id string) (*corev1.Namespace, error) {
	var ns corev1.Namespace
	if err := h.Cache.Get(ctx, client.ObjectKey{Name: id}, &ns); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	if ns.Labels[quantumv1alpha1.ProjectIDLabel] != id || ns.DeletionTimestamp != nil {
		return nil, nil
	}
	return &ns, nil
}

// listInProject lists, from the cache, the objects of list's kind in a project
// the caller may list resource in: 404 for an unknown or invisible project.
func (h *Handlers) listInProject(ctx context.Context, projectID, resource string, list client.ObjectList) error {
	ns, err := h.projectByID(ctx, projectID)
	if err != nil {
		return internal(err)
	}
	notFound := envelope.NotFound("project", projectID)
	if ns == nil {
		return notFound
	}
	if err := h.access(ctx, ns.Name, "list", resource, "", notFound); err != nil {
		return err
	}
	if err := h.Cache.List(ctx, list, client.InNamespace(ns.Name)); err != nil {
		return internal(err)
	}
	return nil
}

// projects returns the project namespaces where the caller may do verb on
// resource, keyed by namespace name.
func (h *Handlers) projects(ctx context.Context, verb, resource string) (map[string]project, error) {
	var list corev1.NamespaceList
	if err := h.Cache.List(ctx, &list, client.HasLabels{quantumv1alpha1.ProjectIDLabel}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	all, err := h.allowed(ctx, "", verb, resource, "")
	if err != nil {
		return nil, err
	}
	out := map[string]project{}
	for i := range list.Items {
		ns := &list.Items[i]
		if ns.DeletionTimestamp != nil {
			continue
		}
		if !all {
			ok, err := h.allowed(ctx, ns.Name, verb, resource, "")
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
		}
		out[ns.Name] = project{ns: ns, id: ns.Labels[quantumv1alpha1.ProjectIDLabel]}
	}
	return out, nil
}

// projectID is the project id of a namespace (its label; the name when unlabelled).
func (h *Handlers) projectID(ctx context.Context, namespace string) string {
	var ns corev1.Namespace
	if err := h.Cache.Get(ctx, client.ObjectKey{Name: namespace}, &ns); err == nil {
		if id := ns.Labels[quantumv1alpha1.ProjectIDLabel]; id != "" {
			return id
		}
	}
	return namespace
}

// await blocks until the cache holds obj at least as new as the written one,
// so that a read right after a write sees it.
func (h *Handlers) await(ctx context.Context, obj client.Object) {
	want, err := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
	if err != nil {
		return
	}
	key := client.ObjectKeyFromObject(obj)
	cur := obj.DeepCopyObject().(client.Object)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if err := h.Cache.Get(ctx, key, cur); err == nil {
			if got, err := strconv.ParseUint(cur.GetResourceVersion(), 10, 64); err == nil && got >= want {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Millisecond):
		}
	}
}
