package webhook

import (
	"encoding/json"
	"time"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// Batch is the REST API's batch shape (see shared/API.md, "Batch fields").
type Batch struct {
	ID                   string           `json:"id"`
	ParentID             *string          `json:"parent_id"`
	Status               string           `json:"status"`
	Complete             bool             `json:"complete"`
	Open                 bool             `json:"open"`
	Priority             int32            `json:"priority"`
	DeviceType           string           `json:"device_type"`
	UserID               string           `json:"user_id"`
	ProjectID            string           `json:"project_id"`
	CreatedAt            string           `json:"created_at"`
	UpdatedAt            string           `json:"updated_at"`
	SequenceBuilder      string           `json:"sequence_builder"`
	JobsCount            int32            `json:"jobs_count"`
	JobsCountPerStatus   map[string]int32 `json:"jobs_count_per_status"`
	Tags                 []string         `json:"tags"`
	Configuration        json.RawMessage  `json:"configuration"`
	BackendConfiguration *string          `json:"backend_configuration"`
	Webhook              *string          `json:"webhook"`
	StartDatetime        *string          `json:"start_datetime"`
	EndDatetime          *string          `json:"end_datetime"`
	DeviceStatus         *string          `json:"device_status"`
	QueuePriority        string           `json:"queue_priority"`
}

// Payload maps a Batch resource onto the API's batch JSON. projectID is the
// project of the batch's namespace; updated is the time of the last change
// (the terminal transition).
func Payload(b *quantumv1alpha1.Batch, projectID, deviceStatus string, updated time.Time) ([]byte, error) {
	out := Batch{
		ID:                 b.Name,
		Status:             string(b.Status.Phase),
		Complete:           !b.Spec.Open,
		Open:               b.Spec.Open,
		Priority:           b.Spec.Priority,
		DeviceType:         string(b.Spec.DeviceType),
		UserID:             b.Spec.UserID,
		ProjectID:          projectID,
		CreatedAt:          b.CreationTimestamp.UTC().Format(time.RFC3339),
		UpdatedAt:          updated.UTC().Format(time.RFC3339),
		SequenceBuilder:    b.Spec.SequenceBuilder,
		JobsCount:          b.Status.JobsCount,
		JobsCountPerStatus: map[string]int32{},
		Tags:               b.Spec.Tags,
		Configuration:      json.RawMessage("null"),
		QueuePriority:      string(b.Spec.QueuePriority),
	}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	for _, s := range quantumv1alpha1.JobStatuses {
		out.JobsCountPerStatus[string(s)] = b.Status.JobsCountPerStatus[s]
	}
	if b.Spec.ParentID != "" {
		out.ParentID = &b.Spec.ParentID
	}
	if b.Spec.Configuration != nil && len(b.Spec.Configuration.Raw) > 0 {
		out.Configuration = b.Spec.Configuration.Raw
	}
	if b.Spec.BackendConfiguration != "" {
		out.BackendConfiguration = &b.Spec.BackendConfiguration
	}
	if b.Spec.Webhook != "" {
		out.Webhook = &b.Spec.Webhook
	}
	if b.Status.StartTime != nil {
		s := b.Status.StartTime.UTC().Format(time.RFC3339)
		out.StartDatetime = &s
	}
	if b.Status.EndTime != nil {
		s := b.Status.EndTime.UTC().Format(time.RFC3339)
		out.EndDatetime = &s
	}
	if deviceStatus != "" {
		out.DeviceStatus = &deviceStatus
	}
	return json.Marshal(out)
}
