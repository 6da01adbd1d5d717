package handlers

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/tweezer-dev/tweezer/apiserver/envelope"
	"github.com/tweezer-dev/tweezer/apiserver/query"
)

// PageParams are the common list parameters.
type PageParams struct {
	OrderBy        string `query:"order_by" default:"created_at" doc:"Field to order by."`
	OrderDirection string `query:"order_by_direction" default:"DESC" enum:"ASC,DESC"`
	Limit          int    `query:"limit" default:"100" minimum:"1" maximum:"100"`
	Offset         int    `query:"offset" default:"0" minimum:"0"`
}

// BatchFilterParams are the batch list filters (arrays are repeated keys).
type BatchFilterParams struct {
	ID            []string `query:"id,explode"`
	IDStartsWith  string   `query:"id__starts_with"`
	ProjectID     []string `query:"project_id,explode"`
	UserID        []string `query:"user_id,explode"`
	DeviceType    []string `query:"device_type,explode"`
	Status        []string `query:"status,explode"`
	QueuePriority []string `query:"queue_priority,explode"`
	Tag           string   `query:"tag" doc:"Only batches carrying this tag."`
	Complete      string   `query:"complete" doc:"Boolean."`
	Open          string   `query:"open" doc:"Boolean."`
	MinJobs       string   `query:"min_jobs" doc:"Integer."`
	MaxJobs       string   `query:"max_jobs" doc:"Integer."`
	StartDate     string   `query:"start_date" doc:"Started running on or after (RFC 3339); a batch that never started matches no start_date."`
	EndDate       string   `query:"end_date" doc:"Finished, failed or was canceled on or before (RFC 3339); an unfinished batch matches no end_date."`
}

// JobFilterParams are the job filters of lists, rebatch and job cancellation.
type JobFilterParams struct {
	ID           []string `query:"id,explode"`
	IDStartsWith string   `query:"id__starts_with"`
	BatchID      []string `query:"batch_id,explode"`
	ProjectID    []string `query:"project_id,explode"`
	UserID       []string `query:"user_id,explode"`
	Status       []string `query:"status,explode"`
	Origin       []string `query:"origin,explode" doc:"CLIENT, AZURE or UNKNOWN."`
	MinRuns      string   `query:"min_runs" doc:"Integer."`
	MaxRuns      string   `query:"max_runs" doc:"Integer."`
	Errors       string   `query:"errors" doc:"Boolean: only jobs with (true) or without (false) errors."`
	StartDate    string   `query:"start_date" doc:"Started running on or after (RFC 3339); a job that never started matches no start_date."`
	EndDate      string   `query:"end_date" doc:"Finished, failed or was canceled on or before (RFC 3339); an unfinished job matches no end_date."`
}

func optInt(s, name string) (*int, error) {
	if s == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return nil, envelope.Invalid("must be an integer, not "+strconv.Quote(s), "query", name)
	}
	return &n, nil
}

func optBool(s, name string) (*bool, error) {
	if s == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return nil, envelope.Invalid("must be a boolean, not "+strconv.Quote(s), "query", name)
	}
	return &b, nil
}

func dates(start, end string) (*time.Time, *time.Time, error) {
	var s, e *time.Time
	if start != "" {
		t, err := query.ParseTime(start)
		if err != nil {
			return nil, nil, envelope.Invalid(err.Error(), "query", "start_date")
		}
		s = &t
	}
	if end != "" {
		t, err := query.ParseTime(end)
		if err != nil {
			return nil, nil, envelope.Invalid(err.Error(), "query", "end_date")
		}
		e = &t
	}
	return s, e, nil
}

// wholeNumber stores a JSON number that the resources keep as an int32:
// a fraction or a value out of range is refused, naming the field.
func wholeNumber(v float64, field string) (int32, error) {
	if v != math.Trunc(v) || v < math.MinInt32 || v > math.MaxInt32 {
		return 0, envelope.Invalid(fmt.Sprintf("must be a whole number between %d and %d, not %v", math.MinInt32, math.MaxInt32, v), "body", field)
	}
	return int32(v), nil
}
