package handlers

import (
	"context"
	"net/http"
	"net/url"

	"github.com/danielgtaylor/huma/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/envelope"
	"github.com/tweezer-dev/tweezer/apiserver/query"
	"github.com/tweezer-dev/tweezer/internal/restdoc"
)

// JobIDPath is the job id of a route.
type JobIDPath struct {
	JobID string `path:"job_id" doc:"Job id."`
}

type jobListIn struct {
	PageParams
	JobFilterParams
}

type jobListV1Out struct {
	Body envelope.Page[restdoc.JobWithResult]
}

type jobListOut struct {
	Body envelope.Page[restdoc.Job]
}

type jobOut struct {
	Body envelope.Envelope[restdoc.Job]
}

type jobV1Out struct {
	Body envelope.Envelope[restdoc.JobWithResult]
}

// ResultsLink is where a job's full result can be downloaded.
type ResultsLink struct {
	ResultsLink *string `json:"results_link" doc:"Signed URL of GET /api/v1/jobs/{job_id}/results; fetchable without a token until it expires. Null when the job has no result."`
}

type resultsLinkOut struct {
	Body envelope.Envelope[ResultsLink]
}

type resultsIn struct {
	JobIDPath
	Expires   string `query:"expires" doc:"Unix time the link expires at (signed links)."`
	Signature string `query:"signature" doc:"HMAC of the job id and expiry (signed links)."`
}

type resultsOut struct {
	Body any `doc:"{\"counter\": {\"0101\": n, ...}, \"raw\": [...]}"`
}

func (h *Handlers) registerJobs(api huma.API) {
	huma.Register(api, h.op("list-jobs-v1", http.MethodGet, "/api/v1/jobs", "jobs", "List jobs with their results"), h.listJobsV1)
	huma.Register(api, h.op("list-jobs", http.MethodGet, "/api/v2/jobs", "jobs", "List jobs"), h.listJobs)
	huma.Register(api, h.op("get-job-v1", http.MethodGet, "/api/v1/jobs/{job_id}", "jobs", "Get a job with its result and full result"), h.getJobV1)
	huma.Register(api, h.op("get-job", http.MethodGet, "/api/v2/jobs/{job_id}", "jobs", "Get a job"), h.getJob)
	huma.Register(api, h.op("cancel-job-v1", http.MethodPut, "/api/v1/jobs/{job_id}/cancel", "jobs", "Cancel a job"), h.cancelJobV1)
	huma.Register(api, h.op("cancel-job", http.MethodPatch, "/api/v2/jobs/{job_id}/cancel", "jobs", "Cancel a job"), h.cancelJobRoute)
	huma.Register(api, h.op("job-results-link", http.MethodGet, "/api/v1/jobs/{job_id}/results_link", "jobs", "A link to the job's full result"), h.jobResultsLink)
	results := h.op("job-results", http.MethodGet, "/api/v1/jobs/{job_id}/results", "jobs", "The job's full result (a signed link, or a bearer token)")
	results.Metadata = map[string]any{MetaAuth: "optional"}
	results.Security = []map[string][]string{{"bearer": {}}, {}}
	huma.Register(api, results, h.jobResults)
}

// listJobDocs returns the visible jobs matching the filters, ordered, and the
// objects they came from.
func (h *Handlers) listJobDocs(ctx context.Context, in *jobListIn) ([]*restdoc.Job, map[*restdoc.Job]*quantumv1alpha1.Job, error) {
	f, err := parseJobFilter(&in.JobFilterParams)
	if err != nil {
		return nil, nil, err
	}
	desc, err := query.Direction(in.OrderDirection)
	if err != nil {
		return nil, nil, envelope.Invalid(err.Error(), "query", "order_by_direction")
	}
	projects, err := h.projects(ctx, "list", "jobs")
	if err != nil {
		return nil, nil, internal(err)
	}
	var index string
	var keys []string
	switch {
	case len(f.IDs) > 0:
		index, keys = IndexName, f.IDs
	case len(f.BatchIDs) > 0:
		index, keys = IndexBatchName, f.BatchIDs
	case len(f.Statuses) > 0:
		index, keys = IndexPhase, f.Statuses
	default:
		index = IndexNamespace
		for ns := range projects {
			keys = append(keys, ns)
		}
	}
	var docs []*restdoc.Job
	src := map[*restdoc.Job]*quantumv1alpha1.Job{}
	for _, key := range dedupe(keys) {
		list, err := h.jobsBy(index, key)
		if err != nil {
			return nil, nil, internal(err)
		}
		for _, j := range list {
			p, ok := projects[j.Namespace]
			if !ok {
				continue
			}
			doc := restdoc.JobFrom(j, p.id)
			if f.Match(&doc) {
				docs = append(docs, &doc)
				src[&doc] = j
			}
		}
	}
	if err := query.SortJobs(docs, in.OrderBy, desc); err != nil {
		return nil, nil, envelope.Invalid(err.Error(), "query", "order_by")
	}
	return docs, src, nil
}

func (h *Handlers) listJobs(ctx context.Context, in *jobListIn) (*jobListOut, error) {
	docs, src, err := h.listJobDocs(ctx, in)
	if err != nil {
		return nil, err
	}
	if err := h.withJobSequences(ctx, window(docs, in.Offset, in.Limit), src); err != nil {
		return nil, internal(err)
	}
	page := query.Window(docs, in.Offset, in.Limit)
	return &jobListOut{Body: envelope.NewPage(page, in.Offset, len(docs))}, nil
}

