package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/workload"
	"github.com/tweezer-dev/tweezer/internal/nbserver"
)

// Tests of the workload, learner, use-case and quiz routes. carol is a
// second member of project A, to tell owners from other members.

var (
	carolOnce sync.Once
	carol     string
)

func userID(name string) string { return "system:serviceaccount:" + usersNS + ":" + name }

func carolToken(t *testing.T) string {
	t.Helper()
	carolOnce.Do(func() {
		ctx := context.Background()
		token, err := newUser(ctx, "carol")
		if err != nil {
			t.Fatal(err)
		}
		if err := bindMember(ctx, projA, "carol"); err != nil {
			t.Fatal(err)
		}
		carol = token
	})
	return carol
}

var workloadFields = map[string]string{
	"id": "string", "project_id": "string", "user_id": "string", "workload_type": "string", "backend": "string",
	"config": "object", "status": "string", "created_at": "string", "updated_at": "string",
	"start_timestamp": "string|null", "end_timestamp": "string|null", "errors": "array", "queue_priority": "string",
}

// one is the only item of a response whose data is a list of one object
// (learners, use cases and quiz responses, as in the reference).
func one(t *testing.T, r response) map[string]any {
	t.Helper()
	if len(r.list()) != 1 {
		t.Fatalf("data is not a list of one object: %s", r.raw)
	}
	return r.list()[0].(map[string]any)
}

func pulserWorkload(project string) map[string]any {
	return map[string]any{"project_id": project, "workload_type": "qadence_circuit", "backend": "pulser_basic",
		"config": map[string]any{"sequence_builder": `{"version":"1"}`, "variables": map[string]any{"t": []int{500}}, "runs": 20}}
}

