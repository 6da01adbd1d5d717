package handlers

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/envelope"
	"github.com/tweezer-dev/tweezer/apiserver/query"
	"github.com/tweezer-dev/tweezer/internal/restdoc"
	"github.com/tweezer-dev/tweezer/internal/sequences"
	"github.com/tweezer-dev/tweezer/internal/slimcache"
	"github.com/tweezer-dev/tweezer/internal/workloadconfig"
)

// Workload is a workload of the REST API.
type Workload struct {
	ID             string   `json:"id" format:"uuid"`
	ProjectID      string   `json:"project_id"`
	UserID         string   `json:"user_id"`
	WorkloadType   string   `json:"workload_type" enum:"algorithm_dqgm,qadence_circuit,algorithm_pde_basf,algorithm_pde_equality,algorithm_qel_posco"`
	Backend        string   `json:"backend" enum:"pyq,pyqtorch,digital,emu_c,pulser_basic"`
	Config         any      `json:"config"`
	Status         string   `json:"status" enum:"PENDING,RUNNING,DONE,CANCELED,TIMED_OUT,ERROR,PAUSED"`
	CreatedAt      string   `json:"created_at" format:"date-time"`
	UpdatedAt      string   `json:"updated_at" format:"date-time"`
	StartTimestamp *string  `json:"start_timestamp" format:"date-time"`
	EndTimestamp   *string  `json:"end_timestamp" format:"date-time"`
	Errors         []string `json:"errors"`
	QueuePriority  string   `json:"queue_priority" enum:"LOW,MEDIUM,HIGH" doc:"The project's maximum queue priority, which its workloads run at."`

	created time.Time
	src     *quantumv1alpha1.Workload // what withConfig reads the config of; nil once Config is set
}

// WorkloadV1 carries a signed link to the result.
type WorkloadV1 struct {
	Workload
	ResultLink *string `json:"result_link" doc:"A link to the result, fetchable without a token; null until there is one."`
}

// WorkloadV2 carries the result inline.
type WorkloadV2 struct {
	Workload
	Result any `json:"result" doc:"With pulser_basic: {\"counter\": {...}}; null until there is one."`
}

// WorkloadBody creates a workload.
type WorkloadBody struct {
	ProjectID    string         `json:"project_id" minLength:"1"`
	WorkloadType string         `json:"workload_type" enum:"algorithm_dqgm,qadence_circuit,algorithm_pde_basf,algorithm_pde_equality,algorithm_qel_posco"`
	Backend      string         `json:"backend" enum:"pyq,pyqtorch,digital,emu_c,pulser_basic"`
	Config       map[string]any `json:"config" doc:"With pulser_basic: {\"sequence_builder\": \"...\", \"variables\": {...}, \"runs\": N}."`
}

// WorkloadStatusBody is what a worker reports of a workload.
type WorkloadStatusBody struct {
	Status         string `json:"status" enum:"PENDING,RUNNING,DONE,CANCELED,TIMED_OUT,ERROR,PAUSED"`
	StartTimestamp string `json:"start_timestamp,omitempty" format:"date-time"`
	EndTimestamp   string `json:"end_timestamp,omitempty" format:"date-time"`
}

// WorkloadResultBody is a worker's result.
type WorkloadResultBody struct {
	Result map[string]any `json:"result"`
}

// WorkloadIDPath is the workload id of a route.
type WorkloadIDPath struct {
	WorkloadID string `path:"workload_id" doc:"Workload id."`
}

type workloadListIn struct {
	PageParams
	ID           []string `query:"id,explode"`
	IDStartsWith string   `query:"id__starts_with"`
	ProjectID    []string `query:"project_id,explode"`
	Status       []string `query:"status,explode"`
	StartDate    string   `query:"start_date" doc:"Started running on or after (RFC 3339); a workload that never started matches no start_date."`
	EndDate      string   `query:"end_date" doc:"Finished, failed or was canceled on or before (RFC 3339); an unfinished workload matches no end_date."`
}

