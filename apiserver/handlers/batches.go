package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/budget"
	"github.com/tweezer-dev/tweezer/apiserver/envelope"
	"github.com/tweezer-dev/tweezer/apiserver/query"
	"github.com/tweezer-dev/tweezer/internal/emulationconfig"
	"github.com/tweezer-dev/tweezer/internal/restdoc"
	"github.com/tweezer-dev/tweezer/internal/sequences"
	"github.com/tweezer-dev/tweezer/internal/webhooktarget"
)

// JobInput is one job of a batch creation or addition.
type JobInput struct {
	_         struct{}       `additionalProperties:"true"`
	Runs      int32          `json:"runs" minimum:"1" maximum:"10000000" doc:"Number of shots, > 0, at most the device's max_runs (from its specs) and 10,000,000."`
	Variables map[string]any `json:"variables,omitempty" doc:"Values of the sequence's variables."`
	Sequence  *string        `json:"sequence,omitempty" nullable:"true" doc:"The job's own serialized Pulser sequence, run instead of the batch's sequence_builder (pasqal-cloud >= 0.22); required when the batch has none."`
}

// CreateBatchBody is the body of POST /api/v1/batches.
type CreateBatchBody struct {
	_                    struct{}   `additionalProperties:"true"`
	ProjectID            string     `json:"project_id" minLength:"1" doc:"The project (a namespace labelled with this id)."`
	SequenceBuilder      *string    `json:"sequence_builder,omitempty" nullable:"true" doc:"Serialized Pulser sequence (abstract representation) of the jobs; may be null when every job has its own sequence."`
	DeviceType           string     `json:"device_type,omitempty" pattern:"^[A-Z][A-Z0-9_]*$" maxLength:"63" doc:"Device type: one of the documented ones or any other a Device declares (e.g. FRESNEL_CAN1); FRESNEL when neither this nor emulator is given."`
	Emulator             string     `json:"emulator,omitempty" pattern:"^[A-Z][A-Z0-9_]*$" maxLength:"63" doc:"Legacy alias of device_type."`
	Configuration        any        `json:"configuration,omitempty" doc:"Execution configuration: any JSON value, usually an object such as {\"dt\": 10.0, \"precision\": \"normal\"}."`
	BackendConfiguration string     `json:"backend_configuration,omitempty" doc:"Serialized emulation configuration, returned as is. A Pulser EmulationConfig abstract repr is validated against Pulser 1.9's config-schema.json and must be one the emulators honour (runners/engine/RESULTS.md); other values are stored and not read."`
	Priority             float64    `json:"priority,omitempty" doc:"A number; batches of the same queue priority run higher first. Stored as a whole number: a fraction is refused."`
	Tags                 []string   `json:"tags,omitempty" uniqueItems:"true" maxItems:"64"`
	Webhook              string     `json:"webhook,omitempty" pattern:"^https?://" maxLength:"2048" doc:"URL that receives the batch once it is terminal."`
	Complete             *bool      `json:"complete,omitempty" doc:"Legacy inverse of open."`
	Open                 *bool      `json:"open,omitempty" doc:"An open batch accepts more jobs until closed; default false."`
	Jobs                 []JobInput `json:"jobs,omitempty" maxItems:"1000" doc:"Default []: a closed batch without jobs is DONE at once."`
	QueuePriority        string     `json:"queue_priority,omitempty" enum:"LOW,MEDIUM,HIGH" doc:"At most the project's maximum (a namespace setting, MEDIUM by default), which is also the default."`
}

// BatchIDPath is the batch id of a route.
type BatchIDPath struct {
	BatchID string `path:"batch_id" doc:"Batch id."`
}

type batchOut struct {
	Body envelope.Envelope[restdoc.BatchWithJobs]
}

type batchV1Out struct {
	Body envelope.Envelope[restdoc.BatchWithResults]
}

type batchV2Out struct {
	Body envelope.Envelope[restdoc.BatchV2]
}

type batchListIn struct {
	PageParams
	BatchFilterParams
}

type batchListOut struct {
	Body envelope.Page[restdoc.Batch]
}

// CancelBatchesBody is the body of PATCH /api/v1/batches/cancel.
type CancelBatchesBody struct {
	BatchIDs []string `json:"batch_ids" maxItems:"1000"`
}

// CanceledBatches reports a multi-batch cancellation.
type CanceledBatches struct {
	Batches []restdoc.Batch   `json:"batches"`
	Errors  map[string]string `json:"errors" doc:"Why each batch that was not canceled was not."`
}

// CanceledJobs reports a job cancellation in a batch.
type CanceledJobs struct {
	Jobs   []restdoc.Job     `json:"jobs"`
	Errors map[string]string `json:"errors" doc:"Why each matching job that was not canceled was not."`
}

// ResultLinks maps job ids to their results links.
type ResultLinks struct {
	Links  map[string]string `json:"results_links" doc:"Results link of each job that has a result."`
	Errors map[string]string `json:"errors" doc:"Why a matching job has no link."`
}

// LastActivity is the latest batch activity of a project.
type LastActivity struct {
	ProjectID        string  `json:"project_id"`
	LastActivityDate *string `json:"last_activity_date" format:"date-time"`
}

// TagsBody replaces a batch's tags: {"tags": [...]}, or the bare list the SDK sends.
type TagsBody struct {
	Tags []string
}

// UnmarshalJSON accepts both forms.
func (t *TagsBody) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &t.Tags); err == nil {
		return nil
	}
	var obj struct {
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return err
	}
	t.Tags = obj.Tags
	return nil
}

// Schema documents both forms.
func (t *TagsBody) Schema(r huma.Registry) *huma.Schema {
	list := &huma.Schema{Type: huma.TypeArray, Items: &huma.Schema{Type: huma.TypeString}, Description: "Unique tags of at most 256 characters; at most 64."}
	return &huma.Schema{OneOf: []*huma.Schema{
		{Type: huma.TypeObject, Properties: map[string]*huma.Schema{"tags": list}, Required: []string{"tags"}},
		list,
	}}
}

