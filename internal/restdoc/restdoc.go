// Package restdoc turns Tweezer resources into the JSON documents of the REST
// contract (shared/API.md). It is pure: callers pass everything a document
// needs (project id, jobs, device status).
package restdoc

import (
	"encoding/json"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// Batch is a batch of the REST API.
type Batch struct {
	ID                   string          `json:"id" format:"uuid"`
	ParentID             *string         `json:"parent_id"`
	Status               string          `json:"status" enum:"PENDING,RUNNING,DONE,CANCELED,TIMED_OUT,ERROR,PAUSED"`
	Complete             bool            `json:"complete" doc:"Legacy inverse of open."`
	Open                 bool            `json:"open" doc:"An open batch accepts more jobs until it is closed."`
	Priority             int32           `json:"priority"`
	DeviceType           string          `json:"device_type" pattern:"^[A-Z][A-Z0-9_]*$" maxLength:"63"`
	UserID               string          `json:"user_id"`
	ProjectID            string          `json:"project_id" format:"uuid"`
	CreatedAt            string          `json:"created_at" format:"date-time"`
	UpdatedAt            string          `json:"updated_at" format:"date-time"`
	SequenceBuilder      string          `json:"sequence_builder"`
	JobsCount            int             `json:"jobs_count"`
	JobsCountPerStatus   map[string]int  `json:"jobs_count_per_status"`
	Tags                 []string        `json:"tags"`
	Configuration        json.RawMessage `json:"configuration" doc:"Any JSON value (usually an object), or null."`
	BackendConfiguration *string         `json:"backend_configuration"`
	Webhook              *string         `json:"webhook"`
	StartDatetime        *string         `json:"start_datetime" format:"date-time"`
	EndDatetime          *string         `json:"end_datetime" format:"date-time"`
	DeviceStatus         *string         `json:"device_status" enum:"UP,DOWN"`
	QueuePriority        string          `json:"queue_priority" enum:"LOW,MEDIUM,HIGH"`

	// created is the exact creation time, for ordering; started and ended
	// are the execution times (nil until then), for the date filters.
	created        time.Time
	started, ended *time.Time
}

// Created is the batch's creation time.
func (b *Batch) Created() time.Time { return b.created }

// Started is when the batch started running; nil when it never did.
func (b *Batch) Started() *time.Time { return b.started }

// Ended is when the batch reached a terminal status; nil until it does.
func (b *Batch) Ended() *time.Time { return b.ended }

// Job is a job of the REST API.
type Job struct {
	ID             string   `json:"id" format:"uuid"`
	ParentID       *string  `json:"parent_id"`
	Status         string   `json:"status" enum:"PENDING,RUNNING,DONE,ERROR,CANCELED"`
	Runs           int32    `json:"runs"`
	BatchID        string   `json:"batch_id" format:"uuid"`
	ProjectID      string   `json:"project_id" format:"uuid"`
	CreatedAt      string   `json:"created_at" format:"date-time"`
	UpdatedAt      string   `json:"updated_at" format:"date-time"`
	StartTimestamp *string  `json:"start_timestamp" format:"date-time"`
	EndTimestamp   *string  `json:"end_timestamp" format:"date-time"`
	Variables      any      `json:"variables"`
	Errors         []string `json:"errors"`
	Progress       int32    `json:"progress"`
	Sequence       *string  `json:"sequence" doc:"The job's own serialized Pulser sequence, null when it runs its batch's sequence_builder."`
	CreationOrder  int32    `json:"creation_order"`
	LogsLink       *string  `json:"logs_link" doc:"Link to the device's execution logs of the job; null when the device keeps none (no device here keeps them yet)."`

	userID         string
	created        time.Time
	started, ended *time.Time
	counter        map[string]int64
}

// UserID is the id of the user who created the job.
func (j *Job) UserID() string { return j.userID }

// Created is the job's creation time.
func (j *Job) Created() time.Time { return j.created }

// Started is when the job started running; nil when it never did.
func (j *Job) Started() *time.Time { return j.started }

// Ended is when the job reached a terminal status; nil until it does.
func (j *Job) Ended() *time.Time { return j.ended }

// BatchWithJobs is a batch with its jobs, in creation order.
type BatchWithJobs struct {
	Batch
	Jobs []Job `json:"jobs"`
}

// BatchV2 is the batch of GET /api/v2/batches/{id}: the ids of its jobs and
// of the batches rebatched from it, and its jobs without results (which the
// SDK reads when present).
type BatchV2 struct {
	BatchWithJobs
	JobIDs   []string `json:"job_ids"`
	ChildIDs []string `json:"child_ids"`
}

// BatchWithResults is a batch with its jobs and their results, and the ids
// of the batches rebatched from it.
type BatchWithResults struct {
	Batch
	Jobs     []JobWithResult `json:"jobs"`
	ChildIDs []string        `json:"child_ids"`
}

// JobWithResult is a job with its counter and full result.
type JobWithResult struct {
	Job
	Result     map[string]any `json:"result" doc:"Counter of measured bitstrings, null until the job has one."`
	FullResult any            `json:"full_result" doc:"{\"counter\": {...}, \"raw\": [...]}; raw shots are served on single-job and single-batch responses and through the results link."`
}

// WithResult adds a job's result; stored is its full-result document (nil when not read).
func WithResult(j *quantumv1alpha1.Job, projectID string, stored []byte) JobWithResult {
	return JobFrom(j, projectID).WithResult(stored)
}

// WithResult adds the job's counter, and its full result from stored (the
// counter alone when stored is nil).
func (j Job) WithResult(stored []byte) JobWithResult {
	return JobWithResult{Job: j, Result: counterDoc(j.counter), FullResult: fullResult(j.counter, stored)}
}

// Device is a device of the REST API.
type Device struct {
	ID                 string   `json:"id"`
	Name               string   `json:"name" doc:"The device's name in its specs (Pulser's \"name\"), else its type."`
	AverageQueueTime   *float64 `json:"average_queue_time" doc:"Mean seconds between creation and start of the batches that ran on the device; null before any did."`
	MaxAtomNum         *int     `json:"max_atom_num" doc:"Most atoms a register may hold (from the specs); null when the device sets no limit."`
	Legacy             bool     `json:"legacy" doc:"Kept for old clients; listed only with include_legacy=true."`
	DeviceType         string   `json:"device_type" pattern:"^[A-Z][A-Z0-9_]*$" maxLength:"63"`
	Status             string   `json:"status" enum:"UP,DOWN"`
	Active             bool     `json:"active"`
	Public             bool     `json:"public"`
	IsEmulator         bool     `json:"is_emulator"`
	HasExecutionLogs   bool     `json:"has_execution_logs"`
	AllowedResultTypes []string `json:"allowed_result_types"`
	DefaultResultTypes []string `json:"default_result_types"`
	Specs              string   `json:"specs" doc:"Serialized Pulser device (JSON)."`
	CreatedAt          string   `json:"created_at" format:"date-time"`
	UpdatedAt          string   `json:"updated_at" format:"date-time"`
}

// Time formats a time as RFC 3339 in UTC, with microseconds when it has any.
func Time(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond() == 0 {
		return t.Format(time.RFC3339)
	}
	return t.Format("2006-01-02T15:04:05.000000Z07:00")
}

func timePtr(t *metav1.Time) *string {
	if t == nil || t.IsZero() {
		return nil
	}
	s := Time(t.Time)
	return &s
}

func timeOf(t *metav1.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	return &t.Time
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// UpdatedAt is the latest managedFields time of an object, or its creation time.
func UpdatedAt(m *metav1.ObjectMeta) time.Time {
	t := m.CreationTimestamp.Time
	for _, f := range m.ManagedFields {
		if f.Time != nil && f.Time.After(t) {
			t = f.Time.Time
		}
	}
	return t
}

// RawJSON decodes a stored free-form JSON value; nil stays nil.
func RawJSON(raw []byte) any {
	if len(raw) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil
	}
	return v
}

// BatchPhase is the API status of a batch: its phase, PENDING when unset.
func BatchPhase(b *quantumv1alpha1.Batch) string {
	if b.Status.Phase == "" {
		return string(quantumv1alpha1.BatchPending)
	}
	return string(b.Status.Phase)
}

// JobPhase is the API status of a job: its phase, PENDING when unset.
func JobPhase(j *quantumv1alpha1.Job) string { return string(j.CurrentPhase()) }

// BatchFrom maps a Batch. jobs are the batch's Jobs (counts come from them, so
// they agree with the jobs a client lists); deviceStatus is the availability
// of a device of the batch's type ("" when none).
func BatchFrom(b *quantumv1alpha1.Batch, projectID string, jobs []*quantumv1alpha1.Job, deviceStatus string) Batch {
	perStatus := map[string]int{}
	for _, j := range jobs {
		perStatus[JobPhase(j)]++
	}
	return batchDoc(b, projectID, perStatus, deviceStatus)
}

// BatchFromStatus maps a Batch whose jobs are not at hand: the counts come
// from the batch's status counters, as the controller last wrote them. The
// webhook payload of a terminal batch is this document.
func BatchFromStatus(b *quantumv1alpha1.Batch, projectID, deviceStatus string) Batch {
	perStatus := map[string]int{}
	for s, n := range b.Status.JobsCountPerStatus {
		perStatus[string(s)] = int(n)
	}
	return batchDoc(b, projectID, perStatus, deviceStatus)
}

// batchDoc is the one definition of the REST batch document; perStatus holds
// the job counts by status (absent statuses count 0).
func batchDoc(b *quantumv1alpha1.Batch, projectID string, counts map[string]int, deviceStatus string) Batch {
	perStatus := map[string]int{}
	total := 0
	for _, s := range quantumv1alpha1.JobStatuses {
		perStatus[string(s)] = counts[string(s)]
		total += counts[string(s)]
	}
	var cfg json.RawMessage
	if b.Spec.Configuration != nil {
		cfg = b.Spec.Configuration.Raw
	}
	qp := string(b.Spec.QueuePriority)
	if qp == "" {
		qp = string(quantumv1alpha1.QueuePriorityMedium)
	}
	tags := b.Spec.Tags
	if tags == nil {
		tags = []string{}
	}
	return Batch{
		ID:                   b.Name,
		ParentID:             strPtr(b.Spec.ParentID),
		Status:               BatchPhase(b),
		Complete:             !b.Spec.Open,
		Open:                 b.Spec.Open,
		Priority:             b.Spec.Priority,
		DeviceType:           string(b.Spec.DeviceType),
		UserID:               b.Spec.UserID,
		ProjectID:            projectID,
		CreatedAt:            Time(b.CreationTimestamp.Time),
		UpdatedAt:            Time(UpdatedAt(&b.ObjectMeta)),
		SequenceBuilder:      b.Spec.SequenceBuilder,
		JobsCount:            total,
		JobsCountPerStatus:   perStatus,
		Tags:                 tags,
		Configuration:        cfg,
		BackendConfiguration: strPtr(b.Spec.BackendConfiguration),
		Webhook:              strPtr(b.Spec.Webhook),
		StartDatetime:        timePtr(b.Status.StartTime),
		EndDatetime:          timePtr(b.Status.EndTime),
		DeviceStatus:         strPtr(deviceStatus),
		QueuePriority:        qp,
		created:              b.CreationTimestamp.Time,
		started:              timeOf(b.Status.StartTime),
		ended:                timeOf(b.Status.EndTime),
	}
}

// JobFrom maps a Job without its results.
func JobFrom(j *quantumv1alpha1.Job, projectID string) Job {
	var vars json.RawMessage
	if j.Spec.Variables != nil {
		vars = j.Spec.Variables.Raw
	}
	errs := j.Status.Errors
	if errs == nil {
		errs = []string{}
	}
	return Job{
		ID:             j.Name,
		ParentID:       strPtr(j.Spec.ParentID),
		Status:         JobPhase(j),
		Runs:           j.Spec.Runs,
		BatchID:        j.Spec.BatchName,
		ProjectID:      projectID,
		CreatedAt:      Time(j.CreationTimestamp.Time),
		UpdatedAt:      Time(UpdatedAt(&j.ObjectMeta)),
		StartTimestamp: timePtr(j.Status.StartTime),
		EndTimestamp:   timePtr(j.Status.EndTime),
		Variables:      vars,
		Errors:         errs,
		Progress:       j.Status.Progress,
		Sequence:       strPtr(j.Spec.Sequence),
		CreationOrder:  j.Spec.CreationOrder,
		userID:         j.Spec.UserID,
		created:        j.CreationTimestamp.Time,
		started:        timeOf(j.Status.StartTime),
		ended:          timeOf(j.Status.EndTime),
		counter:        j.Status.Counter,
	}
}

// counterDoc is a counter as the `result` of v1 responses (nil when none).
func counterDoc(c map[string]int64) map[string]any {
	if c == nil {
		return nil
	}
	out := make(map[string]any, len(c))
	for k, v := range c {
		out[k] = v
	}
	return out
}

// FullResult is the `full_result` of a job: the stored document with raw shots
// when there is one, else the counter alone (nil when the job has no result).
func FullResult(j *quantumv1alpha1.Job, stored []byte) any {
	return fullResult(j.Status.Counter, stored)
}

func fullResult(c map[string]int64, stored []byte) any {
	if v := RawJSON(stored); v != nil {
		return v
	}
	if c == nil {
		return nil
	}
	return map[string]any{"counter": counterDoc(c), "raw": nil}
}

// DeviceFrom maps a Device; specs is what the device serves (its own, or the
// built-in catalog's for its type); averageQueueTime is in seconds (nil when
// no batch ran on it).
func DeviceFrom(d *quantumv1alpha1.Device, specs string, averageQueueTime *float64) Device {
	status := string(d.Spec.Availability)
	if status == "" {
		status = string(quantumv1alpha1.DeviceUp)
	}
	var fromSpecs struct {
		Name       string `json:"name"`
		MaxAtomNum *int   `json:"max_atom_num"`
	}
	// Specs that do not parse still serve; they only lack these two fields.
	_ = json.Unmarshal([]byte(specs), &fromSpecs)
	name := fromSpecs.Name
	if name == "" {
		name = string(d.Spec.DeviceType)
	}
	return Device{
		ID:                 d.Name,
		Name:               name,
		AverageQueueTime:   averageQueueTime,
		MaxAtomNum:         fromSpecs.MaxAtomNum,
		Legacy:             d.Spec.Legacy,
		DeviceType:         string(d.Spec.DeviceType),
		Status:             status,
		Active:             d.IsActive(),
		Public:             d.Spec.Public,
		IsEmulator:         d.Spec.IsEmulator,
		HasExecutionLogs:   d.Spec.HasExecutionLogs,
		AllowedResultTypes: resultTypes(d.Spec.AllowedResultTypes),
		DefaultResultTypes: resultTypes(d.Spec.DefaultResultTypes),
		Specs:              specs,
		CreatedAt:          Time(d.CreationTimestamp.Time),
		UpdatedAt:          Time(UpdatedAt(&d.ObjectMeta)),
	}
}

func resultTypes(in []quantumv1alpha1.ResultsType) []string {
	out := make([]string, 0, len(in))
	for _, t := range in {
		out = append(out, string(t))
	}
	return out
}
