package server_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/hack/testenv"
)

// referenceShape is one row of testdata/reference-shapes.json, which
// hack/refshapes generates from the reference's response samples: an
// operation and the JSON type of every key its sample has. "a.b[]" is each
// element of the array a.b, "a.m.*" each value of the map a.m.
type referenceShape struct {
	Operation string            `json:"operation"`
	Title     string            `json:"title"`
	Keys      map[string]string `json:"keys"`
}

// nullable are the keys that may be null although the reference's sample
// shows a value: what has not happened yet (times, results, links), what
// the caller did not give (parent, webhook, configuration, variables), and
// what a device may not set (max_atom_num) or has not measured yet.
var nullable = []string{
	"parent_id", "start_datetime", "end_datetime", "start_timestamp", "end_timestamp", "configuration",
	"webhook", "sequence", "sequence_builder", "variables", "result", "full_result", "logs_link", "result_link",
	"average_queue_time", "max_atom_num", "last_activity_date", "last_reviewed_at", "questionnaire_id",
}

// conformanceRequest is how the test calls one operation: as whom, on which
// objects (path parameters), with which query and body.
type conformanceRequest struct {
	as    string
	ids   map[string]string
	query string
	body  any
}

// TestReferenceConformance calls every operation of the reference on the
// real facade and checks that the response has every key of the
// reference's sample with its JSON type (extra keys are allowed: the SDK
// reads some). Objects are made for it in two projects of its own, so the
// other tests' counts are untouched.
func TestReferenceConformance(t *testing.T) {
	raw, err := os.ReadFile("testdata/reference-shapes.json")
	if err != nil {
		t.Fatal(err)
	}
	var table []referenceShape
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	f := newConformanceFixture(t)
	requests := f.requests()
	for _, row := range table {
		req, ok := requests[row.Operation]
		if !ok {
			t.Errorf("%s (%s): the test has no request for it", row.Operation, row.Title)
			continue
		}
		method, path, _ := strings.Cut(row.Operation, " ")
		for _, ids := range []map[string]string{req.ids, f.ids} {
			for name, id := range ids {
				path = strings.ReplaceAll(path, "{"+name+"}", id)
			}
		}
		if strings.Contains(path, "{") {
			t.Errorf("%s: no value for a path parameter of %s", row.Operation, path)
			continue
		}
		r := call(t, method, path+req.query, f.tokens[req.as], req.body, false)
		if r.status != 200 {
			t.Errorf("%s %s: status %d: %.300s", method, path, r.status, r.raw)
			continue
		}
		var doc any
		if err := json.Unmarshal(r.raw, &doc); err != nil {
			t.Errorf("%s: %v", row.Operation, err)
			continue
		}
		for _, problem := range conform(doc, row.Keys) {
			t.Errorf("%s (%s): %s", row.Operation, row.Title, problem)
		}
	}
	for op := range requests {
		if !slices.ContainsFunc(table, func(r referenceShape) bool { return r.Operation == op }) {
			t.Errorf("request for %s, which the reference table does not have", op)
		}
	}
}

// conform lists how doc differs from the reference's keys: a missing key,
// a value of another JSON type, or a null where the reference has a value
// that is always there.
func conform(doc any, keys map[string]string) []string {
	paths := make([]string, 0, len(keys))
	for k := range keys {
		paths = append(paths, k)
	}
	sort.Strings(paths)
	var problems []string
	for _, p := range paths {
		want := keys[p]
		values, missing := lookup(doc, p)
		if missing != "" {
			problems = append(problems, missing)
			continue
		}
		last := p[strings.LastIndexAny(p, ".")+1:]
		for _, v := range values {
			got := jsonType(v)
			switch {
			case got == want:
			case got == "null" && slices.Contains(nullable, strings.TrimSuffix(last, "[]")):
			default:
				problems = append(problems, p+" is "+got+", want "+want)
			}
		}
	}
	return problems
}

// lookup returns the values at a key path (several under "[]" and "*"), or
// why there is none: a missing key. An empty array or map has no values.
func lookup(doc any, path string) ([]any, string) {
	values := []any{doc}
	for _, seg := range strings.Split(path, ".") {
		elems := strings.HasSuffix(seg, "[]")
		seg = strings.TrimSuffix(seg, "[]")
		var next []any
		for _, v := range values {
			m, ok := v.(map[string]any)
			if !ok {
				continue // a type mismatch, reported on the parent key
			}
			if seg == "*" {
				for _, e := range m {
					next = append(next, e)
				}
				continue
			}
			e, ok := m[seg]
			if !ok {
				return nil, "missing key " + path
			}
			next = append(next, e)
		}
		if elems {
			var items []any
			for _, v := range next {
				if a, ok := v.([]any); ok {
					items = append(items, a...)
				}
			}
			next = items
		}
		values = next
	}
	return values, ""
}