type workloadV1Out struct{ Body envelope.Envelope[WorkloadV1] }
type workloadV2Out struct{ Body envelope.Envelope[WorkloadV2] }
type workloadPage struct{ Body envelope.Page[WorkloadV1] }
type workloadResultIn struct {
	WorkloadIDPath
	Expires   string `query:"expires" doc:"Unix time the link expires at (signed links)."`
	Signature string `query:"signature" doc:"HMAC of the workload id and expiry (signed links)."`
}
type workloadResultOut struct {
	Body any `doc:"The workload's result, e.g. {\"counter\": {...}}."`
}

func (h *Handlers) registerWorkloads(api huma.API) {
	huma.Register(api, h.op("create-workload", http.MethodPost, "/api/v1/workloads", "workloads", "Create a workload"), h.createWorkload)
	huma.Register(api, h.op("list-workloads", http.MethodGet, "/api/v1/workloads", "workloads", "List workloads"), h.listWorkloads)
	huma.Register(api, h.op("get-workload-v1", http.MethodGet, "/api/v1/workloads/{workload_id}", "workloads", "Get a workload with a link to its result"), h.getWorkloadV1)
	huma.Register(api, h.op("get-workload", http.MethodGet, "/api/v2/workloads/{workload_id}", "workloads", "Get a workload with its result"), h.getWorkloadV2)
	huma.Register(api, h.op("cancel-workload", http.MethodPut, "/api/v1/workloads/{workload_id}/cancel", "workloads", "Cancel a workload (its owner)"), h.cancelWorkload)
	huma.Register(api, h.op("set-workload-status", http.MethodPut, "/api/v1/workloads/{workload_id}/status", "workers", "Report a workload's status (worker)"), h.setWorkloadStatus)
	huma.Register(api, h.op("set-workload-result", http.MethodPost, "/api/v1/workloads/{workload_id}/result", "workers", "Store a workload's result (worker)"), h.setWorkloadResult)
	huma.Register(api, h.op("add-workload-errors", http.MethodPost, "/api/v1/workloads/{workload_id}/errors", "workers", "Append errors to a workload (worker)"), h.addWorkloadErrors)
	result := h.op("workload-result", http.MethodGet, "/api/v1/workloads/{workload_id}/result", "workloads", "The workload's result (a signed link, or a bearer token)")
	result.Metadata = map[string]any{MetaAuth: "optional"}
	result.Security = []map[string][]string{{"bearer": {}}, {}}
	huma.Register(api, result, h.workloadResult)
}

// workloadPhase is the API status of a workload: its phase, PENDING when unset.
func workloadPhase(w *quantumv1alpha1.Workload) string {
	return cmp.Or(string(w.Status.Phase), string(quantumv1alpha1.WorkloadPending))
}

// workloadDoc maps a workload of the project ns, without its config, which
// withConfig sets.
func (h *Handlers) workloadDoc(ctx context.Context, w *quantumv1alpha1.Workload) Workload {
	projectID, qp := h.projectID(ctx, w.Namespace), quantumv1alpha1.QueuePriorityMedium
	if ns, err := h.projectByID(ctx, projectID); err == nil && ns != nil && ns.Labels[quantumv1alpha1.MaxQueuePriorityLabel] != "" {
		qp = quantumv1alpha1.QueuePriority(ns.Labels[quantumv1alpha1.MaxQueuePriorityLabel])
	}
	d := Workload{
		QueuePriority: string(qp),
		ID:            w.Name, ProjectID: projectID, UserID: w.Spec.UserID,
		WorkloadType: string(w.Spec.WorkloadType), Backend: string(w.Spec.Backend),
		Status:    workloadPhase(w),
		CreatedAt: restdoc.Time(w.CreationTimestamp.Time), UpdatedAt: restdoc.Time(restdoc.UpdatedAt(&w.ObjectMeta)),
		Errors: append([]string{}, w.Status.Errors...), created: w.CreationTimestamp.Time, src: w,
	}
	if w.Status.StartTime != nil {
		s := restdoc.Time(w.Status.StartTime.Time)
		d.StartTimestamp = &s
	}
	if w.Status.EndTime != nil {
		s := restdoc.Time(w.Status.EndTime.Time)
		d.EndTimestamp = &s
	}
	return d
}

