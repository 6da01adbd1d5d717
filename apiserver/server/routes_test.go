package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// The documented fields and the JSON types each may take ("null" allowed where optional).
var (
	batchFields = map[string]string{
		"id": "string", "parent_id": "string|null", "status": "string", "complete": "bool", "open": "bool",
		"priority": "number", "device_type": "string", "user_id": "string", "project_id": "string",
		"created_at": "string", "updated_at": "string", "sequence_builder": "string", "jobs_count": "number",
		"jobs_count_per_status": "object", "tags": "array", "configuration": "object|null",
		"backend_configuration": "string|null", "webhook": "string|null", "start_datetime": "string|null",
		"end_datetime": "string|null", "device_status": "string|null", "queue_priority": "string",
	}
	jobFields = map[string]string{
		"id": "string", "parent_id": "string|null", "status": "string", "runs": "number", "batch_id": "string",
		"project_id": "string", "created_at": "string", "updated_at": "string", "start_timestamp": "string|null",
		"end_timestamp": "string|null", "variables": "object|null", "errors": "array", "progress": "number",
		"sequence": "string|null", "creation_order": "number", "logs_link": "string|null",
	}
)

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "bool"
	case float64:
		return "number"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

// shape checks that doc has exactly the documented keys (plus extra) with their types.
func shape(t *testing.T, what string, doc map[string]any, fields map[string]string, extra ...string) {
	t.Helper()
	want := map[string]bool{}
	for k := range fields {
		want[k] = true
	}
	for _, k := range extra {
		want[k] = true
	}
	for k := range doc {
		if !want[k] {
			t.Errorf("%s: unexpected key %q", what, k)
		}
	}
	for k, types := range fields {
		v, ok := doc[k]
		if !ok {
			t.Errorf("%s: missing key %q", what, k)
			continue
		}
		if !slices.Contains(strings.Split(types, "|"), jsonType(v)) {
			t.Errorf("%s: %s is %s, want %s", what, k, jsonType(v), types)
		}
	}
}

func envelopeOK(t *testing.T, r response) {
	t.Helper()
	if r.body["status"] != "success" || r.body["code"] != "200" || r.body["message"] != "OK." {
		t.Errorf("not a success envelope: %s", r.raw)
	}
}

func envelopeFail(t *testing.T, r response, status int, contains string) {
	t.Helper()
	expect(t, r, status)
	if r.body["status"] != "fail" || r.body["code"] != fmt.Sprint(status) {
		t.Errorf("not a fail envelope: %s", r.raw)
	}
	desc, _ := r.data()["description"].(string)
	if !strings.Contains(desc, contains) {
		t.Errorf("description %q does not mention %q", desc, contains)
	}
}

func newBatch(project string, jobs int, extra map[string]any) map[string]any {
	b := map[string]any{
		"project_id":       project,
		"sequence_builder": `{"version":"1","name":"seq"}`,
		"device_type":      "EMU_FREE",
		"configuration":    map[string]any{"dt": 10.0, "precision": "normal"},
		"tags":             []string{"t1"},
	}
	var js []map[string]any
	for i := range jobs {
		js = append(js, map[string]any{"runs": 10 + i, "variables": map[string]any{"omega": i}})
	}
	b["jobs"] = js
	for k, v := range extra {
		b[k] = v
	}
	return b
}

func createBatch(t *testing.T, token string, body map[string]any) map[string]any {
	t.Helper()
	r := expect(t, call(t, "POST", "/api/v1/batches", token, body, true), 200)
	return r.data()
}

func TestAuthentication(t *testing.T) {
	envelopeFail(t, call(t, "GET", "/api/v1/batches", "", nil, false), 401, "bearer token")
	envelopeFail(t, call(t, "GET", "/api/v1/batches", "not-a-token", nil, false), 401, "invalid")
	envelopeFail(t, call(t, "GET", "/api/v2/batches/x", "", nil, false), 401, "bearer")
	// Public specs need no token.
	r := expect(t, call(t, "GET", "/api/v1/devices/public-specs", "", nil, false), 200)
	if len(r.list()) != 1 || r.list()[0].(map[string]any)["device_type"] != "EMU_FREE" {
		t.Errorf("public specs: %s", r.raw)
	}
}