// conformanceFixture holds the objects the requests act on.
type conformanceFixture struct {
	tokens map[string]string
	ids    map[string]string
	// batches and jobs that one mutation each consumes
	batch map[string]string
	job   map[string]string
}

const (
	confProjOld = "5e0c1b7a-3f52-4a65-9c1e-0d2f4b6a8c01"
	confProjNew = "5e0c1b7a-3f52-4a65-9c1e-0d2f4b6a8c02"
)

func newConformanceFixture(t *testing.T) *conformanceFixture {
	t.Helper()
	ctx := context.Background()
	f := &conformanceFixture{
		tokens: map[string]string{"super": tokens["super"], "worker": tokens["worker"]},
		ids:    map[string]string{}, batch: map[string]string{}, job: map[string]string{},
	}
	// dave belongs to two projects: the older one holds his per-user records.
	for _, p := range []string{confProjOld, confProjNew} {
		if err := admin.Create(ctx, testenv.ProjectNamespace(p)); err != nil {
			t.Fatal(err)
		}
	}
	dave, err := newUser(ctx, "dave")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{confProjOld, confProjNew} {
		if err := bindMember(ctx, p, "dave"); err != nil {
			t.Fatal(err)
		}
	}
	f.tokens["user"] = dave

	// Batches: one to read (a job with a result, one rebatch), and one per mutation.
	read := createBatch(t, dave, newBatch(confProjOld, 3, nil))
	f.ids["batch_id"] = read["id"].(string)
	jobs := read["jobs"].([]any)
	j0 := jobs[0].(map[string]any)["id"].(string)
	f.ids["job_id"] = j0
	f.job["cancel-v1"] = jobs[1].(map[string]any)["id"].(string)
	f.job["cancel-v2"] = jobs[2].(map[string]any)["id"].(string)
	start, end := metav1.Now(), metav1.Now()
	updateJobStatus(t, confProjOld, j0, func(done *quantumv1alpha1.Job) {
		done.Status = quantumv1alpha1.JobStatusFields{Phase: quantumv1alpha1.JobDone, Counter: map[string]int64{"01": 10}, StartTime: &start, EndTime: &end, Progress: 100}
	})
	expect(t, call(t, "POST", "/api/v1/batches/"+f.ids["batch_id"]+"/rebatch?id="+j0, dave, nil, false), 200)
	for _, name := range []string{"cancel-v1", "cancel-v2", "many-v1", "many-v2", "cancel-jobs-v1", "cancel-jobs-v2", "status"} {
		f.batch[name] = createBatch(t, dave, newBatch(confProjOld, 1, nil))["id"].(string)
	}
	for _, name := range []string{"open", "close-v1", "close-v2"} {
		f.batch[name] = createBatch(t, dave, newBatch(confProjOld, 1, map[string]any{"open": true}))["id"].(string)
	}
	f.job["worker"] = expect(t, call(t, "GET", "/api/v2/batches/"+f.batch["status"], dave, nil, false), 200).data()["job_ids"].([]any)[0].(string)

	// Workloads: one to read (with a result), one to cancel, one a worker reports on.
	wl := func() string {
		return expect(t, call(t, "POST", "/api/v1/workloads", dave, pulserWorkload(confProjOld), false), 200).data()["id"].(string)
	}
	f.ids["workload_id"] = wl()
	expect(t, call(t, "POST", "/api/v1/workloads/"+f.ids["workload_id"]+"/result", tokens["worker"], map[string]any{"result": map[string]any{"counter": map[string]int{"1": 20}}}, false), 200)
	f.batch["workload-cancel"] = wl()

	// Learning portal: a learner with progress, a use case, a quiz response.
	f.ids["package"] = "VQPU"
	f.ids["project_id"] = confProjOld
	expect(t, call(t, "PATCH", "/api/v1/learners/VQPU", dave, map[string]any{"progress": map[string]any{"intro": map[string]any{"stage": "DONE", "timecode": 12}}}, false), 200)
	uc := expect(t, call(t, "POST", "/api/v1/use-cases", dave, map[string]any{"title": "Max independent set", "validation_status": "DRAFT", "questionnaire_id": 3, "summary": "MIS on unit-disk graphs"}, false), 200)
	f.ids["use_case_id"] = uc.list()[0].(map[string]any)["id"].(string)
	q := expect(t, call(t, "POST", "/api/v1/quizzes/7", dave, map[string]any{"data": map[string]any{"q1": "a"}}, false), 200)
	f.ids["quiz_id"] = q.list()[0].(map[string]any)["id"].(string)
	f.ids["strapi_quiz_id"] = "8"

	// A device of a type no other test uses, inactive so that no list counts it.
	dev := expect(t, call(t, "POST", "/api/v1/devices", tokens["super"], map[string]any{"device_type": "EMU_C", "active": false, "is_emulator": true}, false), 200)
	f.ids["device_id"] = dev.data()["id"].(string)
	t.Cleanup(func() {
		_ = admin.Delete(context.Background(), &quantumv1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: f.ids["device_id"]}})
	})
	f.ids["dt_name"] = "EMU_FREE"
	f.ids["device_type"] = "FRESNEL"
	return f
}