func TestWorkloadRoutes(t *testing.T) {
	alice, bob, worker := tokens["alice"], tokens["bob"], tokens["worker"]
	r := expect(t, call(t, "POST", "/api/v1/workloads", alice, pulserWorkload(projA), false), 200)
	envelopeOK(t, r)
	wl := r.data()
	shape(t, "created workload", wl, workloadFields, "result")
	id := wl["id"].(string)
	if wl["status"] != "PENDING" || wl["user_id"] != userID("alice") || wl["project_id"] != projA || wl["result"] != nil || wl["queue_priority"] != "MEDIUM" || wl["config"].(map[string]any)["runs"] != float64(20) {
		t.Fatalf("created: %v", wl)
	}

	// Creation errors.
	bad := pulserWorkload(projA)
	delete(bad, "config")
	envelopeFail(t, call(t, "POST", "/api/v1/workloads", alice, bad, false), 422, "config")
	bad = pulserWorkload(projA)
	bad["backend"] = "qiskit"
	envelopeFail(t, call(t, "POST", "/api/v1/workloads", alice, bad, false), 422, "backend")
	bad = pulserWorkload(projA)
	bad["config"] = map[string]any{"sequence_builder": `{"version":"1"}`, "runs": 0}
	envelopeFail(t, call(t, "POST", "/api/v1/workloads", alice, bad, false), 422, "config.runs: must be between 1 and")
	bad["backend"] = "pyqtorch" // other backends' configs are their runners' business
	expect(t, call(t, "POST", "/api/v1/workloads", alice, bad, false), 200)
	envelopeFail(t, call(t, "POST", "/api/v1/workloads", alice, pulserWorkload(projB), false), 404, "project "+projB+" not found")
	// reader may read batches and jobs of project A, not workloads: the project looks unknown.
	envelopeFail(t, call(t, "POST", "/api/v1/workloads", tokens["reader"], pulserWorkload(projA), false), 404, "not found")
	envelopeFail(t, call(t, "POST", "/api/v1/workloads", "", pulserWorkload(projA), false), 401, "bearer token")

	// Reads.
	r = expect(t, call(t, "GET", "/api/v2/workloads/"+id, alice, nil, false), 200)
	shape(t, "workload v2", r.data(), workloadFields, "result")
	envelopeFail(t, call(t, "GET", "/api/v1/workloads/"+id, bob, nil, false), 404, "workload "+id+" not found")
	envelopeFail(t, call(t, "GET", "/api/v2/workloads/00000000-0000-0000-0000-000000000000", alice, nil, false), 404, "not found")
	other := expect(t, call(t, "POST", "/api/v1/workloads", alice, pulserWorkload(projBig), false), 200).data()["id"].(string)
	r = expect(t, call(t, "GET", "/api/v1/workloads?project_id="+projA+"&status=PENDING&id__starts_with="+id[:8], alice, nil, false), 200)
	if got := ids(r); len(got) != 1 || got[0] != id {
		t.Fatalf("filtered list: %v", got)
	}
	r = expect(t, call(t, "GET", "/api/v1/workloads?limit=1&order_by_direction=ASC", alice, nil, false), 200)
	if p := r.body["pagination"].(map[string]any); p["total"] != float64(3) || p["end"] != float64(1) || len(r.list()) != 1 {
		t.Fatalf("page: %v %v", p, ids(r))
	}
	next := expect(t, call(t, "GET", "/api/v1/workloads?limit=2&offset=1&order_by_direction=ASC", alice, nil, false), 200)
	desc := expect(t, call(t, "GET", "/api/v1/workloads?limit=1", alice, nil, false), 200)
	if p := next.body["pagination"].(map[string]any); p["start"] != float64(1) || p["end"] != float64(3) {
		t.Fatalf("second page: %v", p)
	}
	if ids(next)[0] == ids(r)[0] || ids(desc)[0] != ids(next)[1] {
		t.Fatalf("pages: ASC %v then %v, DESC %v", ids(r), ids(next), ids(desc))
	}
	if got := ids(expect(t, call(t, "GET", "/api/v1/workloads?id="+other, bob, nil, false), 200)); len(got) != 0 {
		t.Fatalf("bob sees %v", got)
	}
	envelopeFail(t, call(t, "GET", "/api/v1/workloads?order_by=color", alice, nil, false), 422, "order_by")
	envelopeFail(t, call(t, "GET", "/api/v1/workloads?start_date=yesterday", alice, nil, false), 422, "start_date")

	// Workers.
	envelopeFail(t, call(t, "PUT", "/api/v1/workloads/"+id+"/status", alice, map[string]any{"status": "RUNNING"}, false), 403, "workloads/status")
	r = expect(t, call(t, "PUT", "/api/v1/workloads/"+id+"/status", worker, map[string]any{"status": "RUNNING", "start_timestamp": "2026-01-02T03:04:05Z"}, false), 200)
	if r.data()["status"] != "RUNNING" || r.data()["start_timestamp"] != "2026-01-02T03:04:05Z" {
		t.Fatalf("status: %v", r.data())
	}
	envelopeFail(t, call(t, "PUT", "/api/v1/workloads/"+id+"/status", worker, map[string]any{"status": "FINISHED"}, false), 422, "status")
	envelopeFail(t, call(t, "PUT", "/api/v1/workloads/"+id+"/status", worker, map[string]any{"status": "DONE", "end_timestamp": "soon"}, false), 422, "end_timestamp")
	expect(t, call(t, "POST", "/api/v1/workloads/"+id+"/errors", worker, map[string]any{"errors": []string{"warn: slow"}}, false), 200)
	envelopeFail(t, call(t, "POST", "/api/v1/workloads/"+id+"/result", worker, map[string]any{"result": "x"}, false), 422, "result")
	r = expect(t, call(t, "POST", "/api/v1/workloads/"+id+"/result", worker, map[string]any{"result": map[string]any{"counter": map[string]int{"1": 20}}}, false), 200)
	if fmt.Sprint(r.data()["result"]) != "map[counter:map[1:20]]" || r.data()["errors"].([]any)[0] != "warn: slow" {
		t.Fatalf("after result: %v", r.data())
	}
	r = expect(t, call(t, "GET", "/api/v1/workloads/"+id, alice, nil, false), 200)
	shape(t, "workload v1", r.data(), workloadFields, "result_link")
	link, _ := r.data()["result_link"].(string)
	r = expect(t, call(t, "GET", "/api/v2/workloads/"+id, alice, nil, false), 200)
	if c := r.data()["result"].(map[string]any)["counter"].(map[string]any); c["1"] != float64(20) {
		t.Fatalf("v2 result: %v", r.data()["result"])
	}
	got := fetchLink(t, link)
	if got.status != 200 || got.body["counter"].(map[string]any)["1"] != float64(20) {
		t.Fatalf("result link: %d %s", got.status, got.raw)
	}
	u, _ := url.Parse(link)
	q := u.Query()
	q.Set("signature", strings.Repeat("0", 64))
	u.RawQuery = q.Encode()
	if r := fetchLink(t, u.String()); r.status != 401 {
		t.Fatalf("forged link: %d", r.status)
	}
	envelopeFail(t, call(t, "GET", "/api/v1/workloads/"+other+"/result", alice, nil, false), 404, "has no result yet")

	// Cancel: the owner only, and not once finished.
	envelopeFail(t, call(t, "PUT", "/api/v1/workloads/"+id+"/cancel", carolToken(t), nil, false), 403, "only the owner")
	envelopeFail(t, call(t, "PUT", "/api/v1/workloads/"+id+"/cancel", bob, nil, false), 404, "not found")
	// Cancel answers CANCELED (the controller stops the runner).
	if r := expect(t, call(t, "PUT", "/api/v1/workloads/"+id+"/cancel", alice, nil, false), 200); r.data()["status"] != "CANCELED" || r.data()["end_timestamp"] == nil {
		t.Fatalf("canceled: %v", r.data())
	}
	stored := &quantumv1alpha1.Workload{}
	if err := admin.Get(context.Background(), client.ObjectKey{Namespace: projA, Name: id}, stored); err != nil || !stored.Spec.Canceled || stored.Status.Phase != quantumv1alpha1.WorkloadCanceled {
		t.Fatalf("cancel not stored: %v %+v %+v", err, stored.Spec, stored.Status)
	}
	// The workload controller wrote CANCELED, not the facade.
	if c := meta.FindStatusCondition(stored.Status.Conditions, quantumv1alpha1.ConditionRunner); c == nil || c.Reason != workload.ReasonCanceled {
		t.Fatalf("CANCELED without the controller's Runner condition: %+v", stored.Status.Conditions)
	}
	// A worker repeats a terminal status freely but cannot revive the workload.
	expect(t, call(t, "PUT", "/api/v1/workloads/"+id+"/status", worker, map[string]any{"status": "CANCELED"}, false), 200)
	envelopeFail(t, call(t, "PUT", "/api/v1/workloads/"+id+"/status", worker, map[string]any{"status": "RUNNING"}, false), 409, "already CANCELED")
	envelopeFail(t, call(t, "PUT", "/api/v1/workloads/"+id+"/cancel", alice, nil, false), 409, "already CANCELED")
}

