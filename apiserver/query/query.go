// Package query filters, orders and paginates API documents as the REST
// contract's list endpoints do. It is pure: it works on mapped documents.
package query

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tweezer-dev/tweezer/internal/restdoc"
)

// Window returns copies of *items[offset : offset+limit] (clamped).
func Window[T any](items []*T, offset, limit int) []T {
	if offset >= len(items) {
		return []T{}
	}
	end := min(offset+limit, len(items))
	out := make([]T, 0, end-offset)
	for _, it := range items[offset:end] {
		out = append(out, *it)
	}
	return out
}

// ParseTime reads a date filter: RFC 3339, or an ISO 8601 date-time without a
// zone (UTC, as Python's datetime.isoformat() prints naive datetimes), or a date.
func ParseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 date-time", s)
}

// Direction is ASC or DESC.
func Direction(s string) (desc bool, err error) {
	switch strings.ToUpper(s) {
	case "", "DESC":
		return true, nil
	case "ASC":
		return false, nil
	}
	return false, fmt.Errorf("must be ASC or DESC, not %q", s)
}

// BatchFilter holds the batch list filters; empty fields do not filter.
type BatchFilter struct {
	IDs             []string
	IDPrefix        string
	ProjectIDs      []string
	UserIDs         []string
	DeviceTypes     []string
	Statuses        []string
	QueuePriorities []string
	Tag             string
	Complete        *bool
	Open            *bool
	MinJobs         *int
	MaxJobs         *int
	// Start and End filter on execution times (see executed).
	Start, End *time.Time
}

// Match reports whether a batch passes every filter.
func (f *BatchFilter) Match(b *restdoc.Batch) bool {
	return in(f.IDs, b.ID) && strings.HasPrefix(b.ID, f.IDPrefix) &&
		in(f.ProjectIDs, b.ProjectID) && in(f.UserIDs, b.UserID) &&
		in(f.DeviceTypes, b.DeviceType) && in(f.Statuses, b.Status) &&
		in(f.QueuePriorities, b.QueuePriority) &&
		(f.Tag == "" || slices.Contains(b.Tags, f.Tag)) &&
		(f.Complete == nil || *f.Complete == b.Complete) &&
		(f.Open == nil || *f.Open == b.Open) &&
		(f.MinJobs == nil || b.JobsCount >= *f.MinJobs) &&
		(f.MaxJobs == nil || b.JobsCount <= *f.MaxJobs) &&
		executed(b.Started(), b.Ended(), f.Start, f.End)
}

// JobFilter holds the job list filters; empty fields do not filter.
type JobFilter struct {
	IDs        []string
	IDPrefix   string
	BatchIDs   []string
	ProjectIDs []string
	UserIDs    []string
	Statuses   []string
	Origins    []string
	MinRuns    *int
	MaxRuns    *int
	Errors     *bool
	Start, End *time.Time
}

// JobOrigin is the origin of every job the facade serves: they all come from
// clients of this API or from custom resources, never from Azure.
const JobOrigin = "CLIENT"

// Match reports whether a job passes every filter.
func (f *JobFilter) Match(j *restdoc.Job) bool {
	return in(f.IDs, j.ID) && strings.HasPrefix(j.ID, f.IDPrefix) &&
		in(f.BatchIDs, j.BatchID) && in(f.ProjectIDs, j.ProjectID) &&
		in(f.UserIDs, j.UserID()) && in(f.Statuses, j.Status) &&
		in(f.Origins, JobOrigin) &&
		(f.MinRuns == nil || int(j.Runs) >= *f.MinRuns) &&
		(f.MaxRuns == nil || int(j.Runs) <= *f.MaxRuns) &&
		(f.Errors == nil || *f.Errors == (len(j.Errors) > 0)) &&
		executed(j.Started(), j.Ended(), f.Start, f.End)
}

func in(set []string, v string) bool { return len(set) == 0 || slices.Contains(set, v) }

// executed is the date filter of the reference: start_date keeps what
// started on or after it, end_date what ended on or before it. What never
// started matches no start_date; what has not ended matches no end_date.
func executed(started, ended, start, end *time.Time) bool {
	return (start == nil || (started != nil && !started.Before(*start))) &&
		(end == nil || (ended != nil && !ended.After(*end)))
}