// requests is how each operation of the reference is called.
func (f *conformanceFixture) requests() map[string]conformanceRequest {
	batch := func(name string) map[string]string { return map[string]string{"batch_id": f.batch[name]} }
	job := func(name string) map[string]string { return map[string]string{"job_id": f.job[name]} }
	worker := map[string]string{"job_id": f.job["worker"]}
	wlCancel := map[string]string{"workload_id": f.batch["workload-cancel"]}
	newJobs := []map[string]any{{"runs": 5, "variables": map[string]any{"omega": 1}}}
	return map[string]conformanceRequest{
		"GET /api/v1/batches/last_activity":            {as: "super", query: "?project_id=" + confProjOld},
		"GET /api/v1/batches":                          {as: "user", query: "?project_id=" + confProjOld},
		"POST /api/v1/batches":                         {as: "user", body: newBatch(confProjOld, 2, nil)},
		"GET /api/v1/batches/{batch_id}":               {as: "user"},
		"GET /api/v2/batches/{batch_id}":               {as: "user"},
		"PATCH /api/v1/batches/{batch_id}/status":      {as: "worker", ids: batch("status"), body: map[string]any{"status": "RUNNING", "start_datetime": "2026-01-02T03:04:05Z"}},
		"PUT /api/v1/batches/{batch_id}/cancel":        {as: "user", ids: batch("cancel-v1")},
		"PATCH /api/v2/batches/{batch_id}/cancel":      {as: "user", ids: batch("cancel-v2")},
		"PATCH /api/v1/batches/cancel":                 {as: "user", body: map[string]any{"batch_ids": []string{f.batch["many-v1"], "00000000-0000-0000-0000-000000000000"}}},
		"PATCH /api/v2/batches/cancel":                 {as: "user", body: map[string]any{"batch_ids": []string{f.batch["many-v2"], "00000000-0000-0000-0000-000000000000"}}},
		"PUT /api/v1/batches/{batch_id}/complete":      {as: "user", ids: batch("close-v1")},
		"PATCH /api/v2/batches/{batch_id}/complete":    {as: "user", ids: batch("close-v2")},
		"POST /api/v1/batches/{batch_id}/jobs":         {as: "user", ids: batch("open"), body: newJobs},
		"POST /api/v2/batches/{batch_id}/jobs":         {as: "user", ids: batch("open"), body: newJobs},
		"POST /api/v1/batches/{batch_id}/rebatch":      {as: "user"},
		"PUT /api/v1/batches/{batch_id}/cancel/jobs":   {as: "user", ids: batch("cancel-jobs-v1")},
		"PATCH /api/v2/batches/{batch_id}/cancel/jobs": {as: "user", ids: batch("cancel-jobs-v2")},
		"GET /api/v1/batches/{batch_id}/results_link":  {as: "user"},

		"GET /api/v1/jobs":                      {as: "user", query: "?batch_id=" + f.ids["batch_id"]},
		"GET /api/v2/jobs":                      {as: "user", query: "?batch_id=" + f.ids["batch_id"]},
		"GET /api/v1/jobs/{job_id}":             {as: "user"},
		"GET /api/v2/jobs/{job_id}":             {as: "user"},
		"PUT /api/v1/jobs/{job_id}/cancel":      {as: "user", ids: job("cancel-v1")},
		"PATCH /api/v2/jobs/{job_id}/cancel":    {as: "user", ids: job("cancel-v2")},
		"PUT /api/v1/jobs/{job_id}/status":      {as: "worker", ids: worker, body: map[string]any{"status": "RUNNING", "start_timestamp": "2026-01-02T03:04:05Z"}},
		"PATCH /api/v1/jobs/{job_id}":           {as: "worker", ids: worker, body: map[string]any{"status": "RUNNING", "progress": 50}},
		"POST /api/v1/jobs/{job_id}/errors":     {as: "worker", ids: worker, body: map[string]any{"errors": []string{"retrying"}}},
		"GET /api/v1/jobs/statistics/frequency": {as: "user", query: "?scope=DAY&project_id=" + confProjOld},

		"GET /api/v1/devices":                       {as: "user"},
		"POST /api/v1/devices":                      {as: "super", body: map[string]any{"device_type": "EMU_C", "active": false, "is_emulator": true}},
		"PATCH /api/v1/devices/{device_id}/status":  {as: "super", body: map[string]any{"status": "UP"}},
		"PATCH /api/v1/devices/status":              {as: "super", body: map[string]any{"device_type_names": []string{"EMU_C"}, "status": "UP"}},
		"GET /api/v1/devices/{dt_name}/queue":       {as: "user"},
		"GET /api/v1/devices/specs/{device_type}":   {as: "user"},
		"PATCH /api/v1/devices/specs/{device_type}": {as: "super", ids: map[string]string{"device_type": "EMU_C"}, body: map[string]any{"specs": `{"name":"emu-c","max_atom_num":30}`}},

		"POST /api/v1/workloads":                      {as: "user", body: pulserWorkload(confProjOld)},
		"GET /api/v1/workloads":                       {as: "user", query: "?project_id=" + confProjOld},
		"GET /api/v1/workloads/{workload_id}":         {as: "user"},
		"GET /api/v2/workloads/{workload_id}":         {as: "user"},
		"PUT /api/v1/workloads/{workload_id}/cancel":  {as: "user", ids: wlCancel},
		"PUT /api/v1/workloads/{workload_id}/status":  {as: "worker", body: map[string]any{"status": "DONE"}},
		"POST /api/v1/workloads/{workload_id}/result": {as: "worker", body: map[string]any{"result": map[string]any{"counter": map[string]int{"1": 20}}}},
		"POST /api/v1/workloads/{workload_id}/errors": {as: "worker", body: map[string]any{"errors": []string{"slow"}}},

		"GET /api/v1/learners/{package}":                   {as: "user"},
		"PATCH /api/v1/learners/{package}":                 {as: "user", body: map[string]any{"progress": map[string]any{"intro": map[string]any{"stage": "DONE", "timecode": 30}}}},
		"GET /api/v1/projects/{project_id}/learners":       {as: "user"},
		"POST /api/v1/use-cases":                           {as: "user", body: map[string]any{"title": "Graph colouring", "validation_status": "DRAFT", "questionnaire_id": 4}},
		"GET /api/v1/use-cases/{use_case_id}":              {as: "user"},
		"PATCH /api/v1/use-cases/{use_case_id}":            {as: "user", body: map[string]any{"summary": "MIS on unit-disk graphs, with weights"}},
		"POST /api/v1/use-cases/{use_case_id}/review":      {as: "super", body: map[string]any{"feasibility": "good"}},
		"GET /api/v1/projects/{project_id}/use-cases/mine": {as: "user"},
		"GET /api/v1/projects/{project_id}/use-cases/team": {as: "user"},
		"GET /api/v1/use-cases/examples":                   {as: "user"},
		"POST /api/v1/quizzes/{strapi_quiz_id}":            {as: "user", body: map[string]any{"data": []any{"b"}}},
		"PATCH /api/v1/quizzes/{quiz_id}":                  {as: "user", body: map[string]any{"data": map[string]any{"q1": "c"}}},
	}
}

// TestConformFindsDifferences: the checker reports a missing key, a wrong
// type, a null where none is allowed, and a wrong type inside arrays and maps.
func TestConformFindsDifferences(t *testing.T) {
	keys := map[string]string{
		"data": "object", "data.id": "string", "data.jobs": "array", "data.jobs[]": "object", "data.jobs[].runs": "number",
		"data.errors": "object", "data.errors.*": "string", "data.parent_id": "string",
	}
	good := map[string]any{"data": map[string]any{"id": "x", "parent_id": nil, "jobs": []any{map[string]any{"runs": 1.0}}, "errors": map[string]any{"j": "why"}}}
	if p := conform(good, keys); len(p) != 0 {
		t.Errorf("a conforming document: %v", p)
	}
	bad := map[string]any{"data": map[string]any{"id": nil, "jobs": []any{map[string]any{"runs": "1"}}, "errors": map[string]any{"j": 3.0}}}
	want := []string{"data.errors.* is number, want string", "data.id is null, want string", "data.jobs[].runs is string, want number", "missing key data.parent_id"}
	if p := conform(bad, keys); !slices.Equal(p, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(p, "\n"), strings.Join(want, "\n"))
	}
}
