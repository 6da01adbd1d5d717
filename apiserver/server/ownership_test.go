package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/server"
)

// send is call for any facade replica and any goroutine: it returns errors
// instead of failing the test.
func send(base, method, path, token string, body any) (response, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{status: resp.StatusCode, raw: raw}
	_ = json.Unmarshal(raw, &out.body)
	return out, nil
}

// TestCancelRacesRunnerDone races a user's cancel (through the facade)
// against a runner finishing the batch's only job in one write, 200 times.
// Half the runners report through the worker route (a checked patch), half
// write a blind merge patch straight to the status subresource (the worst
// runner). Whoever wins, a job reported DONE stays DONE: the controller
// cancels a PENDING job only with a write checked against the version it
// read, and the CRD keeps a terminal phase terminal.
func TestCancelRacesRunnerDone(t *testing.T) {
	const rounds, parallel = 200, 8
	alice, worker := tokens["alice"], tokens["worker"]
	ctx := context.Background()
	var mu sync.Mutex
	outcomes := map[string]int{}
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}
	round := func(i int) {
		b := &quantumv1alpha1.Batch{
			ObjectMeta: metav1.ObjectMeta{Namespace: projA, Name: "race-" + rand.String(10)},
			Spec: quantumv1alpha1.BatchSpec{
				SequenceBuilder: `{"version":"1"}`, DeviceType: quantumv1alpha1.DeviceTypeEmuFree,
				Jobs: []quantumv1alpha1.InlineJob{{Runs: 1}},
			},
		}
		if err := admin.Create(ctx, b); err != nil {
			fail("round %d: create: %v", i, err)
			return
		}
		defer func() { _ = admin.Delete(ctx, b) }()
		key := types.NamespacedName{Namespace: projA, Name: quantumv1alpha1.InlineJobName(b.UID, 0)}
		job := &quantumv1alpha1.Job{}
		deadline := time.Now().Add(10 * time.Second)
		for admin.Get(ctx, key, job) != nil {
			if time.Now().After(deadline) {
				fail("round %d: the controller never created the job", i)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		// The facade serves the job id once its cache has it.
		for {
			r, err := send(facade.URL, "GET", "/api/v2/jobs/"+key.Name, alice, nil)
			if err == nil && r.status == 200 {
				break
			}
			if time.Now().After(deadline) {
				fail("round %d: the facade never saw the job", i)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}

		var wg sync.WaitGroup
		var doneOK bool
		var doneErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				_, _ = send(facade.URL, "PUT", "/api/v1/batches/"+b.Name+"/cancel", alice, nil)
			} else {
				_, _ = send(facade.URL, "PATCH", "/api/v2/jobs/"+key.Name+"/cancel", alice, nil)
			}
		}()
		go func() {
			defer wg.Done()
			if i%4 < 2 {
				r, err := send(facade.URL, "PATCH", "/api/v1/jobs/"+key.Name, worker, map[string]any{"status": "DONE", "progress": 100})
				doneOK, doneErr = err == nil && r.status == 200, err
				if err == nil && r.status != 200 && r.status != 409 {
					doneErr = fmt.Errorf("worker route answered %d: %s", r.status, r.raw)
				}
			} else {
				patch := []byte(`{"status":{"phase":"DONE","progress":100}}`)
				err := admin.Status().Patch(ctx, job.DeepCopy(), client.RawPatch(types.MergePatchType, patch))
				doneOK = err == nil
			}
		}()
		wg.Wait()
		if doneErr != nil {
			fail("round %d: %v", i, doneErr)
			return
		}
		// Let the controller finish the batch, then judge the job.
		for {
			cur := &quantumv1alpha1.Batch{}
			if err := admin.Get(ctx, client.ObjectKeyFromObject(b), cur); err == nil && cur.Status.Phase.Terminal() {
				break
			}
			if time.Now().After(deadline) {
				fail("round %d: the batch never finished", i)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := admin.Get(ctx, key, job); err != nil {
			fail("round %d: %v", i, err)
			return
		}
		phase := job.CurrentPhase()
		if doneOK && phase != quantumv1alpha1.JobDone {
			fail("round %d: the runner's DONE was accepted, yet the job is %s", i, phase)
		}
		if !doneOK && phase != quantumv1alpha1.JobCanceled {
			fail("round %d: the runner's DONE was refused, yet the job is %s", i, phase)
		}
		mu.Lock()
		outcomes[string(phase)]++
		mu.Unlock()
	}

	next := make(chan int)
	var wg sync.WaitGroup
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				round(i)
			}
		}()
	}
	for i := range rounds {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	t.Logf("outcomes of %d races: %v", rounds, outcomes)
	if outcomes[string(quantumv1alpha1.JobDone)]+outcomes[string(quantumv1alpha1.JobCanceled)] != rounds {
		t.Errorf("every round ends DONE or CANCELED: %v", outcomes)
	}
}