func (h *Handlers) registerBatches(api huma.API) {
	huma.Register(api, h.op("list-batches", http.MethodGet, "/api/v1/batches", "batches", "List batches (without jobs)"), h.listBatches)
	create := h.op("create-batch", http.MethodPost, "/api/v1/batches", "batches", "Create a batch with its jobs (all or nothing)")
	create.Errors = append(create.Errors, http.StatusRequestEntityTooLarge)
	huma.Register(api, create, h.createBatch)
	huma.Register(api, h.op("get-batch-v1", http.MethodGet, "/api/v1/batches/{batch_id}", "batches", "Get a batch with its jobs, their results and the ids of its rebatches"), h.getBatchV1)
	huma.Register(api, h.op("get-batch", http.MethodGet, "/api/v2/batches/{batch_id}", "batches", "Get a batch with the ids of its jobs and rebatches"), h.getBatch)
	huma.Register(api, h.op("cancel-batch-v1", http.MethodPut, "/api/v1/batches/{batch_id}/cancel", "batches", "Cancel a batch and its unfinished jobs"), withResults(h, h.cancelBatch))
	huma.Register(api, h.op("cancel-batch", http.MethodPatch, "/api/v2/batches/{batch_id}/cancel", "batches", "Cancel a batch and its unfinished jobs"), h.cancelBatch)
	huma.Register(api, h.op("cancel-batches-v1", http.MethodPatch, "/api/v1/batches/cancel", "batches", "Cancel many batches"), h.cancelBatches)
	huma.Register(api, h.op("cancel-batches", http.MethodPatch, "/api/v2/batches/cancel", "batches", "Cancel many batches"), h.cancelBatches)
	huma.Register(api, h.op("close-batch-v1", http.MethodPut, "/api/v1/batches/{batch_id}/complete", "batches", "Close an open batch"), withResults(h, h.closeBatch))
	huma.Register(api, h.op("close-batch", http.MethodPatch, "/api/v2/batches/{batch_id}/complete", "batches", "Close an open batch"), h.closeBatch)
	huma.Register(api, h.op("add-jobs-v1", http.MethodPost, "/api/v1/batches/{batch_id}/jobs", "batches", "Add jobs to an open batch"), withResults(h, h.addJobs))
	huma.Register(api, h.op("add-jobs", http.MethodPost, "/api/v2/batches/{batch_id}/jobs", "batches", "Add jobs to an open batch"), h.addJobs)
	huma.Register(api, h.op("rebatch", http.MethodPost, "/api/v1/batches/{batch_id}/rebatch", "batches", "Create a new batch from copies of the matching jobs"), h.rebatch)
	huma.Register(api, h.op("cancel-batch-jobs-v1", http.MethodPut, "/api/v1/batches/{batch_id}/cancel/jobs", "batches", "Cancel the matching jobs of a batch"), h.cancelBatchJobsV1)
	huma.Register(api, h.op("cancel-batch-jobs", http.MethodPatch, "/api/v2/batches/{batch_id}/cancel/jobs", "batches", "Cancel the matching jobs of a batch"), h.cancelBatchJobs)
	huma.Register(api, h.op("batch-results-links", http.MethodGet, "/api/v1/batches/{batch_id}/results_link", "batches", "Results links of the batch's jobs"), h.batchResultsLinks)
	huma.Register(api, h.op("set-batch-tags", http.MethodPatch, "/api/v1/batches/{batch_id}/tags", "batches", "Replace a batch's tags"), h.setTags)
	huma.Register(api, h.op("batches-last-activity", http.MethodGet, "/api/v1/batches/last_activity", "batches", "Latest batch activity per project (superuser)"), h.lastActivity)
}

func (h *Handlers) listBatches(ctx context.Context, in *batchListIn) (*batchListOut, error) {
	f := &query.BatchFilter{
		IDs: in.ID, IDPrefix: in.IDStartsWith, ProjectIDs: in.ProjectID, UserIDs: in.UserID,
		DeviceTypes: in.DeviceType, Statuses: in.Status, QueuePriorities: in.QueuePriority, Tag: in.Tag,
	}
	for _, s := range in.Status {
		switch quantumv1alpha1.BatchStatus(s) {
		case quantumv1alpha1.BatchPending, quantumv1alpha1.BatchRunning, quantumv1alpha1.BatchDone, quantumv1alpha1.BatchCanceled,
			quantumv1alpha1.BatchTimedOut, quantumv1alpha1.BatchError, quantumv1alpha1.BatchPaused:
		default:
			return nil, envelope.Invalid("not a batch status: "+s, "query", "status")
		}
	}
	var err error
	if f.Complete, err = optBool(in.Complete, "complete"); err != nil {
		return nil, err
	}
	if f.Open, err = optBool(in.Open, "open"); err != nil {
		return nil, err
	}
	if f.MinJobs, err = optInt(in.MinJobs, "min_jobs"); err != nil {
		return nil, err
	}
	if f.MaxJobs, err = optInt(in.MaxJobs, "max_jobs"); err != nil {
		return nil, err
	}
	if f.Start, f.End, err = dates(in.StartDate, in.EndDate); err != nil {
		return nil, err
	}
	desc, err := query.Direction(in.OrderDirection)
	if err != nil {
		return nil, envelope.Invalid(err.Error(), "query", "order_by_direction")
	}

	projects, err := h.projects(ctx, "list", "batches")
	if err != nil {
		return nil, internal(err)
	}
	candidates, err := h.candidateBatches(projects, f)
	if err != nil {
		return nil, internal(err)
	}
	ds, err := h.deviceStatuses(ctx)
	if err != nil {
		return nil, internal(err)
	}
	docs := make([]*restdoc.Batch, 0, len(candidates))
	src := make(map[*restdoc.Batch]*quantumv1alpha1.Batch, len(candidates))
	for _, b := range candidates {
		doc, _, err := h.batchDoc(ctx, b, projects[b.Namespace].id, ds)
		if err != nil {
			return nil, internal(err)
		}
		if f.Match(&doc) {
			docs = append(docs, &doc)
			src[&doc] = b
		}
	}
	if err := query.SortBatches(docs, in.OrderBy, desc); err != nil {
		return nil, envelope.Invalid(err.Error(), "query", "order_by")
	}
	if err := h.withBatchBodies(ctx, window(docs, in.Offset, in.Limit), src); err != nil {
		return nil, internal(err)
	}
	page := query.Window(docs, in.Offset, in.Limit)
	return &batchListOut{Body: envelope.NewPage(page, in.Offset, len(docs))}, nil
}

