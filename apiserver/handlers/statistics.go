package handlers

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tweezer-dev/tweezer/apiserver/envelope"
	"github.com/tweezer-dev/tweezer/internal/restdoc"
)

// Frequency is how many jobs of a project were submitted per device type in
// each time bucket of a scope.
type Frequency struct {
	Count        []FrequencyBucket `json:"count" doc:"The buckets that have jobs, oldest first."`
	JobDateScope string            `json:"job_date_scope" enum:"HOUR,DAY,MONTH"`
}

// FrequencyBucket counts the jobs submitted in one bucket, per device type.
type FrequencyBucket struct {
	Datetime string         `json:"datetime" format:"date-time" doc:"Start of the bucket (UTC)."`
	Devices  map[string]int `json:"devices" doc:"Jobs per device type."`
}

type frequencyIn struct {
	ProjectID string `query:"project_id" required:"true" doc:"The project whose jobs are counted."`
	Scope     string `query:"scope" required:"true" enum:"HOUR,DAY,MONTH"`
}

type frequencyOut struct {
	Body envelope.Envelope[Frequency]
}

func (h *Handlers) registerStatistics(api huma.API) {
	huma.Register(api, h.op("jobs-frequency", http.MethodGet, "/api/v1/jobs/statistics/frequency", "jobs", "Jobs submitted per device type in each HOUR, DAY or MONTH"), h.jobsFrequency)
}

// bucket truncates t (UTC) to the start of its hour, day or month.
func bucket(t time.Time, scope string) time.Time {
	t = t.UTC()
	switch scope {
	case "HOUR":
		return t.Truncate(time.Hour)
	case "DAY":
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	}
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

func (h *Handlers) jobsFrequency(ctx context.Context, in *frequencyIn) (*frequencyOut, error) {
	ns, err := h.projectByID(ctx, in.ProjectID)
	if err != nil {
		return nil, internal(err)
	}
	notFound := envelope.NotFound("project", in.ProjectID)
	if ns == nil {
		return nil, notFound
	}
	if err := h.access(ctx, ns.Name, "list", "jobs", "", notFound); err != nil {
		return nil, err
	}
	batches, err := h.batchesBy(IndexNamespace, ns.Name)
	if err != nil {
		return nil, internal(err)
	}
	buckets := map[time.Time]map[string]int{}
	for _, b := range batches {
		jobs, err := h.batchJobs(b)
		if err != nil {
			return nil, internal(err)
		}
		for _, j := range jobs {
			at := bucket(j.CreationTimestamp.Time, in.Scope)
			if buckets[at] == nil {
				buckets[at] = map[string]int{}
			}
			buckets[at][string(b.Spec.DeviceType)]++
		}
	}
	out := Frequency{Count: make([]FrequencyBucket, 0, len(buckets)), JobDateScope: in.Scope}
	for at, devices := range buckets {
		out.Count = append(out.Count, FrequencyBucket{Datetime: restdoc.Time(at), Devices: devices})
	}
	slices.SortFunc(out.Count, func(a, b FrequencyBucket) int { return strings.Compare(a.Datetime, b.Datetime) })
	return &frequencyOut{Body: envelope.OK(out)}, nil
}
