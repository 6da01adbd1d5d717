package server_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/server"
	"github.com/tweezer-dev/tweezer/hack/testenv"
	"github.com/tweezer-dev/tweezer/internal/devices"
)

// withFacade serves the rest of the test from a facade configured as the
// suite's but changed by mod (call talks to it), and restores the suite's.
func withFacade(t *testing.T, mod func(*server.Config)) {
	t.Helper()
	srv := facadeWith(t, mod)
	prev := facade
	facade = srv
	t.Cleanup(func() { facade = prev })
}

// facadeWith starts a replica of the facade configured as the suite's but
// changed by mod, until the test ends.
func facadeWith(t *testing.T, mod func(*server.Config)) *httptest.Server {
	t.Helper()
	c := suiteConfig
	mod(&c)
	s, err := server.New(facadeCfg, c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := s.StartCache(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// locOf is the first detail's location of a 422, as printed by fmt.
func locOf(r response) string {
	detail, _ := r.data()["detail"].([]any)
	if len(detail) == 0 {
		return ""
	}
	return fmt.Sprint(detail[0].(map[string]any)["loc"])
}

func jobsOf(runs ...int) []map[string]any {
	var out []map[string]any
	for _, n := range runs {
		out = append(out, map[string]any{"runs": n})
	}
	return out
}

// Each size cap of a batch is refused by the facade, naming the limit and
// the field, before anything is stored: sequence size (413), jobs per
// batch, runs per job against the device's max_runs and total shots (422),
// at creation and when jobs are added.
func TestSizeCapsAreRefusedNamingTheLimit(t *testing.T) {
	withFacade(t, func(c *server.Config) {
		c.MaxSequenceBytes, c.MaxJobsPerBatch, c.MaxShotsPerBatch = 2000, 3, 100
	})
	alice := tokens["alice"]
	long := `{"version":"1","name":"` + strings.Repeat("x", 2000) + `"}`

	r := call(t, "POST", "/api/v1/batches", alice, newBatch(projA, 1, map[string]any{"sequence_builder": long}), true)
	envelopeFail(t, r, 413, "the limit is 2000 bytes (limit: sequence size)")
	r = call(t, "POST", "/api/v1/batches", alice, newBatch(projA, 0, map[string]any{"jobs": []map[string]any{{"runs": 1, "sequence": long}}}), true)
	envelopeFail(t, r, 413, "the sequence of job 0 is")

	r = call(t, "POST", "/api/v1/batches", alice, newBatch(projA, 4, nil), true)
	envelopeFail(t, r, 422, "at most 3 jobs (limit: jobs per batch)")
	if locOf(r) != "[body jobs]" {
		t.Errorf("jobs per batch located at %s: %s", locOf(r), r.raw)
	}
	r = call(t, "POST", "/api/v1/batches", alice, newBatch(projA, 0, map[string]any{"jobs": jobsOf(60, 41)}), true)
	envelopeFail(t, r, 422, "101 shots in all; the limit is 100 (limit: total shots per batch)")
	if locOf(r) != "[body jobs]" {
		t.Errorf("total shots located at %s: %s", locOf(r), r.raw)
	}

	// Adding jobs: the caps count the jobs already there.
	open := createBatch(t, alice, newBatch(projA, 2, map[string]any{"open": true})) // runs 10 and 11
	id := open["id"].(string)
	add := "/api/v1/batches/" + id + "/jobs"
	r = call(t, "POST", add, alice, jobsOf(1, 1), false)
	envelopeFail(t, r, 422, "at most 3 jobs (limit: jobs per batch); this one would hold 4")
	r = call(t, "POST", add, alice, jobsOf(80), false)
	envelopeFail(t, r, 422, "101 shots in all")
	if locOf(r) != "[body]" {
		t.Errorf("total shots of an addition located at %s: %s", locOf(r), r.raw)
	}
	r = expect(t, call(t, "POST", add, alice, jobsOf(79), false), 200)
	if r.data()["jobs_count"] != 3.0 {
		t.Errorf("after adding a job within the caps: %s", r.raw)
	}

	// Nothing refused was stored.
	for batchID, want := range map[string]int{id: 3} {
		var b quantumv1alpha1.Batch
		if err := admin.Get(context.Background(), client.ObjectKey{Namespace: projA, Name: batchID}, &b); err != nil {
			t.Fatal(err)
		}
		if len(b.Spec.Jobs) != want {
			t.Errorf("batch %s holds %d jobs, want %d", batchID, len(b.Spec.Jobs), want)
		}
	}
}

// A job's runs are at most its device's max_runs, at creation and when
// jobs are added; and at most the engines' 10,000,000 whatever the device.
func TestRunsAboveTheDevicesMaxRunsAreRefused(t *testing.T) {
	alice := tokens["alice"]
	// FRESNEL's specs (the catalog's Fresnel: the suite's device sets none
	// of its own) allow 2000 runs per job.
	r := call(t, "POST", "/api/v1/batches", alice, newBatch(projA, 0, map[string]any{"device_type": "FRESNEL", "jobs": jobsOf(5, 2001)}), true)
	envelopeFail(t, r, 422, "2001 runs is above 2000, the max_runs of device fresnel (FRESNEL) (limit: runs per job)")
	if locOf(r) != "[body jobs 1 runs]" {
		t.Errorf("runs located at %s: %s", locOf(r), r.raw)
	}
	r = call(t, "POST", "/api/v1/batches", alice, newBatch(projA, 0, map[string]any{"jobs": jobsOf(10_000_001)}), true)
	envelopeFail(t, r, 422, "jobs[0].runs")

	fresnel := createBatch(t, alice, newBatch(projA, 0, map[string]any{"device_type": "FRESNEL", "open": true, "jobs": jobsOf(2000)}))
	id := fresnel["id"].(string)
	r = call(t, "POST", "/api/v2/batches/"+id+"/jobs", alice, jobsOf(3, 2001), false)
	envelopeFail(t, r, 422, "max_runs of device fresnel")
	if locOf(r) != "[body 1 runs]" {
		t.Errorf("runs of an addition located at %s: %s", locOf(r), r.raw)
	}
	var b quantumv1alpha1.Batch
	if err := admin.Get(context.Background(), client.ObjectKey{Namespace: projA, Name: id}, &b); err != nil {
		t.Fatal(err)
	}
	if len(b.Spec.Jobs) != 1 {
		t.Errorf("batch %s holds %d jobs after a refused addition, want 1", id, len(b.Spec.Jobs))
	}
	expect(t, call(t, "POST", "/api/v2/batches/"+id+"/jobs", alice, jobsOf(2000), false), 200)
}

// withFresnelSpecs gives the suite's FRESNEL device the catalog's Fresnel
// specs (max_runs 2000) for the test: kube-apiserver reads only the specs a
// Device carries.
func withFresnelSpecs(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	specs, ok := devices.ByName(devices.Fresnel)
	if !ok {
		t.Fatal("no Fresnel in the catalog")
	}
	var d quantumv1alpha1.Device
	if err := admin.Get(ctx, client.ObjectKey{Name: "fresnel"}, &d); err != nil {
		t.Fatal(err)
	}
	orig := d.DeepCopy()
	d.Spec.Specs = specs
	if err := admin.Patch(ctx, &d, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cur := d.DeepCopy()
		d.Spec.Specs = ""
		_ = admin.Patch(context.Background(), &d, client.MergeFrom(cur))
	})
}

// Straight through the kube API, a project member meets the same caps:
// the device's max_runs (config/admission), and the CRD's maxima.
func TestClusterRefusesOversizeDirectWrites(t *testing.T) {
	tok := tenants(t)
	ctx := context.Background()
	tina := kubeAs(t, tok["tina"])
	withFresnelSpecs(t)

	// (kube-apiserver sees the device's new specs through its informer, shortly.)
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		b := directBatch(tenantA)
		b.Spec.Jobs = []quantumv1alpha1.InlineJob{{Runs: 2001}}
		if err = tina.Create(ctx, b); err != nil {
			break
		}
	}
	refused(t, err, "tweezer-max-runs", "spec.jobs[].runs: at most 2000 runs per job on device fresnel (FRESNEL), the max_runs of its specs")

	ok := directBatch(tenantA)
	ok.Spec.Jobs = []quantumv1alpha1.InlineJob{{Runs: 2000}}
	if err := tina.Create(ctx, ok); err != nil {
		t.Fatalf("a batch within max_runs: %v", err)
	}
	more := ok.DeepCopy()
	more.Spec.Jobs = append(more.Spec.Jobs, quantumv1alpha1.InlineJob{Runs: 2001})
	refused(t, tina.Patch(ctx, more, client.MergeFrom(ok)), "tweezer-max-runs", "at most 2000 runs per job")
	more = ok.DeepCopy()
	more.Spec.Jobs = append(more.Spec.Jobs, quantumv1alpha1.InlineJob{Runs: 1999})
	if err := tina.Patch(ctx, more, client.MergeFrom(ok)); err != nil {
		t.Fatalf("adding a job within max_runs: %v", err)
	}

	// The CRD's maxima, whatever the device.
	free := func(jobs ...quantumv1alpha1.InlineJob) *quantumv1alpha1.Batch {
		b := directBatch(tenantA)
		b.Spec.DeviceType, b.Spec.Jobs = quantumv1alpha1.DeviceTypeEmuFree, jobs
		return b
	}
	refused(t, tina.Create(ctx, free(quantumv1alpha1.InlineJob{Runs: 6_000_000}, quantumv1alpha1.InlineJob{Runs: 4_000_001})),
		"spec.jobs", "at most 10000000 runs in all (limit: total shots per batch)")
	refused(t, tina.Create(ctx, free(quantumv1alpha1.InlineJob{Runs: 10_000_001})), "spec.jobs[0].runs", "less than or equal to 10000000")
	many := make([]quantumv1alpha1.InlineJob, quantumv1alpha1.MaxJobsPerBatch+1)
	for i := range many {
		many[i].Runs = 1
	}
	refused(t, tina.Create(ctx, free(many...)), "spec.jobs", "must have at most 1000 items")
	seq := free(quantumv1alpha1.InlineJob{Runs: 1})
	seq.Spec.SequenceBuilder = strings.Repeat("x", quantumv1alpha1.MaxSequenceBytes+1)
	refused(t, tina.Create(ctx, seq), "spec.sequenceBuilder", "Too long")
}

// GET /api/v1/batches/{id} inlines full results up to a bound: past it,
// jobs carry their counter and a full_result without raw shots, and their
// result ConfigMaps are not read; each job's own route still serves all.
func TestBatchV1InlinesResultsUpToABound(t *testing.T) {
	ctx := context.Background()
	alice := tokens["alice"]
	b := createBatch(t, alice, newBatch(projA, 3, nil))
	id := b["id"].(string)
	var ids []string
	for _, j := range b["jobs"].([]any) {
		ids = append(ids, j.(map[string]any)["id"].(string))
	}
	full := `{"counter": {"01": 3, "10": 7}, "raw": ["01", "10", "10"]}` // 57 bytes
	for _, jid := range ids {
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: quantumv1alpha1.ResultConfigMapName(jid), Namespace: projA},
			Data:       map[string]string{quantumv1alpha1.ResultKey: full},
		}
		if err := admin.Create(ctx, cm); err != nil {
			t.Fatal(err)
		}
		updateJobStatus(t, projA, jid, func(j *quantumv1alpha1.Job) {
			j.Status.Phase, j.Status.Counter, j.Status.ResultRef = quantumv1alpha1.JobDone, map[string]int64{"01": 3, "10": 7}, cm.Name
		})
	}
	withFacade(t, func(c *server.Config) { c.MaxInlineResultsBytes = 2*len(full) + 10 })

	var r response
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r = expect(t, call(t, "GET", "/api/v1/batches/"+id, alice, nil, false), 200)
		if jobs, _ := r.data()["jobs"].([]any); len(jobs) == 3 && jobs[2].(map[string]any)["status"] == "DONE" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the batch's jobs are not DONE in the facade's cache: %s", r.raw)
		}
	}
	jobs := r.data()["jobs"].([]any)
	for i, want := range []string{
		"map[counter:map[01:3 10:7] raw:[01 10 10]]",
		"map[counter:map[01:3 10:7] raw:[01 10 10]]",
		"map[counter:map[01:3 10:7] raw:<nil>]", // past the bound
	} {
		j := jobs[i].(map[string]any)
		shape(t, "v1 job of a batch", j, jobFields, "result", "full_result")
		if got := fmt.Sprint(j["full_result"]); got != want {
			t.Errorf("job %d full_result %s, want %s", i, got, want)
		}
		if got := fmt.Sprint(j["result"]); got != "map[01:3 10:7]" {
			t.Errorf("job %d result %s", i, got)
		}
	}
	r = expect(t, call(t, "GET", "/api/v1/jobs/"+ids[2], alice, nil, false), 200)
	if got := fmt.Sprint(r.data()["full_result"]); got != "map[counter:map[01:3 10:7] raw:[01 10 10]]" {
		t.Errorf("the job's own route: full_result %s", got)
	}
}