// candidateBatches reads from the cache the batches of visible projects that
// may match f, through the most selective index.
func (h *Handlers) candidateBatches(projects map[string]project, f *query.BatchFilter) ([]*quantumv1alpha1.Batch, error) {
	var index string
	var keys []string
	switch {
	case len(f.IDs) > 0:
		index, keys = IndexName, f.IDs
	case len(f.Statuses) > 0:
		index, keys = IndexPhase, f.Statuses
	default:
		index = IndexNamespace
		for ns, p := range projects {
			if len(f.ProjectIDs) == 0 || slices.Contains(f.ProjectIDs, p.id) {
				keys = append(keys, ns)
			}
		}
	}
	var out []*quantumv1alpha1.Batch
	for _, key := range dedupe(keys) {
		list, err := h.batchesBy(index, key)
		if err != nil {
			return nil, err
		}
		for _, b := range list {
			if _, ok := projects[b.Namespace]; ok {
				out = append(out, b)
			}
		}
	}
	return out, nil
}

func (h *Handlers) getBatch(ctx context.Context, in *BatchIDPath) (*batchV2Out, error) {
	b, err := h.batchFor(ctx, in.BatchID, "get", "")
	if err != nil {
		return nil, err
	}
	doc, err := h.batchWithJobs(ctx, b)
	if err != nil {
		return nil, err
	}
	children, err := h.childIDs(b)
	if err != nil {
		return nil, internal(err)
	}
	out := restdoc.BatchV2{BatchWithJobs: doc, JobIDs: make([]string, len(doc.Jobs)), ChildIDs: children}
	for i := range doc.Jobs {
		out.JobIDs[i] = doc.Jobs[i].ID
	}
	return &batchV2Out{Body: envelope.OK(out)}, nil
}

func (h *Handlers) getBatchV1(ctx context.Context, in *BatchIDPath) (*batchV1Out, error) {
	b, err := h.batchFor(ctx, in.BatchID, "get", "")
	if err != nil {
		return nil, err
	}
	return h.batchWithResults(ctx, b)
}

// batchWithResults is the v1 document of a batch: its jobs with their
// results, and the ids of its rebatches. Full results are inlined, in
// creation order, up to Limits.MaxInlineResultsBytes in all; from the first
// job whose full result does not fit on, jobs carry their counter
// (full_result with raw null) and no result ConfigMap is read for them:
// GET /api/v1/jobs/{id} and the results links serve the rest.
func (h *Handlers) batchWithResults(ctx context.Context, b *quantumv1alpha1.Batch) (*batchV1Out, error) {
	ds, err := h.deviceStatuses(ctx)
	if err != nil {
		return nil, internal(err)
	}
	pid := h.projectID(ctx, b.Namespace)
	if b, err = h.fullBatch(ctx, b); err != nil {
		return nil, internal(err)
	}
	doc, jobs, err := h.batchDoc(ctx, b, pid, ds)
	if err != nil {
		return nil, internal(err)
	}
	if jobs, err = h.fullJobs(ctx, jobs, b); err != nil {
		return nil, internal(err)
	}
	children, err := h.childIDs(b)
	if err != nil {
		return nil, internal(err)
	}
	out := restdoc.BatchWithResults{Batch: doc, Jobs: make([]restdoc.JobWithResult, len(jobs)), ChildIDs: children}
	left, bounded := h.Limits.MaxInlineResultsBytes, h.Limits.MaxInlineResultsBytes > 0
	for i, j := range jobs {
		var stored []byte
		if !bounded || left > 0 {
			if stored, err = h.storedResult(ctx, j); err != nil {
				return nil, internal(err)
			}
			if bounded {
				if left -= len(stored); left < 0 {
					stored = nil
				}
			}
		}
		out.Jobs[i] = restdoc.WithResult(j, pid, stored)
	}
	return &batchV1Out{Body: envelope.OK(out)}, nil
}

// withResults serves a batch mutation on a v1 route: v1 responses carry the
// jobs' results, as v1 reads do.
func withResults[I any](h *Handlers, mutate func(context.Context, *I) (*batchOut, error)) func(context.Context, *I) (*batchV1Out, error) {
	return func(ctx context.Context, in *I) (*batchV1Out, error) {
		out, err := mutate(ctx, in)
		if err != nil {
			return nil, err
		}
		// Written: the answer is read to its end even if the request ended.
		ctx = context.WithoutCancel(ctx)
		b, err := h.batchFor(ctx, out.Body.Data.ID, "get", "")
		if err != nil {
			return nil, err
		}
		return h.batchWithResults(ctx, b)
	}
}

type createBatchIn struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Makes retries safe: a retry with the same key (same user and project) returns the batch the first attempt created; with a different body it is 422."`
	Body           CreateBatchBody
}