// withConfig sets the config of workload documents, as sent. The caches
// hold no large config (slimcache), and the facade keeps one in a ConfigMap
// (spec.configFrom): those are read from the API server, for the documents
// served only, a few at a time.
func (h *Handlers) withConfig(ctx context.Context, docs ...*Workload) error {
	return each(len(docs), func(i int) error {
		w := docs[i].src
		if w == nil {
			return nil // set already
		}
		if slimcache.Trimmed(w) {
			full := &quantumv1alpha1.Workload{}
			if err := h.Client.Get(ctx, client.ObjectKeyFromObject(w), full); err != nil {
				if !apierrors.IsNotFound(err) {
					return err
				}
				full = w // gone since: served without its config
			}
			w = full
		}
		raw, err := sequences.ServedWorkloadConfig(ctx, h.Client, w)
		if err != nil {
			return err
		}
		docs[i].Config = restdoc.RawJSON(raw)
		return nil
	})
}

// workloadV2 is a workload with its result inline: the response of every
// workload route but the v1 read, the list and the status report.
func (h *Handlers) workloadV2(ctx context.Context, w *quantumv1alpha1.Workload) (*workloadV2Out, error) {
	return h.workloadV2With(ctx, w, h.workloadDoc(ctx, w))
}

// workloadV2With is workloadV2 of the document doc of w.
func (h *Handlers) workloadV2With(ctx context.Context, w *quantumv1alpha1.Workload, doc Workload) (*workloadV2Out, error) {
	out := WorkloadV2{Workload: doc}
	if err := h.withConfig(ctx, &out.Workload); err != nil {
		return nil, internal(err)
	}
	if w.Status.Result != nil {
		out.Result = restdoc.RawJSON(w.Status.Result.Raw)
	}
	return &workloadV2Out{Body: envelope.OK(out)}, nil
}

// workloadV1 is a workload with a link to its result, without its config
// (withConfig sets it).
func (h *Handlers) workloadV1(ctx context.Context, w *quantumv1alpha1.Workload) WorkloadV1 {
	out := WorkloadV1{Workload: h.workloadDoc(ctx, w)}
	if w.Status.Result != nil {
		link := h.PublicURL + "/api/v1/workloads/" + url.PathEscape(w.Name) + "/result?" + h.signedQuery("workload", w).Encode()
		out.ResultLink = &link
	}
	return out
}

// workloadV1Out is the v1 response of one workload, with its config.
func (h *Handlers) workloadV1Out(ctx context.Context, w *quantumv1alpha1.Workload) (*workloadV1Out, error) {
	out := h.workloadV1(ctx, w)
	if err := h.withConfig(ctx, &out.Workload); err != nil {
		return nil, internal(err)
	}
	return &workloadV1Out{Body: envelope.OK(out)}, nil
}

// workloadFor finds a workload and checks the caller may do verb (on sub) to it.
func (h *Handlers) workloadFor(ctx context.Context, id, verb, sub string) (*quantumv1alpha1.Workload, error) {
	var list quantumv1alpha1.WorkloadList
	if err := h.byName(ctx, &list, id); err != nil {
		return nil, internal(err)
	}
	w, ok, err := firstVisible(ctx, h, ptrs(list.Items), "workloads", verb, sub)
	if err != nil {
		return nil, internal(err)
	}
	notFound := envelope.NotFound("workload", id)
	if !ok {
		return nil, notFound
	}
	if err := h.access(ctx, w.Namespace, verb, "workloads", sub, notFound); err != nil {
		return nil, err
	}
	return w, nil
}

type createWorkloadIn struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Makes retries safe: a retry with the same key (same user and project) returns the workload the first attempt created; with a different body it is 422."`
	Body           WorkloadBody
}