func TestCreateAndGetBatch(t *testing.T) {
	b := createBatch(t, tokens["alice"], newBatch(projA, 3, map[string]any{"webhook": "https://example.com/hook", "priority": 5}))
	shape(t, "created batch", b, batchFields, "jobs")
	if b["user_id"] != "system:serviceaccount:tweezer-users:alice" || b["project_id"] != projA || b["status"] != "PENDING" ||
		b["open"] != false || b["complete"] != true || b["queue_priority"] != "MEDIUM" || b["jobs_count"] != 3.0 || b["device_status"] != "UP" {
		t.Errorf("created batch: %v", b)
	}
	if b["jobs_count_per_status"].(map[string]any)["PENDING"] != 3.0 {
		t.Errorf("jobs_count_per_status: %v", b["jobs_count_per_status"])
	}
	jobs := b["jobs"].([]any)
	for i, j := range jobs {
		shape(t, "job", j.(map[string]any), jobFields)
		if j.(map[string]any)["creation_order"] != float64(i+1) || j.(map[string]any)["runs"] != float64(10+i) {
			t.Errorf("job %d: %v", i, j)
		}
	}
	id := b["id"].(string)

	r := expect(t, call(t, "GET", "/api/v2/batches/"+id, tokens["alice"], nil, false), 200)
	envelopeOK(t, r)
	shape(t, "v2 batch", r.data(), batchFields, "jobs", "job_ids", "child_ids")
	if fmt.Sprint(r.data()["job_ids"]) != fmt.Sprint([]any{jobs[0].(map[string]any)["id"], jobs[1].(map[string]any)["id"], jobs[2].(map[string]any)["id"]}) ||
		len(r.data()["child_ids"].([]any)) != 0 {
		t.Errorf("v2 batch ids: %v %v", r.data()["job_ids"], r.data()["child_ids"])
	}

	r = expect(t, call(t, "GET", "/api/v1/batches/"+id, tokens["alice"], nil, false), 200)
	shape(t, "v1 batch", r.data(), batchFields, "jobs", "child_ids")
	for _, j := range r.data()["jobs"].([]any) {
		shape(t, "v1 job", j.(map[string]any), jobFields, "result", "full_result")
	}

	// The resources: one Batch with the jobs inline, and its Jobs.
	var batch quantumv1alpha1.Batch
	if err := admin.Get(context.Background(), client.ObjectKey{Namespace: projA, Name: id}, &batch); err != nil {
		t.Fatal(err)
	}
	if len(batch.Spec.Jobs) != 3 || batch.Spec.Webhook != "https://example.com/hook" || batch.Spec.Priority != 5 {
		t.Errorf("batch spec: %+v", batch.Spec)
	}
	var jl quantumv1alpha1.JobList
	if err := admin.List(context.Background(), &jl, client.InNamespace(projA), client.MatchingLabels{quantumv1alpha1.BatchLabel: id}); err != nil {
		t.Fatal(err)
	}
	if len(jl.Items) != 3 || jl.Items[0].OwnerReferences[0].Name != id {
		t.Errorf("jobs: %d", len(jl.Items))
	}
	for _, j := range jl.Items {
		if j.Name != quantumv1alpha1.InlineJobName(batch.UID, int(j.Spec.CreationOrder-1)) {
			t.Errorf("job %s is not named after its inline entry", j.Name)
		}
	}
}