func (h *Handlers) createBatch(ctx context.Context, in *createBatchIn) (*batchOut, error) {
	body := &in.Body
	deviceType, typeField := quantumv1alpha1.DeviceTypeFresnel, "device_type"
	switch {
	case body.DeviceType != "" && body.Emulator != "" && body.DeviceType != body.Emulator:
		return nil, envelope.Invalid(fmt.Sprintf("device_type %s and emulator %s disagree; send device_type only", body.DeviceType, body.Emulator), "body", "emulator")
	case body.DeviceType != "":
		deviceType = quantumv1alpha1.DeviceType(body.DeviceType)
	case body.Emulator != "":
		deviceType, typeField = quantumv1alpha1.DeviceType(body.Emulator), "emulator"
	}
	if err := h.knownDeviceType(ctx, deviceType, typeField); err != nil {
		return nil, err
	}
	open := false
	switch {
	case body.Open != nil && body.Complete != nil && *body.Open == *body.Complete:
		return nil, envelope.Invalid("open and complete contradict each other", "body", "complete")
	case body.Open != nil:
		open = *body.Open
	case body.Complete != nil:
		open = !*body.Complete
	}
	priority, err := wholeNumber(body.Priority, "priority")
	if err != nil {
		return nil, err
	}
	seq := ""
	if body.SequenceBuilder != nil {
		seq = *body.SequenceBuilder
	}
	if n := len(seq); h.Limits.MaxSequenceBytes > 0 && n > h.Limits.MaxSequenceBytes {
		return nil, envelope.Errorf(http.StatusRequestEntityTooLarge, "sequence_builder is %d bytes; the limit is %d bytes (limit: sequence size)", n, h.Limits.MaxSequenceBytes)
	}
	if err := h.checkWebhook(body.Webhook); err != nil {
		return nil, err
	}
	if seq == "" && !slices.ContainsFunc(body.Jobs, func(j JobInput) bool { return j.Sequence != nil && *j.Sequence != "" }) {
		return nil, envelope.Invalid("is required unless each job carries its own sequence", "body", "sequence_builder")
	}
	// An EmulationConfig the engines cannot honour is refused here, naming
	// the field; the runner refuses it again for batches made with kubectl.
	emu, err := emulationconfig.Parse(body.BackendConfiguration)
	if err != nil {
		var fe *emulationconfig.FieldError
		if errors.As(err, &fe) {
			return nil, envelope.Invalid(fe.Msg, "body", fe.Path())
		}
		return nil, envelope.Invalid(err.Error(), "body", "backend_configuration")
	}
	if err := stateFits(emu, seq, body.Jobs); err != nil {
		return nil, err
	}
	if deviceType == quantumv1alpha1.DeviceTypeEmuMPS || deviceType == quantumv1alpha1.DeviceTypeEmuTN {
		if err := emu.CheckTensorNetwork(); err != nil {
			var fe *emulationconfig.FieldError
			errors.As(err, &fe)
			return nil, envelope.Invalid(fe.Msg, "body", fe.Path())
		}
	}

	ns, err := h.projectByID(ctx, body.ProjectID)
	if err != nil {
		return nil, internal(err)
	}
	unknown := envelope.Invalid("unknown project "+body.ProjectID, "body", "project_id")
	if ns == nil {
		return nil, unknown
	}
	if err := h.access(ctx, ns.Name, "create", "batches", "", unknown); err != nil {
		return nil, err
	}
	if ok, err := h.allowed(ctx, ns.Name, "create", "jobs", ""); err != nil {
		return nil, internal(err)
	} else if !ok {
		return nil, envelope.Errorf(http.StatusForbidden, "%s may not create jobs in project %s", user(ctx).Name, body.ProjectID)
	}
	maxQP := quantumv1alpha1.QueuePriority(ns.Labels[quantumv1alpha1.MaxQueuePriorityLabel])
	if maxQP == "" {
		maxQP = quantumv1alpha1.QueuePriorityMedium
	}
	qp := maxQP
	if body.QueuePriority != "" {
		qp = quantumv1alpha1.QueuePriority(body.QueuePriority)
		if qp.Rank() > maxQP.Rank() {
			return nil, envelope.Errorf(http.StatusForbidden, "queue_priority %s is above the project's maximum %s", qp, maxQP)
		}
	}

	b := &quantumv1alpha1.Batch{
		ObjectMeta: metav1.ObjectMeta{Name: uuid.NewString(), Namespace: ns.Name},
		Spec: quantumv1alpha1.BatchSpec{
			SequenceBuilder:      seq,
			DeviceType:           deviceType,
			UserID:               user(ctx).Name,
			BackendConfiguration: body.BackendConfiguration,
			Priority:             priority,
			QueuePriority:        qp,
			Tags:                 body.Tags,
			Webhook:              body.Webhook,
			Open:                 open,
		},
	}
	if body.Configuration != nil {
		raw, err := json.Marshal(body.Configuration)
		if err != nil {
			return nil, envelope.Invalid(err.Error(), "body", "configuration")
		}
		b.Spec.Configuration = &apiextensionsv1.JSON{Raw: raw}
	}
	for i, j := range body.Jobs {
		ij, err := inlineJob(j, seq != "", h.Limits.MaxSequenceBytes, "body", "jobs", i)
		if err != nil {
			return nil, err
		}
		b.Spec.Jobs = append(b.Spec.Jobs, ij)
	}
	if err := h.checkSize(ctx, &b.Spec, 0, sizeLoc{
		jobs: []any{"body", "jobs"}, job: func(i int) []any { return []any{"body", "jobs", i, "runs"} },
	}); err != nil {
		return nil, err
	}
	idem, err := newIdempotency("batch", ns.Name, user(ctx).Name, in.IdempotencyKey, body)
	if err != nil {
		return nil, err
	}
	idem.mark(b)
	if err := h.fits(b, "batch"); err != nil {
		return nil, err
	}
	return h.storeBatch(ctx, b, idem)
}

// checkWebhook refuses a webhook URL whose host is a literal address in a
// blocked range; the manager checks the addresses of names when it delivers.
func (h *Handlers) checkWebhook(raw string) error {
	if raw == "" || h.AllowPrivateWebhooks {
		return nil
	}
	if ip, ok := webhooktarget.LiteralHost(raw); ok {
		if why, blocked := webhooktarget.Blocked(ip); blocked {
			return envelope.Invalid(fmt.Sprintf("%s is in %s: webhooks may not target loopback, private, link-local, reserved or IPv4-embedding addresses", ip, why), "body", "webhook")
		}
	}
	return nil
}

// stateFits refuses a StateResult whose values would exceed
// emulationconfig.MaxStateAmplitudes on the register of the batch's
// sequence or of a job's own, naming the observable.
func stateFits(emu *emulationconfig.Config, batchSequence string, jobs []JobInput) error {
	if emu == nil {
		return nil
	}
	seqs := []string{batchSequence}
	for _, j := range jobs {
		if j.Sequence != nil {
			seqs = append(seqs, *j.Sequence)
		}
	}
	for _, s := range seqs {
		if err := emu.CheckAtoms(emulationconfig.RegisterSize(s)); err != nil {
			var fe *emulationconfig.FieldError
			if errors.As(err, &fe) {
				return envelope.Invalid(fe.Msg, "body", fe.Path())
			}
			return envelope.Invalid(err.Error(), "body", "backend_configuration")
		}
	}
	return nil
}