func (h *Handlers) listJobsV1(ctx context.Context, in *jobListIn) (*jobListV1Out, error) {
	docs, src, err := h.listJobDocs(ctx, in)
	if err != nil {
		return nil, err
	}
	if err := h.withJobSequences(ctx, window(docs, in.Offset, in.Limit), src); err != nil {
		return nil, internal(err)
	}
	page := query.Window(docs, in.Offset, in.Limit)
	out := make([]restdoc.JobWithResult, len(page))
	for i, d := range page {
		out[i] = d.WithResult(nil)
	}
	return &jobListV1Out{Body: envelope.NewPage(out, in.Offset, len(docs))}, nil
}

func (h *Handlers) getJob(ctx context.Context, in *JobIDPath) (*jobOut, error) {
	j, err := h.jobFor(ctx, in.JobID, "get", "")
	if err != nil {
		return nil, err
	}
	doc, err := h.jobDoc(ctx, j, h.projectID(ctx, j.Namespace))
	if err != nil {
		return nil, err
	}
	return &jobOut{Body: envelope.OK(doc)}, nil
}

func (h *Handlers) getJobV1(ctx context.Context, in *JobIDPath) (*jobV1Out, error) {
	j, err := h.jobFor(ctx, in.JobID, "get", "")
	if err != nil {
		return nil, err
	}
	doc, err := h.jobWithResult(ctx, j, h.projectID(ctx, j.Namespace))
	if err != nil {
		return nil, err
	}
	return &jobV1Out{Body: envelope.OK(doc)}, nil
}

func (h *Handlers) cancelJobRoute(ctx context.Context, in *JobIDPath) (*jobOut, error) {
	cached, err := h.jobFor(ctx, in.JobID, "update", "")
	if err != nil {
		return nil, err
	}
	ctx = context.WithoutCancel(ctx) // as in cancel
	j := cached.DeepCopy()
	if err := h.cancelJob(ctx, j); err != nil {
		return nil, err
	}
	doc, err := h.jobDoc(ctx, j, h.projectID(ctx, j.Namespace))
	if err != nil {
		return nil, err
	}
	return &jobOut{Body: envelope.OK(doc)}, nil
}

// cancelJobV1 cancels a job and answers with its result, as v1 reads do.
func (h *Handlers) cancelJobV1(ctx context.Context, in *JobIDPath) (*jobV1Out, error) {
	if _, err := h.cancelJobRoute(ctx, in); err != nil {
		return nil, err
	}
	return h.getJobV1(context.WithoutCancel(ctx), in) // as in withResults
}

// cancelJob writes a job's cancel intent (spec.canceled). The controller
// cancels a PENDING job, the runner stops a RUNNING one; a pending job is
// answered once the controller's CANCELED is in the cache. j is updated in
// place.
func (h *Handlers) cancelJob(ctx context.Context, j *quantumv1alpha1.Job) error {
	phase := quantumv1alpha1.JobStatus(restdoc.JobPhase(j))
	if phase.Terminal() {
		return envelope.Errorf(http.StatusConflict, "job %s is already %s", j.Name, phase)
	}
	if !j.Spec.Canceled {
		orig := j.DeepCopy()
		j.Spec.Canceled = true
		if err := h.Client.Patch(ctx, j, client.MergeFrom(orig)); err != nil {
			return writeErr(err)
		}
		h.await(ctx, j)
	}
	if phase == quantumv1alpha1.JobPending {
		if err := h.awaitJobSettled(ctx, j); err != nil {
			return internal(err)
		}
	}
	return nil
}

func (h *Handlers) jobResultsLink(ctx context.Context, in *JobIDPath) (*resultsLinkOut, error) {
	j, err := h.jobFor(ctx, in.JobID, "get", "")
	if err != nil {
		return nil, err
	}
	var out ResultsLink
	if link, ok := h.resultsLink(ctx, j); ok {
		out.ResultsLink = &link
	}
	return &resultsLinkOut{Body: envelope.OK(out)}, nil
}

// resultsLink signs a link to the job's results; false when it has none.
func (h *Handlers) resultsLink(ctx context.Context, j *quantumv1alpha1.Job) (string, bool) {
	if j.Status.Counter == nil && j.Status.ResultRef == "" {
		return "", false
	}
	return h.PublicURL + "/api/v1/jobs/" + url.PathEscape(j.Name) + "/results?" + h.signedQuery("job", j).Encode(), true
}

func (h *Handlers) jobResults(ctx context.Context, in *resultsIn) (*resultsOut, error) {
	var j *quantumv1alpha1.Job
	var err error
	if in.Signature != "" {
		list, err := h.jobsBy(IndexName, in.JobID)
		if err != nil {
			return nil, internal(err)
		}
		j = signedOne(h, "job", list, in.Expires, in.Signature)
	}
	switch {
	case j != nil:
	case user(ctx) != nil:
		if j, err = h.jobFor(ctx, in.JobID, "get", ""); err != nil {
			return nil, err
		}
	case in.Signature != "":
		return nil, envelope.New(http.StatusUnauthorized, "the results link is invalid or has expired")
	default:
		return nil, envelope.New(http.StatusUnauthorized, "a bearer token or a signed link is required")
	}
	stored, err := h.storedResult(ctx, j)
	if err != nil {
		return nil, internal(err)
	}
	res := restdoc.FullResult(j, stored)
	if res == nil {
		return nil, envelope.Errorf(http.StatusNotFound, "job %s has no result yet (status %s)", j.Name, restdoc.JobPhase(j))
	}
	return &resultsOut{Body: res}, nil
}