var learnerFields = map[string]string{
	"id": "string", "user_id": "string", "project_id": "string", "package": "string", "progress": "object|null",
	"notebooks": "array", "created_at": "string", "updated_at": "string",
}

// eventuallyT polls cond for ten seconds.
func eventuallyT(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// setNotebookStatus plays the notebook controller.
func setNotebookStatus(t *testing.T, id string, st quantumv1alpha1.NotebookStatus) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		l := &quantumv1alpha1.Learner{}
		if err := admin.Get(context.Background(), client.ObjectKey{Namespace: projA, Name: id}, l); err != nil {
			return err
		}
		l.Status.Notebooks = []quantumv1alpha1.NotebookStatus{st}
		return admin.Status().Update(context.Background(), l)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLearnerRoutes(t *testing.T) {
	alice, bob := tokens["alice"], tokens["bob"]
	// alice belongs to projA and projBig: without project_id her first
	// project (the oldest, projA) holds her record (it used to be a 422).
	r := expect(t, call(t, "GET", "/api/v1/learners/VQPU", alice, nil, false), 200)
	envelopeOK(t, r)
	l0 := one(t, r)
	shape(t, "learner", l0, learnerFields)
	id := l0["id"].(string)
	if id != quantumv1alpha1.LearnerName(userID("alice"), "VQPU") || len(l0["progress"].(map[string]any)) != 0 || l0["project_id"] != projA {
		t.Fatalf("learner: %v", l0)
	}
	if again := expect(t, call(t, "GET", "/api/v1/learners/VQPU?project_id="+projA, alice, nil, false), 200); one(t, again)["id"] != id {
		t.Fatal("get-or-create made a second learner")
	}
	if r := expect(t, call(t, "GET", "/api/v1/learners/LEARN_BY_CODING", bob, nil, false), 200); one(t, r)["project_id"] != projB {
		t.Fatalf("bob's only project is chosen: %v", r.raw)
	}
	// A record that exists in another project is found there, not recreated in the first.
	expect(t, call(t, "GET", "/api/v1/learners/QUANTUM_DISCOVERY_PLAY?project_id="+projBig, alice, nil, false), 200)
	if r := expect(t, call(t, "GET", "/api/v1/learners/QUANTUM_DISCOVERY_PLAY", alice, nil, false), 200); one(t, r)["project_id"] != projBig {
		t.Fatalf("the existing learner is not found: %s", r.raw)
	}
	envelopeFail(t, call(t, "GET", "/api/v1/learners/CHEMISTRY?project_id="+projA, alice, nil, false), 422, "package")
	envelopeFail(t, call(t, "GET", "/api/v1/learners/VQPU?project_id="+projB, alice, nil, false), 404, "project "+projB+" not found")
	envelopeFail(t, call(t, "GET", "/api/v1/learners/VQPU", tokens["nobody"], nil, false), 403, "no project")

	r = expect(t, call(t, "PATCH", "/api/v1/learners/VQPU", alice, map[string]any{"progress": map[string]any{"chapter": 3}}, false), 200)
	if one(t, r)["progress"].(map[string]any)["chapter"] != float64(3) {
		t.Fatalf("progress: %s", r.raw)
	}
	envelopeFail(t, call(t, "PATCH", "/api/v1/learners/VQPU?project_id="+projA, alice, map[string]any{"progress": nil}, false), 422, "progress")

	// Notebooks: asked for, then running (the controller's part is played here), then culled and asked again.
	nbPath := "/api/v1/learners/VQPU/notebooks/intro?project_id=" + projA
	r = expect(t, call(t, "POST", nbPath, alice, nil, false), 200)
	if d := r.data(); d["name"] != "intro" || d["state"] != "STARTING" || d["url"] != nil {
		t.Fatalf("spawned: %v", d)
	}
	l := &quantumv1alpha1.Learner{}
	if err := admin.Get(context.Background(), client.ObjectKey{Namespace: projA, Name: id}, l); err != nil || len(l.Spec.Notebooks) != 1 || l.Spec.Notebooks[0].Name != "intro" {
		t.Fatalf("notebook not requested: %v %+v", err, l.Spec)
	}
	if lr := expect(t, call(t, "GET", "/api/v1/learners/VQPU?project_id="+projA, alice, nil, false), 200); fmt.Sprint(lr.list()[0].(map[string]any)["notebooks"]) != fmt.Sprint([]any{r.data()}) {
		t.Fatalf("the learner says %v, the spawn said %v", lr.list()[0].(map[string]any)["notebooks"], r.data())
	}
	// The token is in a Secret, which the facade may read only through the
	// Role the controller makes for this one server.
	server := nbserver.ServerName(id, "intro")
	if err := admin.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: projA, Name: server}, Data: map[string][]byte{nbserver.TokenKey: []byte("s3cret")}}); err != nil {
		t.Fatal(err)
	}
	setNotebookStatus(t, id, quantumv1alpha1.NotebookStatus{Name: "intro", State: quantumv1alpha1.NotebookRunning, URL: "http://nb/intro/", Pod: server, Service: server})
	if d := expect(t, call(t, "POST", nbPath, alice, nil, false), 200).data(); d["state"] != "RUNNING" || d["url"] != "http://nb/intro/" {
		t.Fatalf("running, the facade not allowed to read the token yet: %v", d)
	}
	reader := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: projA, Name: server},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{server}, Verbs: []string{"get"}}}}
	if err := admin.Create(context.Background(), reader); err != nil {
		t.Fatal(err)
	}
	if err := admin.Create(context.Background(), binding(projA, server, "Role", rbacv1.Subject{Kind: "User", Name: "tweezer-apiserver"})); err != nil {
		t.Fatal(err)
	}
	eventuallyT(t, "the facade to read the token", func() bool {
		d := expect(t, call(t, "POST", nbPath, alice, nil, false), 200).data()
		return d["state"] == "RUNNING" && d["url"] == "http://nb/intro/?token=s3cret"
	})
	if err := admin.Get(context.Background(), client.ObjectKey{Namespace: projA, Name: id}, l); err != nil || len(l.Spec.Notebooks) != 1 {
		t.Fatalf("reuse added a notebook: %+v", l.Spec.Notebooks)
	}
	culled := metav1.NewTime(time.Now().Add(-time.Minute))
	setNotebookStatus(t, id, quantumv1alpha1.NotebookStatus{Name: "intro", State: quantumv1alpha1.NotebookCulled, CullTime: &culled, Message: "idle"})
	if d := expect(t, call(t, "POST", nbPath, alice, nil, false), 200).data(); d["state"] != "STARTING" || d["url"] != nil {
		t.Fatalf("asked again after a cull: %v", d)
	}
	envelopeFail(t, call(t, "POST", "/api/v1/learners/VQPU/notebooks/Intro_1?project_id="+projA, alice, nil, false), 422, "notebook")

	// A project's learners.
	expect(t, call(t, "GET", "/api/v1/learners/QUANTUM_DISCOVERY?project_id="+projA, carolToken(t), nil, false), 200)
	r = expect(t, call(t, "GET", "/api/v1/projects/"+projA+"/learners?limit=1", alice, nil, false), 200)
	if p := r.body["pagination"].(map[string]any); p["total"] != float64(2) || len(r.list()) != 1 {
		t.Fatalf("project learners: %v", r.body["pagination"])
	}
	shape(t, "listed learner", r.list()[0].(map[string]any), learnerFields)
	envelopeFail(t, call(t, "GET", "/api/v1/projects/"+projA+"/learners", bob, nil, false), 404, "not found")
}

