package server_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// TestSDKCallSequence replays, request by request, what the pasqal-cloud SDK's
// HTTPClient sends: gzip bodies for batch creation and job addition, query
// parameters for filters, and an unauthenticated GET of the results link.
func TestSDKCallSequence(t *testing.T) {
	tok := tokens["alice"]
	// sdk.create_batch(..., open=True) → send_batch (gzip).
	batch := expect(t, call(t, "POST", "/api/v1/batches", tok, map[string]any{
		"sequence_builder":      `{"version": "1", "name": "pulser-exported"}`,
		"webhook":               nil,
		"jobs":                  []map[string]any{{"runs": 50, "variables": map[string]any{"omega_max": 14.4}}},
		"open":                  true,
		"device_type":           "EMU_FREE",
		"configuration":         map[string]any{"dt": 10.0, "precision": "normal", "strict_validation": false, "result_types": []string{"counter"}},
		"backend_configuration": nil,
		"project_id":            projA,
	}, true), 200).data()
	for _, k := range []string{"open", "complete", "created_at", "updated_at", "device_type", "project_id", "id", "user_id", "status"} {
		if batch[k] == nil {
			t.Fatalf("the SDK requires %s: %v", k, batch)
		}
	}
	id := batch["id"].(string)
	// sdk.get_batch → GET v2.
	got := expect(t, call(t, "GET", "/api/v2/batches/"+id, tok, nil, false), 200).data()
	if got["sequence_builder"] != batch["sequence_builder"] {
		t.Errorf("sequence_builder changed")
	}
	// batch.add_jobs → POST v2 jobs (gzip, a bare list).
	added := expect(t, call(t, "POST", "/api/v2/batches/"+id+"/jobs", tok, []map[string]any{{"runs": 20, "variables": map[string]any{"omega_max": 10}}, {"runs": 30, "variables": map[string]any{"omega_max": 12}}}, true), 200).data()
	if added["jobs_count"] != 3.0 {
		t.Fatalf("add_jobs: %v", added)
	}
	// batch.close → PATCH v2 complete.
	closed := expect(t, call(t, "PATCH", "/api/v2/batches/"+id+"/complete", tok, nil, false), 200).data()
	if closed["open"] != false {
		t.Fatalf("close: %v", closed)
	}
	// batch.ordered_jobs → get_batch_jobs: GET v2 jobs by batch in creation order, all pages.
	q := url.Values{"batch_id": {id}, "order_by": {"creation_order"}, "order_by_direction": {"ASC"}}
	page := expect(t, call(t, "GET", "/api/v2/jobs?"+q.Encode(), tok, nil, false), 200)
	jobs := page.list()
	if len(jobs) != 3 || page.body["pagination"].(map[string]any)["end"] != 3.0 {
		t.Fatalf("ordered jobs: %s", page.raw)
	}
	var jobIDs []string
	for i, j := range jobs {
		m := j.(map[string]any)
		if m["creation_order"] != float64(i+1) {
			t.Errorf("job %d out of order: %v", i, m)
		}
		jobIDs = append(jobIDs, m["id"].(string))
	}
	// sdk.cancel_job → PATCH v2 job cancel.
	canceled := expect(t, call(t, "PATCH", "/api/v2/jobs/"+jobIDs[2]+"/cancel", tok, nil, false), 200).data()
	if canceled["status"] != "CANCELED" {
		t.Fatalf("cancel_job: %v", canceled)
	}
	// sdk.get_jobs(filters=JobFilters(status=[CANCELED], batch_id=id), PaginationParams()).
	q = url.Values{"batch_id": {id}, "status": {"CANCELED"}, "offset": {"0"}, "limit": {"100"}}
	filtered := expect(t, call(t, "GET", "/api/v2/jobs?"+q.Encode(), tok, nil, false), 200).list()
	if len(filtered) != 1 || filtered[0].(map[string]any)["id"] != jobIDs[2] {
		t.Fatalf("get_jobs: %v", filtered)
	}
	// sdk.get_job → GET v2 job.
	expect(t, call(t, "GET", "/api/v2/jobs/"+jobIDs[0], tok, nil, false), 200)
	// job.full_result → get_job_results_link, then a plain GET of the link
	// (the SDK sends no token there). A pending job has no link yet.
	link := expect(t, call(t, "GET", "/api/v1/jobs/"+jobIDs[0]+"/results_link", tok, nil, false), 200).data()
	if link["results_link"] != nil {
		t.Errorf("a pending job has a results link: %v", link)
	}
	// A worker reports the job DONE with its counter; the link then serves it.
	updateJobStatus(t, projA, jobIDs[0], func(job *quantumv1alpha1.Job) {
		job.Status.Counter = map[string]int64{"00": 30, "11": 20}
	})
	expect(t, call(t, "PATCH", "/api/v1/jobs/"+jobIDs[0], tokens["worker"], map[string]any{"status": "DONE", "progress": 100}, false), 200)
	link = expect(t, call(t, "GET", "/api/v1/jobs/"+jobIDs[0]+"/results_link", tok, nil, false), 200).data()
	full := fetchLink(t, link["results_link"].(string))
	expect(t, full, 200)
	if fmt.Sprint(full.body["counter"]) != "map[00:30 11:20]" {
		t.Errorf("downloaded result: %s", full.raw)
	}
	// sdk.rebatch(id, RebatchFilters(status=[CANCELED])) → POST with params, no body.
	child := expect(t, call(t, "POST", "/api/v1/batches/"+id+"/rebatch?status=CANCELED", tok, nil, false), 200).data()
	if child["parent_id"] != id || child["jobs_count"] != 1.0 {
		t.Fatalf("rebatch: %v", child)
	}
	// sdk.cancel_batches([...]) → PATCH v1 cancel with a body.
	res := expect(t, call(t, "PATCH", "/api/v1/batches/cancel", tok, map[string]any{"batch_ids": []string{id, child["id"].(string)}}, false), 200).data()
	if len(res["batches"].([]any)) != 2 || len(res["errors"].(map[string]any)) != 0 {
		t.Fatalf("cancel_batches: %v", res)
	}
	for _, b := range res["batches"].([]any) {
		if b.(map[string]any)["status"] != "CANCELED" {
			t.Errorf("not canceled: %v", b)
		}
	}
	// sdk.get_device_specs_dict → GET devices/specs.
	specs := expect(t, call(t, "GET", "/api/v1/devices/specs", tok, nil, false), 200).data()
	if !strings.Contains(specs["EMU_FREE"].(string), `"name"`) {
		t.Errorf("specs: %v", specs)
	}
	// get_all_active_projects → GET {account}/api/v1/projects?project_status=ACTIVE.
	projects := expect(t, call(t, "GET", "/api/v1/projects?project_status=ACTIVE", tok, nil, false), 200).list()
	if len(projects) == 0 {
		t.Errorf("no projects")
	}
}