func (h *Handlers) createWorkload(ctx context.Context, in *createWorkloadIn) (*workloadV2Out, error) {
	ns, err := h.projectByID(ctx, in.Body.ProjectID)
	if err != nil {
		return nil, internal(err)
	}
	notFound := envelope.NotFound("project", in.Body.ProjectID)
	if ns == nil {
		return nil, notFound
	}
	if err := h.access(ctx, ns.Name, "create", "workloads", "", notFound); err != nil {
		return nil, err
	}
	if in.Body.Config == nil {
		return nil, envelope.Invalid("required: an object", "body", "config")
	}
	raw, err := json.Marshal(in.Body.Config)
	if err != nil {
		return nil, envelope.Invalid(err.Error(), "body", "config")
	}
	// The built-in backend's config is checked now rather than by its runner.
	if in.Body.Backend == string(quantumv1alpha1.BackendPulserBasic) {
		if _, err := workloadconfig.Parse(raw); err != nil {
			return nil, envelope.Invalid(err.Error(), "body", "config")
		}
	}
	w := &quantumv1alpha1.Workload{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: uuid.NewString()},
		Spec: quantumv1alpha1.WorkloadSpec{
			WorkloadType: quantumv1alpha1.WorkloadType(in.Body.WorkloadType), Backend: quantumv1alpha1.BackendName(in.Body.Backend),
			Config: &apiextensionsv1.JSON{Raw: raw}, UserID: user(ctx).Name,
		},
	}
	idem, err := newIdempotency("workload", ns.Name, user(ctx).Name, in.IdempotencyKey, in.Body)
	if err != nil {
		return nil, err
	}
	idem.mark(w)
	if err := h.fits(w, "workload"); err != nil {
		return nil, err
	}
	cfg := sequences.SplitWorkload(w, h.Limits.InlineSequenceBytes)
	created, err := idem.create(ctx, h.Client, w, "workload")
	if err != nil {
		return nil, writeErr(err, "body")
	}
	if cfg != nil && w.Spec.ConfigFrom == cfg.Name { // (a retry's first workload may keep it inline)
		// As a batch's sequences (storeBatch): the ConfigMap follows the
		// workload at once (the controller starts it once it is there),
		// and the workload is withdrawn if it cannot be written.
		ctx = context.WithoutCancel(ctx)
		sequences.OwnWorkload(cfg, w)
		withdraw := func() error {
			if err := h.Client.Delete(ctx, w, client.Preconditions{UID: &w.UID}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("withdrawing workload %s: %w", w.Name, err)
			}
			return nil
		}
		if err := h.writeKept(ctx, cfg, "workload", "config", created, withdraw); err != nil {
			return nil, err
		}
	}
	h.await(ctx, w)
	// The config as sent (a retry with the same Idempotency-Key sent the
	// same), not read back.
	doc := h.workloadDoc(ctx, w)
	doc.Config, doc.src = restdoc.RawJSON(raw), nil
	return h.workloadV2With(ctx, w, doc)
}

var workloadOrder = map[string]func(a, b *WorkloadV1) int{
	"created_at": func(a, b *WorkloadV1) int { return a.created.Compare(b.created) },
	"updated_at": func(a, b *WorkloadV1) int { return cmp.Compare(a.UpdatedAt, b.UpdatedAt) },
	"id":         func(a, b *WorkloadV1) int { return 0 },
	"status":     func(a, b *WorkloadV1) int { return cmp.Compare(a.Status, b.Status) },
	"backend":    func(a, b *WorkloadV1) int { return cmp.Compare(a.Backend, b.Backend) },
}

