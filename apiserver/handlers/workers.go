package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/envelope"
	"github.com/tweezer-dev/tweezer/internal/restdoc"
)

// BatchStatusBody is what a worker reports of a batch.
type BatchStatusBody struct {
	Status        string `json:"status" enum:"PENDING,RUNNING,DONE,CANCELED,TIMED_OUT,ERROR,PAUSED"`
	DeviceID      string `json:"device_id,omitempty"`
	StartDatetime string `json:"start_datetime,omitempty" format:"date-time"`
	EndDatetime   string `json:"end_datetime,omitempty" format:"date-time"`
}

// JobStatusBody is what a worker reports of a job.
type JobStatusBody struct {
	Status         string `json:"status" enum:"PENDING,RUNNING,DONE,ERROR,CANCELED"`
	StartTimestamp string `json:"start_timestamp,omitempty" format:"date-time"`
	EndTimestamp   string `json:"end_timestamp,omitempty" format:"date-time"`
}

// JobUpdateBody is a worker's job update with progress.
type JobUpdateBody struct {
	JobStatusBody
	Progress *int32 `json:"progress,omitempty" minimum:"0" maximum:"100" doc:"Percent done."`
}

// JobErrorsBody appends errors to a job.
type JobErrorsBody struct {
	Errors []string `json:"errors" minItems:"1" maxItems:"100"`
}

// maxJobErrors is how many errors a job keeps (the CRD's limit).
const maxJobErrors = 100

func (h *Handlers) registerWorkers(api huma.API) {
	huma.Register(api, h.op("set-batch-status", http.MethodPatch, "/api/v1/batches/{batch_id}/status", "workers", "Report a batch's status (worker)"), h.setBatchStatus)
	huma.Register(api, h.op("set-job-status", http.MethodPut, "/api/v1/jobs/{job_id}/status", "workers", "Report a job's status (worker)"), h.setJobStatus)
	huma.Register(api, h.op("update-job", http.MethodPatch, "/api/v1/jobs/{job_id}", "workers", "Report a job's status and progress (worker)"), h.updateJob)
	huma.Register(api, h.op("add-job-errors", http.MethodPost, "/api/v1/jobs/{job_id}/errors", "workers", "Append errors to a job (worker)"), h.addJobErrors)
}

func parseTime(s string, loc ...any) (*metav1.Time, error) {
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, envelope.Invalid("not an RFC 3339 date-time", loc...)
	}
	mt := metav1.NewTime(t)
	return &mt, nil
}

type batchStatusIn struct {
	BatchIDPath
	Body BatchStatusBody
}

func (h *Handlers) setBatchStatus(ctx context.Context, in *batchStatusIn) (*batchOut, error) {
	cached, err := h.batchFor(ctx, in.BatchID, "update", "status")
	if err != nil {
		return nil, err
	}
	start, err := parseTime(in.Body.StartDatetime, "body", "start_datetime")
	if err != nil {
		return nil, err
	}
	end, err := parseTime(in.Body.EndDatetime, "body", "end_datetime")
	if err != nil {
		return nil, err
	}
	next := quantumv1alpha1.BatchStatus(in.Body.Status)
	b := cached.DeepCopy()
	err = h.checkedStatusPatch(ctx, b, func() error {
		if from := quantumv1alpha1.BatchStatus(restdoc.BatchPhase(b)); !from.CanBecome(next) {
			return envelope.Errorf(http.StatusConflict, "batch %s is %s, a final status: it cannot become %s", b.Name, from, next)
		}
		b.Status.Phase = next
		if in.Body.DeviceID != "" {
			b.Status.DeviceID = in.Body.DeviceID
		}
		if start != nil {
			b.Status.StartTime = start
		}
		if end != nil {
			b.Status.EndTime = end
		}
		return nil
	})
	if err != nil {
		return nil, writeErr(err, "body")
	}
	h.await(ctx, b)
	doc, err := h.batchWithJobs(ctx, b)
	if err != nil {
		return nil, err
	}
	return &batchOut{Body: envelope.OK(doc)}, nil
}

type jobStatusIn struct {
	JobIDPath
	Body JobStatusBody
}

func (h *Handlers) setJobStatus(ctx context.Context, in *jobStatusIn) (*jobOut, error) {
	return h.patchJobStatus(ctx, in.JobID, &JobUpdateBody{JobStatusBody: in.Body})
}

type jobUpdateIn struct {
	JobIDPath
	Body JobUpdateBody
}

func (h *Handlers) updateJob(ctx context.Context, in *jobUpdateIn) (*jobOut, error) {
	return h.patchJobStatus(ctx, in.JobID, &in.Body)
}

func (h *Handlers) patchJobStatus(ctx context.Context, id string, body *JobUpdateBody) (*jobOut, error) {
	cached, err := h.jobFor(ctx, id, "update", "status")
	if err != nil {
		return nil, err
	}
	start, err := parseTime(body.StartTimestamp, "body", "start_timestamp")
	if err != nil {
		return nil, err
	}
	end, err := parseTime(body.EndTimestamp, "body", "end_timestamp")
	if err != nil {
		return nil, err
	}
	next := quantumv1alpha1.JobStatus(body.Status)
	j := cached.DeepCopy()
	err = h.checkedStatusPatch(ctx, j, func() error {
		if from := j.CurrentPhase(); !from.CanBecome(next) {
			return envelope.Errorf(http.StatusConflict, "job %s is %s, a final status: it cannot become %s", j.Name, from, next)
		}
		j.Status.Phase = next
		if start != nil {
			j.Status.StartTime = start
		}
		if end != nil {
			j.Status.EndTime = end
		}
		if body.Progress != nil {
			j.Status.Progress = *body.Progress
		}
		return nil
	})
	if err != nil {
		return nil, writeErr(err, "body")
	}
	h.await(ctx, j)
	return &jobOut{Body: envelope.OK(restdoc.JobFrom(j, h.projectID(ctx, j.Namespace)))}, nil
}

type jobErrorsIn struct {
	JobIDPath
	Body JobErrorsBody
}

func (h *Handlers) addJobErrors(ctx context.Context, in *jobErrorsIn) (*jobOut, error) {
	cached, err := h.jobFor(ctx, in.JobID, "update", "status")
	if err != nil {
		return nil, err
	}
	j := cached.DeepCopy()
	err = h.checkedStatusPatch(ctx, j, func() error {
		if n := len(j.Status.Errors) + len(in.Body.Errors); n > maxJobErrors {
			return envelope.Invalid("a job keeps at most 100 errors", "body", "errors")
		}
		j.Status.Errors = append(j.Status.Errors, in.Body.Errors...)
		return nil
	})
	if err != nil {
		return nil, writeErr(err, "body", "errors")
	}
	h.await(ctx, j)
	return &jobOut{Body: envelope.OK(restdoc.JobFrom(j, h.projectID(ctx, j.Namespace)))}, nil
}

// checkedStatusPatch applies change to obj (a copy of the cached object) and
// writes its status with a patch checked against obj's resourceVersion. When
// someone wrote in between, it reads the object again and applies change to
// the fresh copy, so change always judges the status it replaces (a report
// never turns a DONE the cache did not show yet into something else).
func (h *Handlers) checkedStatusPatch(ctx context.Context, obj client.Object, change func() error) error {
	first := true
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if !first {
			if err := h.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
				return err
			}
		}
		first = false
		orig := obj.DeepCopyObject().(client.Object)
		if err := change(); err != nil {
			return err
		}
		return h.Client.Status().Patch(ctx, obj, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
	})
}