// inlineJob reads one job; batchHasSequence says whether the job may go
// without its own sequence, maxSequence (> 0) caps the size of its own.
func inlineJob(j JobInput, batchHasSequence bool, maxSequence int, loc ...any) (quantumv1alpha1.InlineJob, error) {
	ij := quantumv1alpha1.InlineJob{Runs: j.Runs}
	if j.Sequence != nil {
		ij.Sequence = *j.Sequence
	}
	switch n := len(ij.Sequence); {
	case n == 0 && !batchHasSequence:
		return ij, envelope.Invalid("the batch has no sequence_builder, so each job needs its own sequence", append(loc, "sequence")...)
	case maxSequence > 0 && n > maxSequence:
		return ij, envelope.Errorf(http.StatusRequestEntityTooLarge, "the sequence of job %v is %d bytes; the limit is %d bytes (limit: sequence size)", loc[len(loc)-1], n, maxSequence)
	}
	if j.Variables != nil {
		raw, err := json.Marshal(j.Variables)
		if err != nil {
			return ij, envelope.Invalid(err.Error(), append(loc, "variables")...)
		}
		ij.Variables = &apiextensionsv1.JSON{Raw: raw}
	}
	return ij, nil
}

// fits refuses an object that the API server would store only partly or not at all.
func (h *Handlers) fits(obj client.Object, kind string) error {
	raw, err := json.Marshal(obj)
	if err != nil {
		return internal(err)
	}
	if len(raw) > h.Limits.MaxObjectBytes {
		return envelope.Errorf(http.StatusRequestEntityTooLarge, "the %s would be %d bytes; the limit for one object is %d bytes", kind, len(raw), h.Limits.MaxObjectBytes)
	}
	return nil
}

// storeBatch creates a Batch with its jobs in spec.jobs and answers once the
// cache holds the Jobs the controller creates from them. With an
// Idempotency-Key whose batch exists, that batch is returned (its Jobs are
// the controller's to create, as for any batch).
func (h *Handlers) storeBatch(ctx context.Context, b *quantumv1alpha1.Batch, idem *idempotency) (*batchOut, error) {
	if err := h.checkQuota(ctx, b.Namespace, 1, len(b.Spec.Jobs)); err != nil {
		return nil, err
	}
	if budget.CreatesJobs(ctx, b.Namespace, len(b.Spec.Jobs)) {
		// Paid here: the manager's job budget lets these Jobs through.
		metav1.SetMetaDataAnnotation(&b.ObjectMeta, quantumv1alpha1.JobsChargedAnnotation, strconv.Itoa(len(b.Spec.Jobs)))
	}
	seqs := sequences.Split(b, h.Limits.InlineSequenceBytes)
	created, err := idem.create(ctx, h.Client, b, "batch")
	if err != nil {
		return nil, writeErr(err, "body")
	}
	// Once written, the batch's fate is settled (its Jobs, or its
	// withdrawal) even if the request's context ends: net/http cancels it
	// when the connection's read deadline (BodyReadTimeout) passes.
	ctx = context.WithoutCancel(ctx)
	if seqs != nil {
		// The batch names its sequences ConfigMap; write it before anyone
		// reads the batch's documents or runs it (a repeated request finds
		// it written). If it cannot be written, the batch is withdrawn.
		sequences.Own(seqs, b)
		if err := h.writeKept(ctx, seqs, "batch", "sequences", created, func() error { return h.withdraw(ctx, b) }); err != nil {
			return nil, err
		}
	}
	if err := h.awaitJobs(ctx, b, 0); err != nil {
		var refused *errJobsRefused
		if !errors.As(err, &refused) {
			return nil, internal(err)
		}
		if created {
			if err := h.withdraw(ctx, b); err != nil {
				return nil, internal(fmt.Errorf("%s, and %w", refused.msg, err))
			}
		}
		return nil, quotaRefusal(refused.msg + "; the batch was not created")
	}
	h.await(ctx, b)
	doc, err := h.batchWithJobs(ctx, b)
	if err != nil {
		return nil, err
	}
	return &batchOut{Body: envelope.OK(doc)}, nil
}

func (h *Handlers) cancelBatch(ctx context.Context, in *BatchIDPath) (*batchOut, error) {
	b, err := h.batchFor(ctx, in.BatchID, "update", "")
	if err != nil {
		return nil, err
	}
	ctx = context.WithoutCancel(ctx) // as in cancel
	if err := h.cancel(ctx, b); err != nil {
		return nil, err
	}
	doc, err := h.batchWithJobs(ctx, b)
	if err != nil {
		return nil, err
	}
	return &batchOut{Body: envelope.OK(doc)}, nil
}

// cancel writes a batch's cancel intent (spec.canceled) and waits until the
// controller has settled it: its pending jobs CANCELED and, unless it runs,
// the batch CANCELED. b is refreshed in place. The cancel routes call it
// with a context that the request's end does not cancel: once they write,
// they finish (every batch or job asked, and the answer), even when the
// client goes away or the connection's read deadline (BodyReadTimeout)
// passes, as creating a batch does.
func (h *Handlers) cancel(ctx context.Context, cached *quantumv1alpha1.Batch) error {
	phase := quantumv1alpha1.BatchStatus(restdoc.BatchPhase(cached))
	if phase.Terminal() {
		return envelope.Errorf(http.StatusConflict, "batch %s is already %s", cached.Name, phase)
	}
	b := cached.DeepCopy()
	if !b.Spec.Canceled {
		orig := b.DeepCopy()
		b.Spec.Canceled = true
		if err := h.Client.Patch(ctx, b, client.MergeFrom(orig)); err != nil {
			return writeErr(err)
		}
		h.await(ctx, b)
	}
	if err := h.awaitCanceled(ctx, b); err != nil {
		return internal(err)
	}
	*cached = *b
	return nil
}

type cancelBatchesIn struct {
	Body CancelBatchesBody
}

type cancelBatchesOut struct {
	Body envelope.Envelope[CanceledBatches]
}

func (h *Handlers) cancelBatches(ctx context.Context, in *cancelBatchesIn) (*cancelBatchesOut, error) {
	out := CanceledBatches{Batches: []restdoc.Batch{}, Errors: map[string]string{}}
	// Every batch asked is canceled, or refused on its own: none is left
	// out because the request ended after the first write (see cancel).
	ctx = context.WithoutCancel(ctx)
	for _, id := range in.Body.BatchIDs {
		b, err := h.batchFor(ctx, id, "update", "")
		if err == nil {
			b = b.DeepCopy()
			err = h.cancel(ctx, b)
		}
		if err != nil {
			out.Errors[id] = err.Error()
			continue
		}
		doc, err := h.batchWithJobs(ctx, b)
		if err != nil {
			return nil, err
		}
		out.Batches = append(out.Batches, doc.Batch)
	}
	return &cancelBatchesOut{Body: envelope.OK(out)}, nil
}