// A flood of batches stops at the project's ResourceQuota, which binds the
// facade too: the facade answers 403 with kube-apiserver's quota message.
func TestAFloodIsRefusedAtTheProjectQuota(t *testing.T) {
	ctx := context.Background()
	const proj = "9e4d2c1b-7a6f-4e3d-8c2b-1a0f9e8d7c04"
	if err := admin.Create(ctx, testenv.ProjectNamespace(proj)); err != nil {
		t.Fatal(err)
	}
	if err := bindMember(ctx, proj, "alice"); err != nil {
		t.Fatal(err)
	}
	counted := corev1.ResourceName("count/batches." + quantumv1alpha1.GroupVersion.Group)
	q := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Namespace: proj, Name: quantumv1alpha1.ProjectGuardRails},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{counted: resource.MustParse("2")}},
	}
	if err := admin.Create(ctx, q); err != nil {
		t.Fatal(err)
	}
	// No kube-controller-manager runs in this suite: the test computes the
	// quota's first usage, as its resource quota controller would.
	q.Status = corev1.ResourceQuotaStatus{Hard: q.Spec.Hard, Used: corev1.ResourceList{counted: resource.MustParse("0")}}
	if err := admin.Status().Update(ctx, q); err != nil {
		t.Fatal(err)
	}
	alice := tokens["alice"]
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r := call(t, "POST", "/api/v1/batches", alice, newBatch(proj, 1, nil), true)
		if r.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first batch of a new project: %s", r.raw)
		}
	}
	createBatch(t, alice, newBatch(proj, 1, nil))
	r := call(t, "POST", "/api/v1/batches", alice, newBatch(proj, 1, nil), true)
	envelopeFail(t, r, 403, "the project's quota is used up")
	envelopeFail(t, r, 403, "exceeded quota: "+quantumv1alpha1.ProjectGuardRails)
	var list quantumv1alpha1.BatchList
	if err := admin.List(ctx, &list, client.InNamespace(proj)); err != nil || len(list.Items) != 2 {
		t.Fatalf("%d batches stored (%v), want 2", len(list.Items), err)
	}
}