func TestCreateBatchValidation(t *testing.T) {
	alice := tokens["alice"]
	cases := []struct {
		name   string
		body   any
		status int
		loc    string
	}{
		{"malformed JSON", []byte(`{"project_id": `), 422, "body"},
		{"wrong type", newBatch(projA, 1, map[string]any{"priority": "high"}), 422, "priority"},
		{"unknown device type", newBatch(projA, 1, map[string]any{"device_type": "EMU_QUANTUM"}), 422, "device_type"},
		{"malformed device type", newBatch(projA, 1, map[string]any{"device_type": "emu-quantum"}), 422, "device_type"},
		{"runs zero", newBatch(projA, 0, map[string]any{"jobs": []map[string]any{{"runs": 0}}}), 422, "jobs[0].runs"},
		{"runs negative", newBatch(projA, 0, map[string]any{"jobs": []map[string]any{{"runs": 5}, {"runs": -1}}}), 422, "jobs[1].runs"},
		{"missing sequence", map[string]any{"project_id": projA, "jobs": []map[string]any{{"runs": 1}}}, 422, "sequence_builder"},
		{"unknown project", newBatch("00000000-0000-0000-0000-000000000000", 1, nil), 422, "project_id"},
		{"other's project", newBatch(projB, 1, nil), 422, "project_id"},
		{"device_type and emulator disagree", newBatch(projA, 1, map[string]any{"emulator": "EMU_TN"}), 422, "emulator"},
		{"duplicate tags", newBatch(projA, 1, map[string]any{"tags": []string{"a", "a"}}), 422, "tags"},
		{"queue priority above the project's", newBatch(projA, 1, map[string]any{"queue_priority": "HIGH"}), 403, "queue_priority"},
		{"sequence too large", newBatch(projA, 1, map[string]any{"sequence_builder": strings.Repeat("x", quantumv1alpha1.MaxSequenceBytes+1)}), 413, "1048576"},
		{"body too large", newBatch(projA, 1, map[string]any{"sequence_builder": strings.Repeat("x", 2<<20)}), 413, "limit"},
		{"webhook to a loopback address", newBatch(projA, 1, map[string]any{"webhook": "http://127.0.0.1:8080/hook"}), 422, "webhook"},
		{"webhook to a metadata address", newBatch(projA, 1, map[string]any{"webhook": "http://169.254.169.254/latest"}), 422, "webhook"},
		{"webhook to NAT64", newBatch(projA, 1, map[string]any{"webhook": "https://[64:ff9b::a9fe:a9fe]/"}), 422, "webhook"},
		{"webhook to 6to4", newBatch(projA, 1, map[string]any{"webhook": "https://[2002:a00:1::1]/"}), 422, "webhook"},
		{"webhook to 192.0.0.0/24", newBatch(projA, 1, map[string]any{"webhook": "https://192.0.0.8/"}), 422, "webhook"},
		{"webhook to 198.18.0.0/15", newBatch(projA, 1, map[string]any{"webhook": "https://198.19.1.1/"}), 422, "webhook"},
		{"webhook to 240.0.0.0/4", newBatch(projA, 1, map[string]any{"webhook": "https://250.1.2.3/"}), 422, "webhook"},
		{"webhook to IPv4-compatible IPv6", newBatch(projA, 1, map[string]any{"webhook": "https://[::a00:1]/"}), 422, "webhook"},
		{"webhook to IPv4-mapped IPv6", newBatch(projA, 1, map[string]any{"webhook": "https://[::ffff:10.0.0.1]/"}), 422, "webhook"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := call(t, "POST", "/api/v1/batches", alice, c.body, true)
			envelopeFail(t, r, c.status, c.loc)
			if c.status == 422 && c.loc != "body" && c.loc != "project_id" && c.loc != "emulator" && c.loc != "tags" && c.loc != "jobs" {
				detail, _ := r.data()["detail"].([]any)
				if len(detail) == 0 || !strings.Contains(fmt.Sprint(detail[0].(map[string]any)["loc"]), strings.Split(c.loc, "[")[0]) {
					t.Errorf("detail does not locate %s: %s", c.loc, r.raw)
				}
			}
		})
	}
	// Nothing of the refused batches reached the API server.
	var bl quantumv1alpha1.BatchList
	if err := admin.List(context.Background(), &bl, client.InNamespace(projA)); err != nil {
		t.Fatal(err)
	}
	for _, b := range bl.Items {
		if len(b.Spec.SequenceBuilder) > 1000 {
			t.Errorf("an oversized batch was stored")
		}
	}
	// A closed batch may have no jobs (jobs defaults to []); the controller
	// ends it DONE at once. It used to be refused.
	empty := newBatch(projA, 0, nil)
	delete(empty, "jobs")
	if b := createBatch(t, alice, empty); b["jobs_count"] != 0.0 || len(b["jobs"].([]any)) != 0 || b["open"] != false {
		t.Errorf("closed without jobs: %v", b)
	}
	// configuration is any JSON value; priority any whole number, even written 7.0.
	b := createBatch(t, alice, newBatch(projA, 1, map[string]any{"configuration": []any{"dt", 10}, "priority": 7.0}))
	if fmt.Sprint(b["configuration"]) != "[dt 10]" || b["priority"] != 7.0 {
		t.Errorf("configuration and priority: %v %v", b["configuration"], b["priority"])
	}
	envelopeFail(t, call(t, "POST", "/api/v1/batches", alice, newBatch(projA, 1, map[string]any{"priority": 1.5}), false), 422, "priority")
	// Explicit nulls mean "not given": defaults apply.
	b = createBatch(t, alice, newBatch(projA, 1, map[string]any{"device_type": nil, "emulator": nil, "open": nil, "complete": nil, "webhook": nil, "queue_priority": nil, "tags": nil, "configuration": nil}))
	if b["device_type"] != "FRESNEL" || b["open"] != false || b["queue_priority"] != "MEDIUM" || b["webhook"] != nil {
		t.Errorf("nulls: %v", b)
	}
	// A public literal address, or a name, is accepted at creation (the
	// manager checks the addresses of names when it delivers).
	for _, hook := range []string{"https://203.0.113.7/hook", "https://hooks.example.com/x", "https://[2001:db8::1]/"} {
		if b := createBatch(t, alice, newBatch(projA, 1, map[string]any{"webhook": hook})); b["webhook"] != hook {
			t.Errorf("webhook %s: %v", hook, b["webhook"])
		}
	}
	// The legacy alias alone works.
	b = createBatch(t, alice, newBatch(projA, 1, map[string]any{"device_type": nil, "emulator": "EMU_TN"}))
	if b["device_type"] != "EMU_TN" {
		t.Errorf("emulator alias: %v", b["device_type"])
	}
	// Corrupt gzip is refused.
	r := call(t, "POST", "/api/v1/batches", alice, nil, false)
	envelopeFail(t, r, 422, "body")
}

func TestOpenBatchLifecycle(t *testing.T) {
	alice := tokens["alice"]
	b := createBatch(t, alice, newBatch(projA, 1, map[string]any{"open": true}))
	id := b["id"].(string)
	if b["open"] != true || b["complete"] != false {
		t.Fatalf("open batch: %v", b)
	}
	r := expect(t, call(t, "POST", "/api/v2/batches/"+id+"/jobs", alice, []map[string]any{{"runs": 7, "variables": map[string]any{"x": 1}}, {"runs": 8}}, true), 200)
	jobs := r.data()["jobs"].([]any)
	if len(jobs) != 3 || jobs[1].(map[string]any)["creation_order"] != 2.0 || jobs[2].(map[string]any)["runs"] != 8.0 || r.data()["jobs_count"] != 3.0 {
		t.Fatalf("after adding: %s", r.raw)
	}
	envelopeFail(t, call(t, "POST", "/api/v1/batches/"+id+"/jobs", alice, []map[string]any{{"runs": 0}}, true), 422, "runs")
	r = expect(t, call(t, "PATCH", "/api/v2/batches/"+id+"/complete", alice, nil, false), 200)
	if r.data()["open"] != false || r.data()["complete"] != true {
		t.Fatalf("closed: %s", r.raw)
	}
	expect(t, call(t, "PUT", "/api/v1/batches/"+id+"/complete", alice, nil, false), 200)
	envelopeFail(t, call(t, "POST", "/api/v1/batches/"+id+"/jobs", alice, []map[string]any{{"runs": 1}}, true), 409, "closed")
}

