package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// setResult writes a job's counter and raw shots as its runner would.
func setResult(t *testing.T, ns, name string, counter map[string]int64, raw []string) {
	t.Helper()
	updateJobStatus(t, ns, name, func(j *quantumv1alpha1.Job) {
		j.Status.Phase, j.Status.Counter, j.Status.Raw = quantumv1alpha1.JobDone, counter, raw
	})
}

// updateJobStatus changes a job's status as a runner would. Others (the
// facade, the API server's defaulting) may write the job between our read
// and our write, so, like a runner, it retries on a fresh read.
func updateJobStatus(t *testing.T, ns, name string, change func(*quantumv1alpha1.Job)) *quantumv1alpha1.Job {
	t.Helper()
	ctx := context.Background()
	var j quantumv1alpha1.Job
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &j); err != nil {
			return err
		}
		change(&j)
		return admin.Status().Update(ctx, &j)
	})
	if err != nil {
		t.Fatal(err)
	}
	return &j
}

// A member of another project (bob: tess) takes the ids of alice's (tina's)
// batch and job with
// kubectl (names are unique only per namespace). Neither side ever gets the
// other's objects, nor a 404 for its own, and signed results links serve
// only the job they were made for.
func TestSameNamesInTwoProjects(t *testing.T) {
	tok := tenants(t)
	ctx := context.Background()
	alice, bob := tok["tina"], tok["tess"]

	b := createBatch(t, alice, newBatch(tenantA, 1, nil))
	batchID := b["id"].(string)
	jobID := b["jobs"].([]any)[0].(map[string]any)["id"].(string)
	setResult(t, tenantA, jobID, map[string]int64{"0000": 5}, []string{"0000"})

	// bob, straight through the kube API with his own token, in his project.
	kb := kubeAs(t, bob)
	squat := directBatch(tenantB)
	squat.GenerateName, squat.Name = "", batchID
	if err := kb.Create(ctx, squat); err != nil {
		t.Fatal(err)
	}
	squatJob := &quantumv1alpha1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: jobID, Namespace: tenantB},
		Spec:       quantumv1alpha1.JobSpec{BatchName: batchID, Runs: 7, CreationOrder: 1},
	}
	if err := kb.Create(ctx, squatJob); err != nil {
		t.Fatal(err)
	}
	setResult(t, tenantB, jobID, map[string]int64{"1111": 7}, []string{"1111"})

	// Wait until the facade's cache holds both jobs (a superuser sees both).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r := expect(t, call(t, "GET", "/api/v1/jobs?id="+jobID, tokens["super"], nil, false), 200)
		if len(r.list()) == 2 && fmt.Sprint(r.list()[1].(map[string]any)["result"]) != "<nil>" && fmt.Sprint(r.list()[0].(map[string]any)["result"]) != "<nil>" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the facade never listed both jobs: %s", r.raw)
		}
	}

	sides := []struct {
		who, token, project, counter string
	}{
		{"alice", alice, tenantA, "map[0000:5]"},
		{"bob", bob, tenantB, "map[1111:7]"},
	}
	for _, s := range sides {
		wrong := 0
		for i := range 200 {
			job := call(t, "GET", "/api/v1/jobs/"+jobID, s.token, nil, false)
			batch := call(t, "GET", "/api/v2/batches/"+batchID, s.token, nil, false)
			if job.status != 200 || batch.status != 200 {
				t.Fatalf("%s's read %d of its own job/batch: %d %s / %d %s", s.who, i, job.status, job.raw, batch.status, batch.raw)
			}
			if job.data()["project_id"] != s.project || fmt.Sprint(job.data()["result"]) != s.counter || batch.data()["project_id"] != s.project {
				wrong++
			}
		}
		if wrong > 0 {
			t.Errorf("%s got the other project's job or batch in %d of 200 reads", s.who, wrong)
		}
	}
	// A superuser sees both: the id means the original (oldest) one.
	if r := expect(t, call(t, "GET", "/api/v1/jobs/"+jobID, tokens["super"], nil, false), 200); r.data()["project_id"] != tenantA {
		t.Errorf("superuser read %s's job", r.data()["project_id"])
	}

	// Each side's results link serves its own job, every time.
	links := map[string]string{}
	for _, s := range sides {
		r := expect(t, call(t, "GET", "/api/v1/jobs/"+jobID+"/results_link", s.token, nil, false), 200)
		links[s.who] = r.data()["results_link"].(string)
		for i := range 40 {
			res := fetchLink(t, links[s.who])
			if res.status != 200 || fmt.Sprint(res.body["counter"]) != s.counter {
				t.Fatalf("%s's results link, fetch %d: %d %s", s.who, i, res.status, res.raw)
			}
		}
	}
	// Once alice's job is gone, her link serves nothing, not bob's job of that name.
	if err := admin.Delete(ctx, &quantumv1alpha1.Job{ObjectMeta: metav1.ObjectMeta{Name: jobID, Namespace: tenantA}}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if call(t, "GET", "/api/v1/jobs/"+jobID, alice, nil, false).status == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the facade still serves alice's deleted job")
		}
	}
	envelopeFail(t, fetchLink(t, links["alice"]), 401, "invalid")
	if res := fetchLink(t, links["bob"]); res.status != 200 || fmt.Sprint(res.body["counter"]) != "map[1111:7]" {
		t.Errorf("bob's link after alice's job went: %d %s", res.status, res.raw)
	}
}