func (h *Handlers) listWorkloads(ctx context.Context, in *workloadListIn) (*workloadPage, error) {
	by, ok := workloadOrder[in.OrderBy]
	if !ok {
		return nil, envelope.Invalid("must be one of created_at, updated_at, id, status, backend", "query", "order_by")
	}
	desc, err := query.Direction(in.OrderDirection)
	if err != nil {
		return nil, envelope.Invalid(err.Error(), "query", "order_by_direction")
	}
	start, end, err := dates(in.StartDate, in.EndDate)
	if err != nil {
		return nil, err
	}
	projects, err := h.projects(ctx, "list", "workloads")
	if err != nil {
		return nil, internal(err)
	}
	var items []WorkloadV1
	for ns, p := range projects {
		if len(in.ProjectID) > 0 && !slices.Contains(in.ProjectID, p.id) {
			continue
		}
		var list quantumv1alpha1.WorkloadList
		if err := h.Cache.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return nil, internal(err)
		}
		for i := range list.Items {
			w := &list.Items[i]
			if (len(in.ID) > 0 && !slices.Contains(in.ID, w.Name)) || !strings.HasPrefix(w.Name, in.IDStartsWith) ||
				(len(in.Status) > 0 && !slices.Contains(in.Status, workloadPhase(w))) ||
				(start != nil && (w.Status.StartTime == nil || w.Status.StartTime.Time.Before(*start))) ||
				(end != nil && (w.Status.EndTime == nil || w.Status.EndTime.Time.After(*end))) {
				continue
			}
			items = append(items, h.workloadV1(ctx, w))
		}
	}
	slices.SortFunc(items, func(a, b WorkloadV1) int {
		c := cmp.Or(by(&a, &b), cmp.Compare(a.ID, b.ID))
		if desc {
			return -c
		}
		return c
	})
	page := window(items, in.Offset, in.Limit)
	docs := make([]*Workload, len(page))
	for i := range page {
		docs[i] = &page[i].Workload
	}
	if err := h.withConfig(ctx, docs...); err != nil {
		return nil, internal(err)
	}
	return &workloadPage{Body: envelope.NewPage(page, in.Offset, len(items))}, nil
}

func (h *Handlers) getWorkloadV1(ctx context.Context, in *WorkloadIDPath) (*workloadV1Out, error) {
	w, err := h.workloadFor(ctx, in.WorkloadID, "get", "")
	if err != nil {
		return nil, err
	}
	return h.workloadV1Out(ctx, w)
}

func (h *Handlers) getWorkloadV2(ctx context.Context, in *WorkloadIDPath) (*workloadV2Out, error) {
	w, err := h.workloadFor(ctx, in.WorkloadID, "get", "")
	if err != nil {
		return nil, err
	}
	return h.workloadV2(ctx, w)
}

func (h *Handlers) workloadResult(ctx context.Context, in *workloadResultIn) (*workloadResultOut, error) {
	var w *quantumv1alpha1.Workload
	if in.Signature != "" {
		var list quantumv1alpha1.WorkloadList
		if err := h.byName(ctx, &list, in.WorkloadID); err != nil {
			return nil, internal(err)
		}
		w = signedOne(h, "workload", ptrs(list.Items), in.Expires, in.Signature)
	}
	switch {
	case w != nil:
	case user(ctx) != nil:
		var err error
		if w, err = h.workloadFor(ctx, in.WorkloadID, "get", ""); err != nil {
			return nil, err
		}
	case in.Signature != "":
		return nil, envelope.New(http.StatusUnauthorized, "the result link is invalid or has expired")
	default:
		return nil, envelope.New(http.StatusUnauthorized, "a bearer token or a signed link is required")
	}
	if w.Status.Result == nil {
		return nil, envelope.Errorf(http.StatusNotFound, "workload %s has no result yet (status %s)", w.Name, workloadPhase(w))
	}
	return &workloadResultOut{Body: restdoc.RawJSON(w.Status.Result.Raw)}, nil
}

// cancelWorkload records the cancel intent (spec.canceled); the workload
// controller stops the runner and writes CANCELED. The route answers once
// that is in the cache (at most settleTimeout later), as the reference's
// cancel answers with the canceled workload.
func (h *Handlers) cancelWorkload(ctx context.Context, in *WorkloadIDPath) (*workloadV2Out, error) {
	cached, err := h.workloadFor(ctx, in.WorkloadID, "update", "")
	if err != nil {
		return nil, err
	}
	if cached.Spec.UserID != user(ctx).Name {
		return nil, envelope.Errorf(http.StatusForbidden, "only the owner of workload %s may cancel it", cached.Name)
	}
	if cached.Status.Phase.Terminal() {
		return nil, envelope.Errorf(http.StatusConflict, "workload %s is already %s", cached.Name, cached.Status.Phase)
	}
	ctx = context.WithoutCancel(ctx) // as in cancel
	w := cached.DeepCopy()
	orig := w.DeepCopy()
	w.Spec.Canceled = true
	if err := h.Client.Patch(ctx, w, client.MergeFrom(orig)); err != nil {
		return nil, writeErr(err)
	}
	if err := h.awaitWorkloadEnded(ctx, w); err != nil {
		return nil, internal(err)
	}
	return h.workloadV2(ctx, w)
}