func (h *Handlers) closeBatch(ctx context.Context, in *BatchIDPath) (*batchOut, error) {
	cached, err := h.batchFor(ctx, in.BatchID, "update", "")
	if err != nil {
		return nil, err
	}
	b := cached.DeepCopy()
	if b.Spec.Open {
		orig := b.DeepCopy()
		b.Spec.Open = false
		if err := h.Client.Patch(ctx, b, client.MergeFrom(orig)); err != nil {
			return nil, writeErr(err)
		}
		h.await(ctx, b)
	}
	doc, err := h.batchWithJobs(ctx, b)
	if err != nil {
		return nil, err
	}
	return &batchOut{Body: envelope.OK(doc)}, nil
}

type addJobsIn struct {
	BatchIDPath
	Body []JobInput `minItems:"1" maxItems:"1000"`
}

func (h *Handlers) addJobs(ctx context.Context, in *addJobsIn) (*batchOut, error) {
	cached, err := h.batchFor(ctx, in.BatchID, "get", "")
	if err != nil {
		return nil, err
	}
	if err := h.access(ctx, cached.Namespace, "create", "jobs", "", envelope.NotFound("batch", in.BatchID)); err != nil {
		return nil, err
	}
	// Read whole (the cache holds no sequences): whether the jobs need their
	// own sequence, and the size check, depend on the batch's.
	b := &quantumv1alpha1.Batch{}
	if err := h.Client.Get(ctx, client.ObjectKeyFromObject(cached), b); err != nil {
		return nil, writeErr(err)
	}
	if !b.Spec.Open {
		return nil, envelope.Errorf(http.StatusConflict, "batch %s is closed: it accepts no more jobs", b.Name)
	}
	if phase := quantumv1alpha1.BatchStatus(restdoc.BatchPhase(b)); phase.Terminal() || b.Spec.Canceled {
		return nil, envelope.Errorf(http.StatusConflict, "batch %s is %s: it accepts no more jobs", b.Name, phase)
	}
	if emu, err := emulationconfig.Parse(b.Spec.BackendConfiguration); err == nil {
		if err := stateFits(emu, "", in.Body); err != nil {
			return nil, err
		}
	}
	set, err := sequences.Served(ctx, h.Client, b)
	if err != nil {
		return nil, internal(err)
	}
	batchSequence := set.Batch()
	inline := make([]quantumv1alpha1.InlineJob, len(in.Body))
	for i, j := range in.Body {
		if inline[i], err = inlineJob(j, batchSequence != "", h.Limits.MaxSequenceBytes, "body", i); err != nil {
			return nil, err
		}
		inline[i].UserID = user(ctx).Name
	}
	if err := h.checkQuota(ctx, b.Namespace, 0, len(inline)); err != nil {
		return nil, err
	}
	charged := budget.CreatesJobs(ctx, b.Namespace, len(inline))
	from, err := h.appendJobs(ctx, b, inline, charged)
	if err != nil {
		return nil, err
	}
	ctx = context.WithoutCancel(ctx) // as in storeBatch
	if err := h.awaitJobs(ctx, b, from); err != nil {
		var refused *errJobsRefused
		if errors.As(err, &refused) {
			// A batch's jobs are never removed (the CRD refuses it): the
			// added ones wait for room, as the controller's condition says.
			return nil, quotaRefusal(refused.msg + "; the added jobs stay in the batch and are created when the quota has room (cancel the batch to drop them)")
		}
		return nil, internal(err)
	}
	h.await(ctx, b)
	doc, err := h.batchWithJobs(ctx, b)
	if err != nil {
		return nil, err
	}
	return &batchOut{Body: envelope.OK(doc)}, nil
}

// checkAdded applies the size caps to a batch with jobs appended: the body
// of an addition is the list of new jobs.
func (h *Handlers) checkAdded(ctx context.Context, b *quantumv1alpha1.Batch, jobs []quantumv1alpha1.InlineJob) error {
	spec := b.Spec.DeepCopy()
	have := len(spec.Jobs)
	spec.Jobs = append(spec.Jobs, jobs...)
	return h.checkSize(ctx, spec, have, sizeLoc{
		jobs: []any{"body"}, job: func(i int) []any { return []any{"body", i - have, "runs"} },
	})
}

// appendJobs appends jobs to an open batch's spec.jobs and returns the
// position of the first. The caps (jobs and shots per batch) are checked on
// the batch as read, and the API server applies the append only if the
// batch's spec is still that one: a JSON patch tests metadata.generation
// (which status writes leave alone) and that the batch is open, then adds
// the jobs at the end of the list, atomically. So concurrent additions from
// any number of facade replicas never take a batch over a cap: each lands
// whole on the spec it was checked against, or finds the spec changed and
// tries again on a fresh read (after a short random pause, so that
// contenders spread out), up to maxAppendTries times while the request
// lasts. The controller
// numbers each Job by its entry's position. b is the batch as the write
// left it.
// maxAppendTries bounds the tries of one addition of jobs.
const maxAppendTries = 100

func (h *Handlers) appendJobs(ctx context.Context, b *quantumv1alpha1.Batch, jobs []quantumv1alpha1.InlineJob, charged bool) (int, error) {
	for attempt := 0; ; attempt++ {
		from, retry, err := h.tryAppendJobs(ctx, b, jobs, charged)
		if !retry {
			return from, err
		}
		pause := time.Duration(rand.Int64N(int64(min(attempt+1, 20)) * int64(5*time.Millisecond)))
		select {
		case <-time.After(pause):
		case <-ctx.Done():
		}
		if ctx.Err() != nil || attempt+1 >= maxAppendTries {
			return 0, envelope.Errorf(http.StatusConflict, "batch %s changed too often meanwhile; try again", b.Name)
		}
	}
}