var batchOrder = map[string]func(a, b *restdoc.Batch) int{
	"created_at":     func(a, b *restdoc.Batch) int { return a.Created().Compare(b.Created()) },
	"updated_at":     func(a, b *restdoc.Batch) int { return cmp.Compare(a.UpdatedAt, b.UpdatedAt) },
	"id":             func(a, b *restdoc.Batch) int { return 0 },
	"status":         func(a, b *restdoc.Batch) int { return cmp.Compare(a.Status, b.Status) },
	"priority":       func(a, b *restdoc.Batch) int { return cmp.Compare(a.Priority, b.Priority) },
	"device_type":    func(a, b *restdoc.Batch) int { return cmp.Compare(a.DeviceType, b.DeviceType) },
	"user_id":        func(a, b *restdoc.Batch) int { return cmp.Compare(a.UserID, b.UserID) },
	"project_id":     func(a, b *restdoc.Batch) int { return cmp.Compare(a.ProjectID, b.ProjectID) },
	"jobs_count":     func(a, b *restdoc.Batch) int { return cmp.Compare(a.JobsCount, b.JobsCount) },
	"start_datetime": func(a, b *restdoc.Batch) int { return cmpPtr(a.StartDatetime, b.StartDatetime) },
	"end_datetime":   func(a, b *restdoc.Batch) int { return cmpPtr(a.EndDatetime, b.EndDatetime) },
	"queue_priority": func(a, b *restdoc.Batch) int { return cmp.Compare(rank(a.QueuePriority), rank(b.QueuePriority)) },
}

var jobOrder = map[string]func(a, b *restdoc.Job) int{
	"created_at":      func(a, b *restdoc.Job) int { return a.Created().Compare(b.Created()) },
	"updated_at":      func(a, b *restdoc.Job) int { return cmp.Compare(a.UpdatedAt, b.UpdatedAt) },
	"id":              func(a, b *restdoc.Job) int { return 0 },
	"status":          func(a, b *restdoc.Job) int { return cmp.Compare(a.Status, b.Status) },
	"runs":            func(a, b *restdoc.Job) int { return cmp.Compare(a.Runs, b.Runs) },
	"batch_id":        func(a, b *restdoc.Job) int { return cmp.Compare(a.BatchID, b.BatchID) },
	"project_id":      func(a, b *restdoc.Job) int { return cmp.Compare(a.ProjectID, b.ProjectID) },
	"progress":        func(a, b *restdoc.Job) int { return cmp.Compare(a.Progress, b.Progress) },
	"creation_order":  func(a, b *restdoc.Job) int { return cmp.Compare(a.CreationOrder, b.CreationOrder) },
	"start_timestamp": func(a, b *restdoc.Job) int { return cmpPtr(a.StartTimestamp, b.StartTimestamp) },
	"end_timestamp":   func(a, b *restdoc.Job) int { return cmpPtr(a.EndTimestamp, b.EndTimestamp) },
}

// BatchOrderKeys and JobOrderKeys are the accepted order_by values.
var (
	BatchOrderKeys = sortedKeys(batchOrder)
	JobOrderKeys   = sortedKeys(jobOrder)
)

// SortBatches orders batches by a field, ties broken by id in the same
// direction, so that pages never overlap or skip.
func SortBatches(items []*restdoc.Batch, orderBy string, desc bool) error {
	by, ok := batchOrder[orderBy]
	if !ok {
		return fmt.Errorf("must be one of %s", strings.Join(BatchOrderKeys, ", "))
	}
	slices.SortFunc(items, func(a, b *restdoc.Batch) int {
		c := by(a, b)
		if c == 0 {
			c = cmp.Compare(a.ID, b.ID)
		}
		if desc {
			return -c
		}
		return c
	})
	return nil
}

// SortJobs orders jobs by a field, ties broken by batch, creation order and id
// in the same direction.
func SortJobs(items []*restdoc.Job, orderBy string, desc bool) error {
	by, ok := jobOrder[orderBy]
	if !ok {
		return fmt.Errorf("must be one of %s", strings.Join(JobOrderKeys, ", "))
	}
	slices.SortFunc(items, func(a, b *restdoc.Job) int {
		c := by(a, b)
		if c == 0 {
			c = cmp.Or(cmp.Compare(a.BatchID, b.BatchID), cmp.Compare(a.CreationOrder, b.CreationOrder), cmp.Compare(a.ID, b.ID))
		}
		if desc {
			return -c
		}
		return c
	})
	return nil
}

// nil (not yet happened) sorts before any time.
func cmpPtr(a, b *string) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	ta, _ := ParseTime(*a)
	tb, _ := ParseTime(*b)
	return ta.Compare(tb)
}

func rank(qp string) int {
	switch qp {
	case "HIGH":
		return 2
	case "MEDIUM":
		return 1
	}
	return 0
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