func TestCancel(t *testing.T) {
	alice := tokens["alice"]
	b := createBatch(t, alice, newBatch(projA, 3, nil))
	id := b["id"].(string)
	jobs := b["jobs"].([]any)
	j0 := jobs[0].(map[string]any)["id"].(string)

	r := expect(t, call(t, "PATCH", "/api/v2/jobs/"+j0+"/cancel", alice, nil, false), 200)
	if r.data()["status"] != "CANCELED" || r.data()["end_timestamp"] == nil {
		t.Errorf("canceled job: %s", r.raw)
	}
	envelopeFail(t, call(t, "PUT", "/api/v1/jobs/"+j0+"/cancel", alice, nil, false), 409, "CANCELED")

	j1 := jobs[1].(map[string]any)["id"].(string)
	r = expect(t, call(t, "PATCH", "/api/v2/batches/"+id+"/cancel/jobs?id="+j1, alice, nil, false), 200)
	if len(r.data()["jobs"].([]any)) != 1 || r.data()["jobs"].([]any)[0].(map[string]any)["status"] != "CANCELED" {
		t.Errorf("cancel jobs: %s", r.raw)
	}

	r = expect(t, call(t, "PUT", "/api/v1/batches/"+id+"/cancel", alice, nil, false), 200)
	if r.data()["status"] != "CANCELED" || r.data()["jobs_count_per_status"].(map[string]any)["CANCELED"] != 3.0 {
		t.Errorf("canceled batch: %s", r.raw)
	}
	var batch quantumv1alpha1.Batch
	if err := admin.Get(context.Background(), client.ObjectKey{Namespace: projA, Name: id}, &batch); err != nil || !batch.Spec.Canceled {
		t.Errorf("spec.canceled not set: %v", err)
	}
	envelopeFail(t, call(t, "PATCH", "/api/v2/batches/"+id+"/cancel", alice, nil, false), 409, "CANCELED")

	// Cancel many: one good, one already canceled, one unknown, one of another project.
	other := createBatch(t, tokens["bob"], newBatch(projB, 1, nil))["id"].(string)
	good := createBatch(t, alice, newBatch(projA, 1, nil))["id"].(string)
	r = expect(t, call(t, "PATCH", "/api/v1/batches/cancel", alice, map[string]any{"batch_ids": []string{good, id, "nope", other}}, false), 200)
	if len(r.data()["batches"].([]any)) != 1 || len(r.data()["errors"].(map[string]any)) != 3 {
		t.Errorf("cancel many: %s", r.raw)
	}
	if !strings.Contains(r.data()["errors"].(map[string]any)[other].(string), "not found") {
		t.Errorf("another project's batch is not reported as unknown: %s", r.raw)
	}
	expect(t, call(t, "PATCH", "/api/v2/batches/cancel", alice, map[string]any{"batch_ids": []string{}}, false), 200)
}