// tryAppendJobs is one attempt of appendJobs; retry asks for another, with b
// read again. When the jobs were charged to the write budget and every
// earlier entry was too, the batch's JobsChargedAnnotation grows with them
// in the same patch.
func (h *Handlers) tryAppendJobs(ctx context.Context, b *quantumv1alpha1.Batch, jobs []quantumv1alpha1.InlineJob, charged bool) (from int, retry bool, err error) {
	if err := h.checkAdded(ctx, b, jobs); err != nil {
		return 0, false, err
	}
	grown := b.DeepCopy()
	grown.Spec.Jobs = append(grown.Spec.Jobs, jobs...)
	if err := h.fits(grown, "batch"); err != nil {
		return 0, false, err
	}
	ops := []map[string]any{
		{"op": "test", "path": "/metadata/generation", "value": b.Generation},
		{"op": "test", "path": "/spec/open", "value": true},
	}
	if len(b.Spec.Jobs) == 0 {
		// No list to append to yet (or an empty one): add it whole.
		ops = append(ops, map[string]any{"op": "add", "path": "/spec/jobs", "value": jobs})
	} else {
		for _, j := range jobs {
			ops = append(ops, map[string]any{"op": "add", "path": "/spec/jobs/-", "value": j})
		}
	}
	if have := len(b.Spec.Jobs); charged && b.Annotations[quantumv1alpha1.JobsChargedAnnotation] == strconv.Itoa(have) {
		ops = append(ops, map[string]any{"op": "replace", "path": "/metadata/annotations/" + strings.ReplaceAll(quantumv1alpha1.JobsChargedAnnotation, "/", "~1"), "value": strconv.Itoa(have + len(jobs))})
	}
	raw, err := json.Marshal(ops)
	if err != nil {
		return 0, false, internal(err)
	}
	patched := b.DeepCopy()
	if err := h.Client.Patch(ctx, patched, client.RawPatch(types.JSONPatchType, raw)); err != nil {
		// Closed or canceled meanwhile (a test or the CRD's rule refused
		// it), or another write changed the spec: say which.
		fresh := &quantumv1alpha1.Batch{}
		if gerr := h.Client.Get(ctx, client.ObjectKeyFromObject(b), fresh); gerr == nil {
			if !fresh.Spec.Open {
				return 0, false, envelope.Errorf(http.StatusConflict, "batch %s is closed: it accepts no more jobs", b.Name)
			}
			if fresh.Spec.Canceled {
				return 0, false, envelope.Errorf(http.StatusConflict, "batch %s is canceled: it accepts no more jobs", b.Name)
			}
			if fresh.Generation != b.Generation {
				*b = *fresh
				return 0, true, nil
			}
		}
		return 0, false, writeErr(err, "body")
	}
	*b = *patched
	return len(b.Spec.Jobs) - len(jobs), false, nil
}

type batchJobsIn struct {
	BatchIDPath
	JobFilterParams
}

// matchingJobs returns the batch's jobs that pass the job filters, in creation order.
func (h *Handlers) matchingJobs(ctx context.Context, b *quantumv1alpha1.Batch, in *JobFilterParams) ([]*quantumv1alpha1.Job, error) {
	f, err := parseJobFilter(in)
	if err != nil {
		return nil, err
	}
	jobs, err := h.batchJobs(b)
	if err != nil {
		return nil, internal(err)
	}
	pid := h.projectID(ctx, b.Namespace)
	var out []*quantumv1alpha1.Job
	for _, j := range jobs {
		doc := restdoc.JobFrom(j, pid)
		if f.Match(&doc) {
			out = append(out, j)
		}
	}
	return out, nil
}

func (h *Handlers) rebatch(ctx context.Context, in *batchJobsIn) (*batchOut, error) {
	parent, err := h.batchFor(ctx, in.BatchIDPath.BatchID, "create", "")
	if err != nil {
		return nil, err
	}
	if ok, err := h.allowed(ctx, parent.Namespace, "create", "jobs", ""); err != nil {
		return nil, internal(err)
	} else if !ok {
		return nil, envelope.Errorf(http.StatusForbidden, "%s may not create jobs in project %s", user(ctx).Name, parent.Namespace)
	}
	jobs, err := h.matchingJobs(ctx, parent, &in.JobFilterParams)
	if err != nil {
		return nil, err
	}
	if len(jobs) == 0 {
		return nil, envelope.Invalid("no job of batch "+parent.Name+" matches the filters", "query")
	}
	// The copies take the sequences, which the cache does not hold.
	if parent, err = h.fullBatch(ctx, parent); err != nil {
		return nil, internal(err)
	}
	if jobs, err = h.fullJobs(ctx, jobs, parent); err != nil {
		return nil, internal(err)
	}
	b := &quantumv1alpha1.Batch{
		ObjectMeta: metav1.ObjectMeta{Name: uuid.NewString(), Namespace: parent.Namespace},
		Spec: quantumv1alpha1.BatchSpec{
			SequenceBuilder:      parent.Spec.SequenceBuilder,
			DeviceType:           parent.Spec.DeviceType,
			UserID:               user(ctx).Name,
			ParentID:             parent.Name,
			Configuration:        parent.Spec.Configuration.DeepCopy(),
			BackendConfiguration: parent.Spec.BackendConfiguration,
			Priority:             parent.Spec.Priority,
			QueuePriority:        parent.Spec.QueuePriority,
			Tags:                 slices.Clone(parent.Spec.Tags),
			Webhook:              parent.Spec.Webhook,
			TimeLimit:            parent.Spec.TimeLimit.DeepCopy(),
		},
	}
	for _, j := range jobs {
		b.Spec.Jobs = append(b.Spec.Jobs, quantumv1alpha1.InlineJob{Runs: j.Spec.Runs, Variables: j.Spec.Variables.DeepCopy(), Sequence: j.Spec.Sequence, ParentID: j.Name})
	}
	// The copies were admitted once; only the batch's totals are checked again.
	if err := h.checkSize(ctx, &b.Spec, len(b.Spec.Jobs), sizeLoc{jobs: []any{"query"}}); err != nil {
		return nil, err
	}
	if err := h.fits(b, "batch"); err != nil {
		return nil, err
	}
	return h.storeBatch(ctx, b, nil)
}

type cancelJobsOut struct {
	Body envelope.Envelope[CanceledJobs]
}

// CanceledJobsV1 reports a job cancellation in a batch, with the jobs' results.
type CanceledJobsV1 struct {
	Jobs   []restdoc.JobWithResult `json:"jobs"`
	Errors map[string]string       `json:"errors" doc:"Why each matching job that was not canceled was not."`
}

