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

// Frequency is how many jobs of a device type were submitted in one time bucket.
type Frequency struct {
	Date       string `json:"date" format:"date-time" doc:"Start of the bucket (UTC)."`
	DeviceType string `json:"device_type"`
	Count      int    `json:"count"`
}

type frequencyIn struct {
	ProjectID []string `query:"project_id,explode" doc:"Projects to count (default: every project of the caller)."`
	Scope     string   `query:"scope" required:"true" enum:"HOUR,DAY,MONTH"`
}

type frequencyOut struct {
	Body envelope.Envelope[[]Frequency]
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
	projects, err := h.projects(ctx, "list", "jobs")
	if err != nil {
		return nil, internal(err)
	}
	type key struct {
		at         time.Time
		deviceType string
	}
	counts := map[key]int{}
	for ns, p := range projects {
		if len(in.ProjectID) > 0 && !slices.Contains(in.ProjectID, p.id) {
			continue
		}
		batches, err := h.batchesBy(IndexNamespace, ns)
		if err != nil {
			return nil, internal(err)
		}
		for _, b := range batches {
			jobs, err := h.batchJobs(b)
			if err != nil {
				return nil, internal(err)
			}
			for _, j := range jobs {
				counts[key{bucket(j.CreationTimestamp.Time, in.Scope), string(b.Spec.DeviceType)}]++
			}
		}
	}
	out := make([]Frequency, 0, len(counts))
	for k, n := range counts {
		out = append(out, Frequency{Date: restdoc.Time(k.at), DeviceType: k.deviceType, Count: n})
	}
	slices.SortFunc(out, func(a, b Frequency) int {
		if c := strings.Compare(a.Date, b.Date); c != 0 {
			return c
		}
		return strings.Compare(a.DeviceType, b.DeviceType)
	})
	return &frequencyOut{Body: envelope.OK(out)}, nil
}