func TestRolesAndIsolation(t *testing.T) {
	a := createBatch(t, tokens["alice"], newBatch(projA, 1, map[string]any{"open": true}))
	bb := createBatch(t, tokens["bob"], newBatch(projB, 1, map[string]any{"open": true}))
	aID, bID := a["id"].(string), bb["id"].(string)
	aJob := a["jobs"].([]any)[0].(map[string]any)["id"].(string)
	bJob := bb["jobs"].([]any)[0].(map[string]any)["id"].(string)
	for _, c := range []struct{ who, batch, job string }{{"alice", bID, bJob}, {"bob", aID, aJob}} {
		tok := tokens[c.who]
		envelopeFail(t, call(t, "GET", "/api/v2/batches/"+c.batch, tok, nil, false), 404, "not found")
		envelopeFail(t, call(t, "GET", "/api/v1/batches/"+c.batch, tok, nil, false), 404, "not found")
		envelopeFail(t, call(t, "PUT", "/api/v1/batches/"+c.batch+"/cancel", tok, nil, false), 404, "not found")
		envelopeFail(t, call(t, "POST", "/api/v2/batches/"+c.batch+"/jobs", tok, []map[string]any{{"runs": 1}}, true), 404, "not found")
		envelopeFail(t, call(t, "PATCH", "/api/v2/batches/"+c.batch+"/complete", tok, nil, false), 404, "not found")
		envelopeFail(t, call(t, "GET", "/api/v2/jobs/"+c.job, tok, nil, false), 404, "not found")
		envelopeFail(t, call(t, "PATCH", "/api/v2/jobs/"+c.job+"/cancel", tok, nil, false), 404, "not found")
		r := expect(t, call(t, "GET", "/api/v1/batches?id="+c.batch, tok, nil, false), 200)
		if len(r.list()) != 0 {
			t.Errorf("%s lists another project's batch", c.who)
		}
		r = expect(t, call(t, "GET", "/api/v2/jobs?batch_id="+c.batch, tok, nil, false), 200)
		if len(r.list()) != 0 {
			t.Errorf("%s lists another project's jobs", c.who)
		}
	}
	// Unknown ids are 404 too.
	envelopeFail(t, call(t, "GET", "/api/v2/batches/00000000-0000-0000-0000-000000000000", tokens["alice"], nil, false), 404, "not found")
	// A read-only member sees but may not write: 403.
	expect(t, call(t, "GET", "/api/v2/batches/"+aID, tokens["reader"], nil, false), 200)
	envelopeFail(t, call(t, "PUT", "/api/v1/batches/"+aID+"/cancel", tokens["reader"], nil, false), 403, "may not update")
	envelopeFail(t, call(t, "POST", "/api/v1/batches", tokens["reader"], newBatch(projA, 1, nil), true), 403, "may not create")
	envelopeFail(t, call(t, "POST", "/api/v2/batches/"+aID+"/jobs", tokens["reader"], []map[string]any{{"runs": 1}}, true), 403, "may not create")
	// Someone without any role sees nothing.
	envelopeFail(t, call(t, "GET", "/api/v2/batches/"+aID, tokens["nobody"], nil, false), 404, "not found")
	envelopeFail(t, call(t, "GET", "/api/v1/devices", tokens["nobody"], nil, false), 403, "may not list devices")
	// Superuser endpoints refuse users; the superuser sees every project.
	envelopeFail(t, call(t, "GET", "/api/v1/batches/last_activity", tokens["alice"], nil, false), 403, "superuser")
	envelopeFail(t, call(t, "PATCH", "/api/v1/devices/fresnel/status", tokens["alice"], map[string]any{"status": "DOWN"}, false), 403, "superuser")
	envelopeFail(t, call(t, "PATCH", "/api/v1/batches/"+aID+"/status", tokens["alice"], map[string]any{"status": "RUNNING"}, false), 403, "batches/status")
	expect(t, call(t, "GET", "/api/v2/batches/"+bID, tokens["super"], nil, false), 200)
	r := expect(t, call(t, "GET", "/api/v1/batches/last_activity?project_id="+projA+"&project_id="+projB, tokens["super"], nil, false), 200)
	if len(r.list()) != 2 || r.list()[0].(map[string]any)["last_activity_date"] == nil {
		t.Errorf("last activity: %s", r.raw)
	}
	// Projects: each user sees their own.
	r = expect(t, call(t, "GET", "/api/v1/projects?project_status=ACTIVE", tokens["bob"], nil, false), 200)
	if len(r.list()) != 1 || r.list()[0].(map[string]any)["id"] != projB || r.list()[0].(map[string]any)["name"] == nil {
		t.Errorf("bob's projects: %s", r.raw)
	}
	r = expect(t, call(t, "GET", "/api/v1/projects", tokens["alice"], nil, false), 200)
	if len(r.list()) != 2 {
		t.Errorf("alice's projects: %s", r.raw)
	}
}