var useCaseFields = map[string]string{
	"id": "string", "user_id": "string", "user_name": "string", "project_id": "string", "project_name": "string",
	"title": "string", "validation_status": "string", "summary": "string", "questionnaire_id": "number|null",
	"last_reviewed_at": "string|null", "created_at": "string", "updated_at": "string",
}

func TestUseCaseRoutes(t *testing.T) {
	alice, c, super := tokens["alice"], carolToken(t), tokens["super"]
	body := map[string]any{"title": "Portfolio optimisation", "validation_status": "DRAFT", "project_id": projA,
		"summary": "QUBO on a Rydberg array", "questionnaire_id": 12, "answers": map[string]any{"why": "speed"}}
	r := expect(t, call(t, "POST", "/api/v1/use-cases", alice, body, false), 200)
	uc := one(t, r)
	shape(t, "use case", uc, useCaseFields, "answers", "review")
	id := uc["id"].(string)
	// A service account's token carries no display name: user_name is its id.
	if uc["answers"].(map[string]any)["why"] != "speed" || uc["user_id"] != userID("alice") || uc["user_name"] != userID("alice") || uc["questionnaire_id"] != 12.0 || uc["project_name"] != projA {
		t.Fatalf("created: %v", uc)
	}
	body["questionnaire_id"] = "q1"
	envelopeFail(t, call(t, "POST", "/api/v1/use-cases", alice, body, false), 422, "questionnaire_id")
	body["questionnaire_id"] = 12
	body["validation_status"] = "APPROVED"
	envelopeFail(t, call(t, "POST", "/api/v1/use-cases", alice, body, false), 422, "DRAFT or UNDER_REVIEW")
	envelopeFail(t, call(t, "POST", "/api/v1/use-cases", alice, map[string]any{"validation_status": "DRAFT", "project_id": projA}, false), 422, "title")
	// Without project_id, alice's first project (it used to be a 422).
	draft := one(t, expect(t, call(t, "POST", "/api/v1/use-cases", alice, map[string]any{"title": "t", "validation_status": "DRAFT"}, false), 200))
	if draft["project_id"] != projA {
		t.Fatalf("default project: %v", draft)
	}
	carolsID := one(t, expect(t, call(t, "POST", "/api/v1/use-cases", c, map[string]any{"title": "Carol's", "validation_status": "UNDER_REVIEW"}, false), 200))["id"].(string)

	// Visibility: the author, a superuser; other members only once APPROVED.
	expect(t, call(t, "GET", "/api/v1/use-cases/"+id, alice, nil, false), 200)
	envelopeFail(t, call(t, "GET", "/api/v1/use-cases/"+id, c, nil, false), 404, "not found")
	envelopeFail(t, call(t, "GET", "/api/v1/use-cases/"+id, tokens["bob"], nil, false), 404, "not found")
	expect(t, call(t, "GET", "/api/v1/use-cases/"+id, super, nil, false), 200)

	// The workflow.
	patch := func(token string, status string) response {
		return call(t, "PATCH", "/api/v1/use-cases/"+id, token, map[string]any{"validation_status": status}, false)
	}
	envelopeFail(t, patch(alice, "APPROVED"), 422, "a use case in DRAFT cannot move to APPROVED")
	if r := expect(t, patch(alice, "UNDER_REVIEW"), 200); one(t, r)["validation_status"] != "UNDER_REVIEW" {
		t.Fatalf("submitted: %s", r.raw)
	}
	envelopeFail(t, patch(alice, "APPROVED"), 403, "only a reviewer may move a use case from UNDER_REVIEW to APPROVED")
	envelopeFail(t, patch(c, "REJECTED"), 404, "not found")
	expect(t, patch(super, "REQUIRING_UPDATE"), 200)
	r = expect(t, call(t, "PATCH", "/api/v1/use-cases/"+id, alice, map[string]any{"validation_status": "UPDATED", "summary": "QUBO, 50 atoms"}, false), 200)
	if one(t, r)["summary"] != "QUBO, 50 atoms" || one(t, r)["title"] != "Portfolio optimisation" {
		t.Fatalf("partial update: %s", r.raw)
	}

	// Review by a superuser only.
	envelopeFail(t, call(t, "POST", "/api/v1/use-cases/"+id+"/review", alice, map[string]any{"feasible": "yes"}, false), 403, "not a reviewer")
	r = expect(t, call(t, "POST", "/api/v1/use-cases/"+id+"/review", super, map[string]any{"feasible": "yes", "notes": map[string]any{"atoms": 50}}, false), 200)
	if one(t, r)["last_reviewed_at"] == nil || one(t, r)["review"].(map[string]any)["feasible"] != "yes" {
		t.Fatalf("reviewed: %s", r.raw)
	}
	expect(t, patch(super, "APPROVED"), 200)
	envelopeFail(t, patch(super, "DRAFT"), 422, "final")

	// Lists.
	mine := "/api/v1/projects/" + projA + "/use-cases/mine"
	if got := ids(expect(t, call(t, "GET", mine+"?search=qubo+atoms", alice, nil, false), 200)); len(got) != 1 || got[0] != id {
		t.Fatalf("mine, searched: %v", got)
	}
	if got := ids(expect(t, call(t, "GET", mine+"?status=DRAFT", alice, nil, false), 200)); len(got) != 1 || got[0] != draft["id"] {
		t.Fatalf("mine, DRAFT: %v", got)
	}
	envelopeFail(t, call(t, "GET", mine+"?status=DONE", alice, nil, false), 422, "status")
	team := "/api/v1/projects/" + projA + "/use-cases/team"
	if got := ids(expect(t, call(t, "GET", team, c, nil, false), 200)); len(got) != 1 || got[0] != id {
		t.Fatalf("carol's team view (alice's approved one only): %v", got)
	}
	if got := ids(expect(t, call(t, "GET", team, alice, nil, false), 200)); len(got) != 0 {
		t.Fatalf("alice's team view (carol's is not approved): %v", got)
	}
	envelopeFail(t, call(t, "GET", team+"?status=UNDER_REVIEW", alice, nil, false), 403, "superuser")
	if got := ids(expect(t, call(t, "GET", team+"?status=UNDER_REVIEW", super, nil, false), 200)); len(got) != 1 || got[0] != carolsID {
		t.Fatalf("superuser's team view: %v", got)
	}
	envelopeFail(t, call(t, "GET", team, tokens["bob"], nil, false), 404, "not found")

	// Examples shipped with the platform are visible to everyone.
	ex := &quantumv1alpha1.UseCase{ObjectMeta: metav1.ObjectMeta{Namespace: usersNS, Name: "11111111-2222-3333-4444-555555555555"},
		Spec: quantumv1alpha1.UseCaseSpec{UserID: "platform", Title: "Example: MIS", ValidationStatus: "APPROVED", Example: true,
			Answers: &apiextensionsv1.JSON{Raw: []byte(`{"a":1}`)}}}
	if err := admin.Create(context.Background(), ex); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = expect(t, call(t, "GET", "/api/v1/use-cases/examples?search=mis", tokens["bob"], nil, false), 200)
		if len(ids(r)) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := ids(r); len(got) != 1 || got[0] != ex.Name {
		t.Fatalf("examples: %v", got)
	}
	expect(t, call(t, "GET", "/api/v1/use-cases/"+ex.Name, tokens["bob"], nil, false), 200)
}