// awaitWorkloadEnded waits until the cache shows the workload in a terminal
// phase (the controller's answer to a cancel); w is refreshed in place.
func (h *Handlers) awaitWorkloadEnded(ctx context.Context, w *quantumv1alpha1.Workload) error {
	key := client.ObjectKeyFromObject(w)
	return h.settle(ctx, func() (bool, error) {
		cur := &quantumv1alpha1.Workload{}
		if err := h.Cache.Get(ctx, key, cur); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		*w = *cur
		return w.Status.Phase.Terminal(), nil
	})
}

// patchWorkloadStatus applies a worker's change to a workload's status,
// checked against the resourceVersion.
func (h *Handlers) patchWorkloadStatus(ctx context.Context, id string, change func(*quantumv1alpha1.Workload) error) (*quantumv1alpha1.Workload, error) {
	cached, err := h.workloadFor(ctx, id, "update", "status")
	if err != nil {
		return nil, err
	}
	w := cached.DeepCopy()
	// Checked against the resourceVersion, like the batch and job worker
	// routes: a change judged on a stale read is judged again on a fresh one.
	err = h.checkedStatusPatch(ctx, w, func() error {
		if err := change(w); err != nil {
			return err
		}
		return h.fits(w, "workload")
	})
	if err != nil {
		return nil, writeErr(err, "body")
	}
	h.await(ctx, w)
	return w, nil
}

type workloadStatusIn struct {
	WorkloadIDPath
	Body WorkloadStatusBody
}

func (h *Handlers) setWorkloadStatus(ctx context.Context, in *workloadStatusIn) (*workloadV1Out, error) {
	start, err := parseTime(in.Body.StartTimestamp, "body", "start_timestamp")
	if err != nil {
		return nil, err
	}
	end, err := parseTime(in.Body.EndTimestamp, "body", "end_timestamp")
	if err != nil {
		return nil, err
	}
	w, err := h.patchWorkloadStatus(ctx, in.WorkloadID, func(w *quantumv1alpha1.Workload) error {
		if err := checkTransition("workload", w.Name, workloadPhase(w), in.Body.Status, func(s string) bool { return quantumv1alpha1.WorkloadPhase(s).Terminal() }); err != nil {
			return err
		}
		w.Status.Phase = quantumv1alpha1.WorkloadPhase(in.Body.Status)
		if start != nil {
			w.Status.StartTime = start
		}
		if end != nil {
			w.Status.EndTime = end
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return h.workloadV1Out(ctx, w)
}

type workloadResultBodyIn struct {
	WorkloadIDPath
	Body WorkloadResultBody
}

func (h *Handlers) setWorkloadResult(ctx context.Context, in *workloadResultBodyIn) (*workloadV2Out, error) {
	if in.Body.Result == nil {
		return nil, envelope.Invalid("required: an object", "body", "result")
	}
	raw, err := json.Marshal(in.Body.Result)
	if err != nil {
		return nil, envelope.Invalid(err.Error(), "body", "result")
	}
	w, err := h.patchWorkloadStatus(ctx, in.WorkloadID, func(w *quantumv1alpha1.Workload) error {
		if w.Status.Result != nil && bytes.Equal(w.Status.Result.Raw, raw) {
			return nil
		}
		w.Status.Result = &apiextensionsv1.JSON{Raw: raw}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return h.workloadV2(ctx, w)
}

type workloadErrorsIn struct {
	WorkloadIDPath
	Body JobErrorsBody
}

func (h *Handlers) addWorkloadErrors(ctx context.Context, in *workloadErrorsIn) (*workloadV2Out, error) {
	w, err := h.patchWorkloadStatus(ctx, in.WorkloadID, func(w *quantumv1alpha1.Workload) error {
		w.Status.Errors = append(w.Status.Errors, in.Body.Errors...)
		if n := len(w.Status.Errors); n > maxJobErrors {
			w.Status.Errors = w.Status.Errors[n-maxJobErrors:]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return h.workloadV2(ctx, w)
}
