package handlers

import (
	"context"
	"encoding/json"
	"fmt"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/envelope"
)

// The size caps of a batch: the facade refuses what exceeds them with a 422
// naming the field and the limit (a sequence over its cap is a 413), before
// anything is written. The CRD and config/admission enforce the same rules
// (with the API's maxima) on direct writes.

// sizeLoc says where a batch's jobs are in a request: jobs is the list, job
// the location of the i-th entry of spec.jobs.
type sizeLoc struct {
	jobs []any
	job  func(i int) []any
}

// checkSize refuses a batch spec (as it would be stored) with more jobs or
// shots than the limits allow, or an entry from firstNew on with more runs
// than its device's max_runs.
func (h *Handlers) checkSize(ctx context.Context, spec *quantumv1alpha1.BatchSpec, firstNew int, at sizeLoc) error {
	if n, most := len(spec.Jobs), h.Limits.MaxJobsPerBatch; most > 0 && n > most {
		return envelope.Invalid(fmt.Sprintf("a batch holds at most %d jobs (limit: jobs per batch); this one would hold %d", most, n), at.jobs...)
	}
	maxRuns, device, err := h.maxRuns(ctx, spec.DeviceType)
	if err != nil {
		return internal(err)
	}
	var total int64
	for i, j := range spec.Jobs {
		total += int64(j.Runs)
		if i >= firstNew && maxRuns > 0 && int64(j.Runs) > maxRuns {
			return envelope.Invalid(fmt.Sprintf("%d runs is above %d, the max_runs of device %s (%s) (limit: runs per job)", j.Runs, maxRuns, device, spec.DeviceType), at.job(i)...)
		}
	}
	if most := h.Limits.MaxShotsPerBatch; most > 0 && total > most {
		return envelope.Invalid(fmt.Sprintf("the batch would run %d shots in all; the limit is %d (limit: total shots per batch)", total, most), at.jobs...)
	}
	return nil
}

// maxRuns is the smallest max_runs among the active devices of a type that
// set one in their specs (the specs they serve), with that device's name;
// 0 when none does.
func (h *Handlers) maxRuns(ctx context.Context, dt quantumv1alpha1.DeviceType) (int64, string, error) {
	var list quantumv1alpha1.DeviceList
	if err := h.Cache.List(ctx, &list); err != nil {
		return 0, "", err
	}
	var least int64
	var name string
	for i := range list.Items {
		d := &list.Items[i]
		if d.Spec.DeviceType != dt || (d.Spec.Active != nil && !*d.Spec.Active) {
			continue
		}
		var specs struct {
			MaxRuns *int64 `json:"max_runs"`
		}
		if json.Unmarshal([]byte(specsOf(d)), &specs) != nil || specs.MaxRuns == nil || *specs.MaxRuns <= 0 {
			continue
		}
		if least == 0 || *specs.MaxRuns < least {
			least, name = *specs.MaxRuns, d.Name
		}
	}
	return least, name, nil
}