func TestQuizRoutes(t *testing.T) {
	bob := tokens["bob"]
	r := expect(t, call(t, "POST", "/api/v1/quizzes/42", bob, map[string]any{"data": []any{1, "b"}}, false), 200)
	quiz := one(t, r)
	shape(t, "quiz", quiz, map[string]string{"id": "string", "quiz_id": "string", "user_id": "string", "project_id": "string", "data": "array", "created_at": "string", "updated_at": "string"})
	qid := quiz["id"].(string)
	envelopeFail(t, call(t, "POST", "/api/v1/quizzes/42", bob, map[string]any{"data": map[string]any{}}, false), 400, "already answered quiz 42: PATCH /api/v1/quizzes/"+qid)
	// PATCH takes the id that create returned (it used to take the Strapi id).
	r = expect(t, call(t, "PATCH", "/api/v1/quizzes/"+qid, bob, map[string]any{"data": map[string]any{"q1": "c"}}, false), 200)
	if one(t, r)["data"].(map[string]any)["q1"] != "c" || one(t, r)["id"] != qid {
		t.Fatalf("updated: %s", r.raw)
	}
	envelopeFail(t, call(t, "PATCH", "/api/v1/quizzes/42", bob, map[string]any{"data": map[string]any{}}, false), 404, "no quiz response 42")
	envelopeFail(t, call(t, "PATCH", "/api/v1/quizzes/"+qid, tokens["alice"], map[string]any{"data": map[string]any{}}, false), 404, "no quiz response")
	envelopeFail(t, call(t, "POST", "/api/v1/quizzes/44", bob, map[string]any{"data": "yes"}, false), 422, "data")
	// alice belongs to two projects: her first one holds the response (it used to be a 422).
	if r := expect(t, call(t, "POST", "/api/v1/quizzes/44", tokens["alice"], map[string]any{"data": []any{}}, false), 200); one(t, r)["project_id"] != projA {
		t.Fatalf("alice's quiz: %s", r.raw)
	}
	envelopeFail(t, call(t, "POST", "/api/v1/quizzes/44?project_id="+projBig, tokens["alice"], map[string]any{"data": []any{}}, false), 400, "already answered")
	expect(t, call(t, "POST", "/api/v1/quizzes/42?project_id="+projA, tokens["alice"], map[string]any{"data": []any{}}, false), 200)
	envelopeFail(t, call(t, "POST", "/api/v1/quizzes/45", tokens["nobody"], map[string]any{"data": []any{}}, false), 403, "no project")
	if r := call(t, http.MethodPost, "/api/v1/quizzes/46", "", map[string]any{"data": []any{}}, false); r.status != 401 {
		t.Fatalf("no token: %d", r.status)
	}
}