// TestTwoFacadesAddJobs runs two facade replicas against one control plane
// and adds jobs to one open batch from both at once: every addition lands,
// and the creation orders are unique and gapless.
func TestTwoFacadesAddJobs(t *testing.T) {
	second, err := newFacade()
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	alice := tokens["alice"]
	b := createBatch(t, alice, newBatch(projA, 1, map[string]any{"open": true}))
	id := b["id"].(string)

	const clients, adds, perAdd = 6, 5, 2 // per replica
	replicas := []string{facade.URL, second.URL}
	var wg sync.WaitGroup
	errs := make(chan error, len(replicas)*clients*adds)
	for _, base := range replicas {
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for a := range adds {
					var jobs []map[string]any
					for k := range perAdd {
						jobs = append(jobs, map[string]any{"runs": 1 + a*perAdd + k})
					}
					r, err := send(base, "POST", "/api/v2/batches/"+id+"/jobs", alice, jobs)
					if err == nil && r.status != 200 {
						err = fmt.Errorf("add jobs via %s: %d %s", base, r.status, r.raw)
					}
					if err != nil {
						errs <- err
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	want := 1 + len(replicas)*clients*adds*perAdd
	list := &quantumv1alpha1.JobList{}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := admin.List(context.Background(), list, client.InNamespace(projA), client.MatchingLabels{quantumv1alpha1.BatchLabel: id}); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var orders []int
	for _, j := range list.Items {
		orders = append(orders, int(j.Spec.CreationOrder))
	}
	slices.Sort(orders)
	if len(orders) != want {
		t.Fatalf("%d jobs, want %d", len(orders), want)
	}
	for i, o := range orders {
		if o != i+1 {
			t.Fatalf("creation orders are not 1..%d without gaps or repeats: %v", want, orders)
		}
	}
	// Both replicas answer with the whole batch.
	for _, base := range replicas {
		r, err := send(base, "GET", "/api/v2/batches/"+id, alice, nil)
		if err != nil || r.status != 200 {
			t.Fatalf("get via %s: %v %s", base, err, r.raw)
		}
		if n := len(r.data()["jobs"].([]any)); n != want {
			t.Errorf("replica %s shows %d jobs, want %d", base, n, want)
		}
	}
}

// TestTwoFacadesKeepTheJobsCapExact: clients of two facade replicas add
// jobs to one open batch, created without any, at once, far more than its
// cap allows. The batch ends with exactly the cap, every addition that
// would have gone over it is refused with the documented 422 naming the
// limit, and none fails otherwise: the cap is checked on the spec each
// addition lands on, the first one (which writes the list) included.
func TestTwoFacadesKeepTheJobsCapExact(t *testing.T) {
	const most = 20
	capped := func(c *server.Config) { c.MaxJobsPerBatch = most }
	replicas := []string{facadeWith(t, capped).URL, facadeWith(t, capped).URL}
	alice := tokens["alice"]
	b := createBatch(t, alice, newBatch(projA, 0, map[string]any{"open": true}))
	id := b["id"].(string)

	const clients, adds = 6, 5 // per replica: 60 additions of one job for 20 places
	var wg sync.WaitGroup
	var added, refused atomic.Int32
	errs := make(chan error, len(replicas)*clients*adds)
	for _, base := range replicas {
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range adds {
					r, err := send(base, "POST", "/api/v2/batches/"+id+"/jobs", alice, jobsOf(1))
					switch {
					case err != nil:
						errs <- err
					case r.status == 200:
						added.Add(1)
					case r.status == 422 && strings.Contains(string(r.raw), fmt.Sprintf("a batch holds at most %d jobs (limit: jobs per batch)", most)):
						refused.Add(1)
					default:
						errs <- fmt.Errorf("add a job via %s: %d %s", base, r.status, r.raw)
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if added.Load() != most || refused.Load() != int32(len(replicas)*clients*adds-most) {
		t.Errorf("%d additions accepted and %d refused at the cap, want %d and the other %d", added.Load(), refused.Load(), most, len(replicas)*clients*adds-most)
	}
	var stored quantumv1alpha1.Batch
	if err := admin.Get(context.Background(), client.ObjectKey{Namespace: projA, Name: id}, &stored); err != nil {
		t.Fatal(err)
	}
	if len(stored.Spec.Jobs) != most {
		t.Errorf("the batch holds %d jobs, want exactly the cap, %d", len(stored.Spec.Jobs), most)
	}
}

// TestWorkerRoutesRefuseToMoveAFinalStatus: the worker routes judge the
// status they replace, so a finished job or batch keeps its status (409,
// naming both), while the same status again is accepted.
func TestWorkerRoutesRefuseToMoveAFinalStatus(t *testing.T) {
	alice, worker := tokens["alice"], tokens["worker"]
	b := createBatch(t, alice, newBatch(projA, 2, nil))
	id := b["id"].(string)
	j0 := b["jobs"].([]any)[0].(map[string]any)["id"].(string)

	expect(t, call(t, "PATCH", "/api/v1/jobs/"+j0, worker, map[string]any{"status": "DONE", "progress": 100}, false), 200)
	envelopeFail(t, call(t, "PUT", "/api/v1/jobs/"+j0+"/status", worker, map[string]any{"status": "RUNNING"}, false), 409, "job "+j0+" is DONE, a final status: it cannot become RUNNING")
	envelopeFail(t, call(t, "PATCH", "/api/v1/jobs/"+j0, worker, map[string]any{"status": "CANCELED"}, false), 409, "cannot become CANCELED")
	expect(t, call(t, "PATCH", "/api/v1/jobs/"+j0, worker, map[string]any{"status": "DONE", "progress": 100}, false), 200)

	expect(t, call(t, "PUT", "/api/v1/batches/"+id+"/cancel", alice, nil, false), 200)
	r := expect(t, call(t, "GET", "/api/v2/batches/"+id, alice, nil, false), 200)
	if r.data()["status"] != "CANCELED" {
		t.Fatalf("canceled batch: %s", r.raw)
	}
	envelopeFail(t, call(t, "PATCH", "/api/v1/batches/"+id+"/status", worker, map[string]any{"status": "RUNNING"}, false), 409, "batch "+id+" is CANCELED, a final status: it cannot become RUNNING")

	var job quantumv1alpha1.Job
	if err := admin.Get(context.Background(), client.ObjectKey{Namespace: projA, Name: j0}, &job); err != nil {
		t.Fatal(err)
	}
	if job.Status.Phase != quantumv1alpha1.JobDone {
		t.Errorf("the finished job is %s after the batch's cancel", job.Status.Phase)
	}
}

// TestCancelOfARunningJobIsIntentOnly: canceling a RUNNING job sets its
// spec.canceled and leaves the job to its runner.
func TestCancelOfARunningJobIsIntentOnly(t *testing.T) {
	alice, worker := tokens["alice"], tokens["worker"]
	b := createBatch(t, alice, newBatch(projA, 1, nil))
	j0 := b["jobs"].([]any)[0].(map[string]any)["id"].(string)
	expect(t, call(t, "PATCH", "/api/v1/jobs/"+j0, worker, map[string]any{"status": "RUNNING", "progress": 10}, false), 200)
	r := expect(t, call(t, "PATCH", "/api/v2/jobs/"+j0+"/cancel", alice, nil, false), 200)
	if r.data()["status"] != "RUNNING" {
		t.Errorf("a running job stays RUNNING until its runner stops it: %s", r.raw)
	}
	var job quantumv1alpha1.Job
	if err := admin.Get(context.Background(), client.ObjectKey{Namespace: projA, Name: j0}, &job); err != nil {
		t.Fatal(err)
	}
	if !job.Spec.Canceled || job.Status.Phase != quantumv1alpha1.JobRunning {
		t.Errorf("spec.canceled %v, phase %s", job.Spec.Canceled, job.Status.Phase)
	}
}