type cancelJobsV1Out struct {
	Body envelope.Envelope[CanceledJobsV1]
}

func (h *Handlers) cancelBatchJobsV1(ctx context.Context, in *batchJobsIn) (*cancelJobsV1Out, error) {
	out, err := h.cancelBatchJobs(ctx, in)
	if err != nil {
		return nil, err
	}
	ctx = context.WithoutCancel(ctx) // as in withResults
	v1 := CanceledJobsV1{Jobs: make([]restdoc.JobWithResult, 0, len(out.Body.Data.Jobs)), Errors: out.Body.Data.Errors}
	for _, doc := range out.Body.Data.Jobs {
		j, err := h.jobFor(ctx, doc.ID, "get", "")
		if err != nil {
			return nil, err
		}
		wr, err := h.jobWithResult(ctx, j, doc.ProjectID)
		if err != nil {
			return nil, err
		}
		v1.Jobs = append(v1.Jobs, wr)
	}
	return &cancelJobsV1Out{Body: envelope.OK(v1)}, nil
}

func (h *Handlers) cancelBatchJobs(ctx context.Context, in *batchJobsIn) (*cancelJobsOut, error) {
	b, err := h.batchFor(ctx, in.BatchIDPath.BatchID, "get", "")
	if err != nil {
		return nil, err
	}
	if err := h.access(ctx, b.Namespace, "update", "jobs", "", envelope.NotFound("batch", in.BatchIDPath.BatchID)); err != nil {
		return nil, err
	}
	jobs, err := h.matchingJobs(ctx, b, &in.JobFilterParams)
	if err != nil {
		return nil, err
	}
	// Every matching job is canceled, or refused on its own: no batch is
	// left half-canceled because the request ended after the first write
	// (see cancel).
	ctx = context.WithoutCancel(ctx)
	pid := h.projectID(ctx, b.Namespace)
	out := CanceledJobs{Jobs: []restdoc.Job{}, Errors: map[string]string{}}
	for _, cj := range jobs {
		j := cj.DeepCopy()
		if err := h.cancelJob(ctx, j); err != nil {
			out.Errors[j.Name] = err.Error()
			continue
		}
		doc, err := h.jobDoc(ctx, j, pid)
		if err != nil {
			return nil, err
		}
		out.Jobs = append(out.Jobs, doc)
	}
	return &cancelJobsOut{Body: envelope.OK(out)}, nil
}

type resultLinksIn struct {
	BatchIDPath
	ID        []string `query:"id,explode"`
	StartDate string   `query:"start_date"`
	EndDate   string   `query:"end_date"`
}

type resultLinksOut struct {
	Body envelope.Envelope[ResultLinks]
}

func (h *Handlers) batchResultsLinks(ctx context.Context, in *resultLinksIn) (*resultLinksOut, error) {
	b, err := h.batchFor(ctx, in.BatchID, "get", "")
	if err != nil {
		return nil, err
	}
	jobs, err := h.matchingJobs(ctx, b, &JobFilterParams{ID: in.ID, StartDate: in.StartDate, EndDate: in.EndDate})
	if err != nil {
		return nil, err
	}
	out := ResultLinks{Links: map[string]string{}, Errors: map[string]string{}}
	for _, j := range jobs {
		if link, ok := h.resultsLink(ctx, j); ok {
			out.Links[j.Name] = link
		} else {
			out.Errors[j.Name] = "job has no result yet (status " + restdoc.JobPhase(j) + ")"
		}
	}
	return &resultLinksOut{Body: envelope.OK(out)}, nil
}

type setTagsIn struct {
	BatchIDPath
	Body TagsBody
}

func (h *Handlers) setTags(ctx context.Context, in *setTagsIn) (*batchOut, error) {
	cached, err := h.batchFor(ctx, in.BatchID, "update", "")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i, t := range in.Body.Tags {
		if seen[t] {
			return nil, envelope.Invalid("duplicate tag "+t, "body", "tags", i)
		}
		if len(t) > 256 {
			return nil, envelope.Invalid("a tag is at most 256 characters", "body", "tags", i)
		}
		seen[t] = true
	}
	if len(in.Body.Tags) > 64 {
		return nil, envelope.Invalid("at most 64 tags", "body", "tags")
	}
	b := cached.DeepCopy()
	orig := b.DeepCopy()
	b.Spec.Tags = in.Body.Tags
	if err := h.Client.Patch(ctx, b, client.MergeFrom(orig)); err != nil {
		return nil, writeErr(err, "body", "tags")
	}
	h.await(ctx, b)
	doc, err := h.batchWithJobs(ctx, b)
	if err != nil {
		return nil, err
	}
	return &batchOut{Body: envelope.OK(doc)}, nil
}

type lastActivityIn struct {
	ProjectID []string `query:"project_id,explode"`
}

type lastActivityOut struct {
	Body envelope.Envelope[[]LastActivity]
}

func (h *Handlers) lastActivity(ctx context.Context, in *lastActivityIn) (*lastActivityOut, error) {
	if ok, err := h.allowed(ctx, "", "list", "batches", ""); err != nil {
		return nil, internal(err)
	} else if !ok {
		return nil, envelope.Errorf(http.StatusForbidden, "%s is not a superuser (may not list batches cluster-wide)", user(ctx).Name)
	}
	projects, err := h.projects(ctx, "list", "batches")
	if err != nil {
		return nil, internal(err)
	}
	ids := in.ProjectID
	if len(ids) == 0 {
		for _, p := range projects {
			ids = append(ids, p.id)
		}
		slices.Sort(ids)
	}
	out := make([]LastActivity, 0, len(ids))
	for _, id := range ids {
		la := LastActivity{ProjectID: id}
		list, err := h.batchesBy(IndexNamespace, id)
		if err != nil {
			return nil, internal(err)
		}
		var last time.Time
		for _, b := range list {
			if t := restdoc.UpdatedAt(&b.ObjectMeta); t.After(last) {
				last = t
			}
		}
		if !last.IsZero() {
			s := restdoc.Time(last)
			la.LastActivityDate = &s
		}
		out = append(out, la)
	}
	return &lastActivityOut{Body: envelope.OK(out)}, nil
}

// dedupe drops repeated keys, keeping the first of each.
func dedupe(keys []string) []string {
	seen := make(map[string]bool, len(keys))
	out := keys[:0:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}