func TestWorkerEndpointsAndResults(t *testing.T) {
	alice, worker := tokens["alice"], tokens["worker"]
	b := createBatch(t, alice, newBatch(projA, 2, nil))
	id := b["id"].(string)
	j0 := b["jobs"].([]any)[0].(map[string]any)["id"].(string)

	r := expect(t, call(t, "PATCH", "/api/v1/batches/"+id+"/status", worker, map[string]any{"status": "RUNNING", "device_id": "emu-free", "start_datetime": "2026-01-02T03:04:05Z"}, false), 200)
	if r.data()["status"] != "RUNNING" || r.data()["start_datetime"] != "2026-01-02T03:04:05Z" {
		t.Errorf("batch status: %s", r.raw)
	}
	envelopeFail(t, call(t, "PATCH", "/api/v1/batches/"+id+"/status", worker, map[string]any{"status": "SLEEPING"}, false), 422, "status")
	r = expect(t, call(t, "PUT", "/api/v1/jobs/"+j0+"/status", worker, map[string]any{"status": "RUNNING", "start_timestamp": "2026-01-02T03:04:06Z"}, false), 200)
	if r.data()["status"] != "RUNNING" || r.data()["start_timestamp"] != "2026-01-02T03:04:06Z" {
		t.Errorf("job status: %s", r.raw)
	}
	r = expect(t, call(t, "PATCH", "/api/v1/jobs/"+j0, worker, map[string]any{"status": "RUNNING", "progress": 40}, false), 200)
	if r.data()["progress"] != 40.0 {
		t.Errorf("progress: %s", r.raw)
	}
	envelopeFail(t, call(t, "PATCH", "/api/v1/jobs/"+j0, worker, map[string]any{"status": "RUNNING", "progress": 101}, false), 422, "progress")
	r = expect(t, call(t, "POST", "/api/v1/jobs/"+j0+"/errors", worker, map[string]any{"errors": []string{"first"}}, false), 200)
	r = expect(t, call(t, "POST", "/api/v1/jobs/"+j0+"/errors", worker, map[string]any{"errors": []string{"second"}}, false), 200)
	if fmt.Sprint(r.data()["errors"]) != "[first second]" {
		t.Errorf("errors: %s", r.raw)
	}
	envelopeFail(t, call(t, "POST", "/api/v1/jobs/"+j0+"/errors", alice, map[string]any{"errors": []string{"x"}}, false), 403, "jobs/status")

	// The runner stores a result: counter in status, full result in a ConfigMap.
	ctx := context.Background()
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: quantumv1alpha1.ResultConfigMapName(j0), Namespace: projA},
		Data:       map[string]string{quantumv1alpha1.ResultKey: `{"counter": {"01": 3, "10": 7}, "raw": ["01", "10"]}`},
	}
	if err := admin.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	updateJobStatus(t, projA, j0, func(job *quantumv1alpha1.Job) {
		job.Status.Phase = quantumv1alpha1.JobDone
		job.Status.Counter = map[string]int64{"01": 3, "10": 7}
		job.Status.ResultRef = cm.Name
	})
	r = expect(t, call(t, "PATCH", "/api/v1/jobs/"+j0, worker, map[string]any{"status": "DONE", "progress": 100}, false), 200)

	r = expect(t, call(t, "GET", "/api/v1/jobs/"+j0, alice, nil, false), 200)
	shape(t, "v1 job", r.data(), jobFields, "result", "full_result")
	if fmt.Sprint(r.data()["result"]) != "map[01:3 10:7]" || fmt.Sprint(r.data()["full_result"]) != "map[counter:map[01:3 10:7] raw:[01 10]]" {
		t.Errorf("results: %s", r.raw)
	}
	r = expect(t, call(t, "GET", "/api/v2/jobs/"+j0, alice, nil, false), 200)
	shape(t, "v2 job", r.data(), jobFields)

	// The results link is fetchable without a token, as the SDK fetches it.
	r = expect(t, call(t, "GET", "/api/v1/jobs/"+j0+"/results_link", alice, nil, false), 200)
	link := r.data()["results_link"].(string)
	if !strings.HasPrefix(link, facade.URL+"/api/v1/jobs/"+j0+"/results?") {
		t.Fatalf("link %s", link)
	}
	res := fetchLink(t, link)
	if fmt.Sprint(res.body) != "map[counter:map[01:3 10:7] raw:[01 10]]" {
		t.Errorf("results: %s", res.raw)
	}
	u, _ := url.Parse(link)
	q := u.Query()
	q.Set("signature", strings.Repeat("0", 64))
	u.RawQuery = q.Encode()
	envelopeFail(t, fetchLink(t, u.String()), 401, "invalid")
	envelopeFail(t, call(t, "GET", "/api/v1/jobs/"+j0+"/results", "", nil, false), 401, "signed link")

	// A small result is inline in the job's status, with no ConfigMap: the
	// job, its full_result and its results link serve it the same way.
	updateJobStatus(t, projA, j0, func(job *quantumv1alpha1.Job) {
		job.Status.Counter = map[string]int64{"11": 1, "00": 1}
		job.Status.Raw, job.Status.ResultRef = []string{"11", "00"}, ""
	})
	if err := admin.Delete(ctx, cm); err != nil {
		t.Fatal(err)
	}
	// The facade reads from its cache, which sees the admin's write shortly.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r = expect(t, call(t, "GET", "/api/v1/jobs/"+j0, alice, nil, false), 200)
		if fmt.Sprint(r.data()["full_result"]) == "map[counter:map[00:1 11:1] raw:[11 00]]" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("inline full_result: %s", r.raw)
		}
	}
	r = expect(t, call(t, "GET", "/api/v1/jobs/"+j0+"/results_link", alice, nil, false), 200)
	if res := fetchLink(t, r.data()["results_link"].(string)); fmt.Sprint(res.body) != "map[counter:map[00:1 11:1] raw:[11 00]]" {
		t.Errorf("inline results: %s", res.raw)
	}
	expect(t, call(t, "GET", "/api/v1/jobs/"+j0+"/results", alice, nil, false), 200)
	envelopeFail(t, call(t, "GET", "/api/v1/jobs/"+j0+"/results", tokens["bob"], nil, false), 404, "not found")

	// Batch results links: one job has a result, the other not yet.
	r = expect(t, call(t, "GET", "/api/v1/batches/"+id+"/results_link", alice, nil, false), 200)
	if len(r.data()["results_links"].(map[string]any)) != 1 || len(r.data()["errors"].(map[string]any)) != 1 {
		t.Errorf("batch results links: %s", r.raw)
	}
	// Tags, both body forms.
	r = expect(t, call(t, "PATCH", "/api/v1/batches/"+id+"/tags", alice, []string{"x", "y"}, false), 200)
	if fmt.Sprint(r.data()["tags"]) != "[x y]" {
		t.Errorf("tags: %s", r.raw)
	}
	r = expect(t, call(t, "PATCH", "/api/v1/batches/"+id+"/tags", alice, map[string]any{"tags": []string{"z"}}, false), 200)
	if fmt.Sprint(r.data()["tags"]) != "[z]" {
		t.Errorf("tags: %s", r.raw)
	}
	envelopeFail(t, call(t, "PATCH", "/api/v1/batches/"+id+"/tags", alice, []string{"a", "a"}, false), 422, "tags")
}

func fetchLink(t *testing.T, link string) response {
	t.Helper()
	path := strings.TrimPrefix(link, facade.URL)
	return call(t, "GET", path, "", nil, false)
}

func TestRebatch(t *testing.T) {
	alice := tokens["alice"]
	b := createBatch(t, alice, newBatch(projA, 3, nil))
	id := b["id"].(string)
	j2 := b["jobs"].([]any)[2].(map[string]any)["id"].(string)
	r := expect(t, call(t, "POST", "/api/v1/batches/"+id+"/rebatch?min_runs=11", alice, nil, false), 200)
	child := r.data()
	if child["parent_id"] != id || child["jobs_count"] != 2.0 {
		t.Fatalf("rebatch: %s", r.raw)
	}
	cj := child["jobs"].([]any)
	if cj[1].(map[string]any)["parent_id"] != j2 || cj[1].(map[string]any)["runs"] != 12.0 || cj[0].(map[string]any)["creation_order"] != 1.0 {
		t.Errorf("rebatched jobs: %v", cj)
	}
	r = expect(t, call(t, "GET", "/api/v1/batches/"+id, alice, nil, false), 200)
	if fmt.Sprint(r.data()["child_ids"]) != "["+child["id"].(string)+"]" {
		t.Errorf("child_ids: %v", r.data()["child_ids"])
	}
	envelopeFail(t, call(t, "POST", "/api/v1/batches/"+id+"/rebatch?min_runs=1000", alice, nil, false), 422, "no job")
	envelopeFail(t, call(t, "POST", "/api/v1/batches/"+id+"/rebatch?status=SLEEPING", alice, nil, false), 422, "status")
}

func TestDevices(t *testing.T) {
	alice, super := tokens["alice"], tokens["super"]
	r := expect(t, call(t, "GET", "/api/v1/devices/specs", alice, nil, false), 200)
	specs := r.data()
	if len(specs) != 2 || !strings.Contains(specs["FRESNEL"].(string), "Fresnel") {
		t.Errorf("specs: %.300s", r.raw)
	}
	r = expect(t, call(t, "GET", "/api/v1/devices?include_legacy=false", alice, nil, false), 200)
	if r.body["pagination"].(map[string]any)["total"] != 2.0 {
		t.Errorf("devices: %.300s", r.raw)
	}
	r = expect(t, call(t, "GET", "/api/v1/devices/specs/FRESNEL", alice, nil, false), 200)
	if r.data()["device_type"] != "FRESNEL" {
		t.Errorf("type specs: %.200s", r.raw)
	}
	envelopeFail(t, call(t, "GET", "/api/v1/devices/specs/EMU_TN", alice, nil, false), 404, "EMU_TN")
	r = expect(t, call(t, "GET", "/api/v1/devices/EMU_FREE/queue", alice, nil, false), 200)
	if qs := r.data()["device_queues"].([]any); len(qs) != 3 || qs[0].(map[string]any)["queue"] != "HIGH" {
		t.Errorf("queue: %s", r.raw)
	}
	envelopeFail(t, call(t, "POST", "/api/v1/devices", alice, map[string]any{"device_type": "EMU_TN"}, false), 403, "superuser")
	r = expect(t, call(t, "POST", "/api/v1/devices", super, map[string]any{"device_type": "EMU_TN", "status": "DOWN", "is_emulator": true, "allowed_result_types": []string{"counter"}}, false), 200)
	devID := r.data()["id"].(string)
	if r.data()["status"] != "DOWN" || r.data()["active"] != true || r.data()["specs"] == "" {
		t.Errorf("created device: %.300s", r.raw)
	}
	envelopeFail(t, call(t, "POST", "/api/v1/devices", super, map[string]any{"device_type": "emu xx"}, false), 422, "device_type")
	r = expect(t, call(t, "PATCH", "/api/v1/devices/"+devID+"/status", super, map[string]any{"status": "UP"}, false), 200)
	if r.data()["status"] != "UP" {
		t.Errorf("device status: %.200s", r.raw)
	}
	envelopeFail(t, call(t, "PATCH", "/api/v1/devices/nope/status", super, map[string]any{"status": "UP"}, false), 404, "nope")
	r = expect(t, call(t, "PATCH", "/api/v1/devices/status", super, map[string]any{"device_type_names": []string{"EMU_TN"}, "status": "DOWN"}, false), 200)
	if len(r.list()) != 1 || r.list()[0].(map[string]any)["status"] != "DOWN" {
		t.Errorf("devices status: %.200s", r.raw)
	}
	r = expect(t, call(t, "PATCH", "/api/v1/devices/specs/EMU_TN", super, map[string]any{"specs": `{"name":"custom"}`}, false), 200)
	r = expect(t, call(t, "GET", "/api/v1/devices/specs/EMU_TN", alice, nil, false), 200)
	if r.data()["specs"] != `{"name":"custom"}` {
		t.Errorf("specs after patch: %s", r.raw)
	}
}

func TestOpenAPIAndDocs(t *testing.T) {
	r := expect(t, call(t, "GET", "/openapi.json", "", nil, false), 200)
	paths := r.body["paths"].(map[string]any)
	for _, p := range []string{"/api/v1/batches", "/api/v2/batches/{batch_id}", "/api/v1/jobs/{job_id}/results_link", "/api/v1/devices/specs", "/api/v1/projects", "/api/v1/devices/{dt_name}/queue"} {
		if _, ok := paths[p]; !ok {
			t.Errorf("openapi.json lacks %s", p)
		}
	}
	// /docs works offline: the page loads only the spec and the embedded
	// renderer, both from the facade.
	page := get(t, facade.URL+"/docs")
	if strings.Contains(page, "https://") || !strings.Contains(page, `spec-url="openapi.json"`) {
		t.Errorf("docs page refers to another host or not to the spec: %s", page)
	}
	if js := get(t, facade.URL+"/docs/redoc.standalone.js"); len(js) < 500_000 || !strings.Contains(js[:300], "Redoc") {
		t.Errorf("renderer: %d bytes", len(js))
	}
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	return string(raw)
}

// keys of a list page, in order.
func ids(r response) []string {
	var out []string
	for _, it := range r.list() {
		out = append(out, it.(map[string]any)["id"].(string))
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

func TestSlowClientTimesOut(t *testing.T) {
	conn, err := net.Dial("tcp", strings.TrimPrefix(facade.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Announce 1000 bytes, send 10, then stall.
	fmt.Fprintf(conn, "POST /api/v1/batches HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"project_", tokens["alice"])
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("status %d, want 408", resp.StatusCode)
	}
}

func TestJobsFrequency(t *testing.T) {
	createBatch(t, tokens["bob"], newBatch(projB, 2, map[string]any{"device_type": "EMU_SV"}))
	r := expect(t, call(t, "GET", "/api/v1/jobs/statistics/frequency?scope=DAY&project_id="+projB, tokens["bob"], nil, false), 200)
	day := time.Now().UTC().Format("2006-01-02") + "T00:00:00Z"
	found := false
	if r.data()["job_date_scope"] != "DAY" {
		t.Errorf("scope: %s", r.raw)
	}
	for _, it := range r.data()["count"].([]any) {
		m := it.(map[string]any)
		devices := m["devices"].(map[string]any)
		if m["datetime"] == day {
			found = devices["EMU_SV"].(float64) >= 2
		}
		if devices["EMU_TN"] != nil {
			t.Errorf("alice's EMU_TN jobs are counted for bob: %v", m)
		}
	}
	if !found {
		t.Errorf("frequency: %s", r.raw)
	}
	// One project, required (it used to default to every project of the caller).
	envelopeFail(t, call(t, "GET", "/api/v1/jobs/statistics/frequency?scope=DAY", tokens["bob"], nil, false), 422, "project_id")
	envelopeFail(t, call(t, "GET", "/api/v1/jobs/statistics/frequency?scope=DAY&project_id="+projA, tokens["bob"], nil, false), 404, "not found")
	envelopeFail(t, call(t, "GET", "/api/v1/jobs/statistics/frequency?scope=WEEK", tokens["bob"], nil, false), 422, "scope")
	envelopeFail(t, call(t, "GET", "/api/v1/jobs/statistics/frequency", tokens["bob"], nil, false), 422, "scope")
}

// Device types are an open set: a type becomes known when a Device declares
// it, and only then takes batches.
func TestDeclaredDeviceType(t *testing.T) {
	alice, super := tokens["alice"], tokens["super"]
	envelopeFail(t, call(t, "POST", "/api/v1/batches", alice, newBatch(projA, 1, map[string]any{"device_type": "FRESNEL_CAN1"}), false), 422, "unknown device type FRESNEL_CAN1")
	envelopeFail(t, call(t, "POST", "/api/v1/batches", alice, newBatch(projA, 1, map[string]any{"device_type": nil, "emulator": "EMU_WARP"}), false), 422, "emulator")

	r := expect(t, call(t, "POST", "/api/v1/devices", super, map[string]any{"device_type": "FRESNEL_CAN1", "status": "DOWN"}, false), 200)
	devID := r.data()["id"].(string)
	t.Cleanup(func() {
		_ = admin.Delete(context.Background(), &quantumv1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: devID}})
	})
	// The facade's cache sees the new Device shortly.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r = call(t, "POST", "/api/v1/batches", alice, newBatch(projA, 1, map[string]any{"device_type": "FRESNEL_CAN1"}), false)
		if r.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a declared device type is refused: %d %s", r.status, r.raw)
		}
	}
	if r.data()["device_type"] != "FRESNEL_CAN1" {
		t.Errorf("batch device_type: %.200s", r.raw)
	}
	var b quantumv1alpha1.Batch
	if err := admin.Get(context.Background(), client.ObjectKey{Namespace: projA, Name: r.data()["id"].(string)}, &b); err != nil {
		t.Fatal(err)
	}
	if b.Spec.DeviceType != "FRESNEL_CAN1" {
		t.Errorf("stored device type %q", b.Spec.DeviceType)
	}
}
