package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/budget"
	"github.com/tweezer-dev/tweezer/apiserver/server"
)

// A project past its write budget gets 429 with Retry-After, the JSON
// envelope naming the limit, and nothing is stored; another project's write
// at the same moment passes. The refused user's next write is refused
// before its body is read until the time it was given; its reads pass.
func TestAProjectOverItsWriteBudgetIsRefused(t *testing.T) {
	ctx := context.Background()
	limits := budget.Limits{BytesPerSecond: 64 << 10, BurstBytes: server.Defaults().MaxBodyBytes, RequestsPerSecond: 100, BurstRequests: 100}
	withFacade(t, func(c *server.Config) { c.ProjectWrites = limits })
	// Projects of their own (the suite's other tests read projA's batches),
	// each with a member: alice in mine, bob in theirs.
	const mine, theirs = "5b1d6a2e-0c3f-4e8a-9d7b-2a6c4e8f1b05", "6c2e7b3f-1d4a-4f9b-8e6c-3b7d5f9a2c06"
	alice, bob := quotaProject(t, mine, 1000), quotaProject(t, theirs, 1000)
	big := func(project string) []byte { return largeBatch(t, project, 900) }
	count := func(ns string) int {
		var list quantumv1alpha1.BatchList
		if err := admin.List(ctx, &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		return len(list.Items)
	}
	writes0, held0 := byteRefusals("write"), byteRefusals("held")

	// The burst holds a maximum-size body: the first 900 KiB batch passes.
	expect(t, call(t, "POST", "/api/v1/batches", alice, big(mine), false), 200)
	before := count(mine)

	// At once, alice's second one (her project's bucket holds about 400
	// KiB, so it is refused before its body is read) and bob's first in his
	// project.
	type answer struct {
		status int
		header http.Header
		raw    []byte
		err    error
	}
	var wg sync.WaitGroup
	answers := make([]answer, 2)
	for i, post := range []struct {
		token string
		body  []byte
	}{{alice, big(mine)}, {bob, big(theirs)}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequest(http.MethodPost, facade.URL+"/api/v1/batches", bytes.NewReader(post.body))
			if err != nil {
				answers[i].err = err
				return
			}
			req.Header.Set("Authorization", "Bearer "+post.token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				answers[i].err = err
				return
			}
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			answers[i] = answer{resp.StatusCode, resp.Header, raw, err}
		}()
	}
	wg.Wait()
	refused, passed := answers[0], answers[1]
	if refused.err != nil || passed.err != nil {
		t.Fatal(refused.err, passed.err)
	}
	if passed.status != 200 {
		t.Fatalf("bob's batch in his own project: %d %s", passed.status, passed.raw)
	}
	r := response{status: refused.status, raw: refused.raw, header: refused.header}
	_ = json.Unmarshal(refused.raw, &r.body)
	envelopeFail(t, r, http.StatusTooManyRequests, "project "+mine+" writes at most 64 KiB/s (1.25 MiB at once); retry after ")
	envelopeFail(t, r, http.StatusTooManyRequests, "(limit: project write bytes)")
	// About 520 KiB missing at 64 KiB/s, less what the bucket regained
	// while the first batch was created: up to 9 s.
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 9 {
		t.Fatalf("Retry-After %q, want 1 to 9 seconds", r.header.Get("Retry-After"))
	}
	if !strings.Contains(r.data()["description"].(string), "retry after "+r.header.Get("Retry-After")+" s") {
		t.Errorf("the message and Retry-After disagree: %s, %s", r.raw, r.header.Get("Retry-After"))
	}
	if n := count(mine); n != before {
		t.Fatalf("%d batches in project A after the refusal, want %d: something was written", n, before)
	}
	if got := byteRefusals("held") - held0; got != 1 || byteRefusals("write") != writes0 {
		t.Errorf("tweezer_facade_write_budget_refusals_total{limit=bytes} rose by %g (held) and %g (write), want 1 and 0", got, byteRefusals("write")-writes0)
	}

	// alice ignores Retry-After: her next write, small, is refused before
	// it is read, after a pause of a second (a client looping on 429s gets
	// one a second per connection); her reads pass.
	start := time.Now()
	r = call(t, "POST", "/api/v1/batches", alice, newBatch(mine, 1, nil), false)
	envelopeFail(t, r, http.StatusTooManyRequests, "(limit: project write bytes)")
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("a held user's write was refused after %s, want a pause of about 1 s", d)
	}
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After on a held user's refusal")
	}
	if got := byteRefusals("held") - held0; got != 2 {
		t.Errorf("tweezer_facade_write_budget_refusals_total{limit=bytes,stage=held} rose by %g, want 2", got)
	}
	expect(t, call(t, "GET", "/api/v1/batches?project_id="+mine, alice, nil, false), 200)
}

// A write budget whose burst cannot hold the largest accepted body is a
// configuration error: such a body would wait forever.
func TestAWriteBurstBelowTheBodyCapIsRefused(t *testing.T) {
	c := suiteConfig
	c.ProjectWrites = budget.Limits{BytesPerSecond: 1 << 20, BurstBytes: c.MaxBodyBytes - 1, RequestsPerSecond: 10, BurstRequests: 10}
	_, err := server.New(facadeCfg, c)
	if err == nil || !strings.Contains(err.Error(), "below the largest accepted body") {
		t.Fatalf("got %v, want the burst refused", err)
	}
}

// A user whose writes keep being refused (4xx) is held once its refused
// writes are used up: its next write, even a valid one, is refused with
// 429 naming the limit, before it is read, and nothing is stored; another
// user writes meanwhile. Writes refused for the budget itself and reads do
// not count.
func TestAUserWhoseWritesKeepFailingIsHeld(t *testing.T) {
	ctx := context.Background()
	withFacade(t, func(c *server.Config) {
		c.ProjectWrites = budget.Limits{RefusedPerSecond: 0.2, BurstRefused: 3}
	})
	const mine, theirs = "7d3f8c4a-2e5b-4a0c-9f8d-4c8e6a0b3d07", "8e4a9d5b-3f6c-4b1d-8a9e-5d9f7b1c4e08"
	mallory, bob := quotaProject(t, mine, 1000), quotaProject(t, theirs, 1000)
	held0 := testutil.ToFloat64(budget.Refusals.WithLabelValues("refused", "held"))

	// Three invalid batches (an unknown project), each answered for itself;
	// reads in between cost nothing.
	const unknown = "00000000-0000-4000-8000-00000000dead"
	for range 3 {
		envelopeFail(t, call(t, "POST", "/api/v1/batches", mallory, newBatch(unknown, 1, nil), false), http.StatusUnprocessableEntity, "unknown project")
		expect(t, call(t, "GET", "/api/v1/batches/"+unknown, mallory, nil, false), http.StatusNotFound)
	}
	// The fourth refused write still gets its own answer, and holds mallory.
	envelopeFail(t, call(t, "POST", "/api/v1/batches", mallory, newBatch(unknown, 1, nil), false), http.StatusUnprocessableEntity, "unknown project")

	r := call(t, "POST", "/api/v1/batches", mallory, newBatch(mine, 1, nil), false)
	envelopeFail(t, r, http.StatusTooManyRequests, "made more than 3 refused writes in a row (one more each 5s); retry after ")
	envelopeFail(t, r, http.StatusTooManyRequests, "(limit: refused writes)")
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 5 {
		t.Errorf("Retry-After %q, want 1 to 5 seconds", r.header.Get("Retry-After"))
	}
	if got := testutil.ToFloat64(budget.Refusals.WithLabelValues("refused", "held")) - held0; got != 1 {
		t.Errorf("tweezer_facade_write_budget_refusals_total{limit=refused,stage=held} rose by %g, want 1", got)
	}
	var list quantumv1alpha1.BatchList
	if err := admin.List(ctx, &list, client.InNamespace(mine)); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Fatalf("%d batches stored for a held user", len(list.Items))
	}
	// Mallory still reads; bob, another user, writes.
	expect(t, call(t, "GET", "/api/v1/batches?project_id="+mine, mallory, nil, false), 200)
	expect(t, call(t, "POST", "/api/v1/batches", bob, newBatch(theirs, 1, nil), false), 200)
}

// readTracker is a request body that records whether it was read.
type readTracker struct {
	r    io.Reader
	read atomic.Bool
}

func (b *readTracker) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.r.Read(p)
}

// postUnread posts raw to /api/v1/batches with `Expect: 100-continue`: the
// facade has to ask for the body, so the tracker says whether it did.
func postUnread(t *testing.T, token string, raw []byte) (*http.Response, *readTracker) {
	t.Helper()
	body := &readTracker{r: bytes.NewReader(raw)}
	req, err := http.NewRequest(http.MethodPost, facade.URL+"/api/v1/batches", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(raw))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Expect", "100-continue")
	c := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp, body
}

// largeBatch is a batch of project whose sequence is about kib KiB.
func largeBatch(t *testing.T, project string, kib int) []byte {
	t.Helper()
	raw, err := json.Marshal(newBatch(project, 1, map[string]any{"sequence_builder": `{"version":"1","name":"` + strings.Repeat("x", kib<<10) + `"}`}))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func byteRefusals(stage string) float64 {
	return testutil.ToFloat64(budget.Refusals.WithLabelValues("bytes", stage))
}

// A write that spends most of its project's bytes has its user's next
// large write weighed against what is left: held until the project can pay
// for it, without its body being read (the client sends `Expect:
// 100-continue`, so the facade would have to ask for the body). The time it
// is told is enough: the same write then passes.
func TestALargeWriteItsProjectCannotPayForIsRefusedUnread(t *testing.T) {
	limits := budget.Limits{BytesPerSecond: 256 << 10, BurstBytes: server.Defaults().MaxBodyBytes, RequestsPerSecond: 100, BurstRequests: 100}
	withFacade(t, func(c *server.Config) { c.ProjectWrites = limits })
	const project = "9e5b0a6c-4f7d-4c2e-8b0f-6e0a8c2d5f10"
	token := quotaProject(t, project, 1000)

	// 1000 KiB of the 1.25 MiB burst pass; the next 1000 KiB write waits
	// (a second, the most a held write waits) and is refused unread, told
	// when the project can pay for it.
	expect(t, call(t, "POST", "/api/v1/batches", token, largeBatch(t, project, 1000), false), 200)
	held0, writes0 := byteRefusals("held"), byteRefusals("write")
	resp, body := postUnread(t, token, largeBatch(t, project, 1000))
	if resp.StatusCode != http.StatusTooManyRequests || body.read.Load() {
		t.Fatalf("the second 1000 KiB write: %d, body read %v; want 429 unread", resp.StatusCode, body.read.Load())
	}
	if got := byteRefusals("held") - held0; got != 1 || byteRefusals("write") != writes0 {
		t.Errorf("refusals held +%g, write +%g; want the refusal counted as held", got, byteRefusals("write")-writes0)
	}
	wait, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || wait < 1 || wait > 3 {
		t.Fatalf("Retry-After %q, want 1 to 3 s (about 720 KiB missing at 256 KiB/s, a second of it waited)", resp.Header.Get("Retry-After"))
	}
	time.Sleep(time.Duration(wait) * time.Second)
	if resp, body := postUnread(t, token, largeBatch(t, project, 1000)); resp.StatusCode != http.StatusOK || !body.read.Load() {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("the same write after Retry-After: %d %s, body read %v; want it written", resp.StatusCode, raw, body.read.Load())
	}
}

// A user's large bodies sent at once are read in turn: the first is read
// and written, and the others, weighed against what it left, are refused
// unread (before, all four were read and decoded, and three then refused
// at their write). Nothing of theirs is stored.
func TestAUsersLargeWritesSentAtOnceAreReadInTurn(t *testing.T) {
	limits := budget.Limits{BytesPerSecond: 256 << 10, BurstBytes: server.Defaults().MaxBodyBytes, RequestsPerSecond: 100, BurstRequests: 100}
	withFacade(t, func(c *server.Config) { c.ProjectWrites = limits })
	const project = "0c7d2e8f-6b9a-4e1d-8f3b-9a2c4e6f8b12"
	token := quotaProject(t, project, 1000)
	raw := largeBatch(t, project, 1000)

	held0, writes0 := byteRefusals("held"), byteRefusals("write")
	type answer struct {
		status int
		read   bool
	}
	answers := make(chan answer, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			resp, body := postUnread(t, token, raw)
			_, _ = io.Copy(io.Discard, resp.Body)
			answers <- answer{resp.StatusCode, body.read.Load()}
		})
	}
	wg.Wait()
	close(answers)
	var ok, refusedUnread int
	for a := range answers {
		switch {
		case a.status == http.StatusOK:
			ok++
		case a.status == http.StatusTooManyRequests && !a.read:
			refusedUnread++
		default:
			t.Errorf("an answer %d, body read %v; want 200, or 429 unread", a.status, a.read)
		}
	}
	if ok != 1 || refusedUnread != 3 {
		t.Fatalf("%d written and %d refused unread, want 1 and 3", ok, refusedUnread)
	}
	if held, writes := byteRefusals("held")-held0, byteRefusals("write")-writes0; held != 3 || writes != 0 {
		t.Errorf("refusals held +%g, write +%g; want 3 held and none at the write", held, writes)
	}
	var list quantumv1alpha1.BatchList
	if err := admin.List(context.Background(), &list, client.InNamespace(project)); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("%d batches stored, want 1", len(list.Items))
	}
}

// A project's large writes pass one after another and side by side: each
// request gives its bytes in flight back when it ends (with a leak, the
// second write would wait for good; the client gives up after 15 s).
func TestAProjectsLargeWritesAllPass(t *testing.T) {
	withFacade(t, func(c *server.Config) {
		c.ProjectWrites = budget.Limits{InFlightBytes: server.Defaults().ProjectWrites.InFlightBytes}
	})
	const project = "af6c1b7d-5a8e-4d3f-9c1a-7f1b9d3e6a11"
	token := quotaProject(t, project, 1000)
	body := largeBatch(t, project, 900)
	post := func() (int, error) {
		req, err := http.NewRequest(http.MethodPost, facade.URL+"/api/v1/batches", bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	for i := range 2 {
		if code, err := post(); err != nil || code != 200 {
			t.Fatalf("large write %d: %d %v, want 200", i+1, code, err)
		}
	}
	var wg sync.WaitGroup
	codes, errs := make([]int, 2), make([]error, 2)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], errs[i] = post()
		}()
	}
	wg.Wait()
	if codes[0] != 200 || codes[1] != 200 {
		t.Fatalf("two large writes side by side: %v %v, want both 200", codes, errs)
	}
}

// A member of another project cannot spend a project's write budget or
// hold its bytes in flight: its writes naming the project (a batch, jobs
// added to the project's open batch) are refused before anything is
// charged, and the project's own member then writes a maximum-size batch
// at once and adds a job with the job burst's last token. Straight at
// kube-apiserver its token may neither create a batch there nor add a job
// to one.
func TestAnotherProjectsMemberCannotSpendTheBudget(t *testing.T) {
	ctx := context.Background()
	limits := budget.Limits{BytesPerSecond: 1, BurstBytes: server.Defaults().MaxBodyBytes, RequestsPerSecond: 100, BurstRequests: 100,
		JobsPerSecond: 0.001, BurstJobs: 2, InFlightBytes: server.Defaults().ProjectWrites.InFlightBytes}
	withFacade(t, func(c *server.Config) { c.ProjectWrites = limits })
	const mine, theirs = "b07d2c8e-6b9f-4e4a-8d2b-8a2c0e4f7b12", "c18e3d9f-7c0a-4f5b-9e3c-9b3d1f5a8c13"
	alice, bob := quotaProject(t, mine, 1000), quotaProject(t, theirs, 1000)
	big := newBatch(theirs, 1, map[string]any{"open": true, "sequence_builder": `{"version":"1","name":"` + strings.Repeat("x", 900<<10) + `"}`})
	for i := range 3 {
		if r := call(t, "POST", "/api/v1/batches", alice, big, false); r.status < 400 || r.status >= 500 || r.status == http.StatusTooManyRequests {
			t.Fatalf("alice's write %d in bob's project: %d %s, want refused for access", i+1, r.status, r.raw)
		}
	}
	var list quantumv1alpha1.BatchList
	if err := admin.List(ctx, &list, client.InNamespace(theirs)); err != nil || len(list.Items) != 0 {
		t.Fatalf("batches in bob's project after alice's writes: %d (%v)", len(list.Items), err)
	}
	// bob's project regains a byte a second: only an untouched burst lets
	// his 900 KiB batch through.
	id := expect(t, call(t, "POST", "/api/v1/batches", bob, big, false), 200).data()["id"].(string)
	// His project regains a job in 1,000 s: only the burst's second token
	// lets his added job through.
	added := []map[string]any{{"runs": 5}}
	for i := range 3 {
		if r := call(t, "POST", "/api/v2/batches/"+id+"/jobs", alice, added, false); r.status < 400 || r.status >= 500 || r.status == http.StatusTooManyRequests {
			t.Fatalf("alice's added jobs %d in bob's batch: %d %s, want refused for access", i+1, r.status, r.raw)
		}
	}
	expect(t, call(t, "POST", "/api/v2/batches/"+id+"/jobs", bob, added, false), 200)
	if err := kubeAs(t, alice).Create(ctx, directBatch(theirs)); err == nil {
		t.Fatal("alice created a batch in bob's project straight at kube-apiserver")
	}
	grow := client.RawPatch(types.JSONPatchType, []byte(`[{"op":"add","path":"/spec/jobs/-","value":{"runs":5}}]`))
	if err := kubeAs(t, alice).Patch(ctx, &quantumv1alpha1.Batch{ObjectMeta: metav1.ObjectMeta{Namespace: theirs, Name: id}}, grow); !apierrors.IsForbidden(err) {
		t.Fatalf("alice adding a job to bob's batch straight at kube-apiserver: %v, want forbidden", err)
	}
}

// A project's jobs are budgeted apart from its bytes and requests: once a
// batch and jobs added to it have used the burst, a write creating no job
// passes, a new batch is refused with 429 naming the limit, with
// Retry-After, and nothing is stored; another project's larger batch passes.
func TestAProjectOverItsJobBudgetIsRefused(t *testing.T) {
	ctx := context.Background()
	limits := budget.Limits{RequestsPerSecond: 100, BurstRequests: 100, JobsPerSecond: 0.2, BurstJobs: 6}
	withFacade(t, func(c *server.Config) { c.ProjectWrites = limits })
	const mine, theirs = "c17d2a8e-6c9f-4e4a-8dbf-8a2c0e4f7b11", "d28e3b9f-7dab-4f5b-9ec0-9b3d1f5a8c12"
	alice, bob := quotaProject(t, mine, 1000), quotaProject(t, theirs, 1000)
	jobs0 := testutil.ToFloat64(budget.Refusals.WithLabelValues("jobs", "write"))

	id := createBatch(t, alice, newBatch(mine, 5, map[string]any{"open": true}))["id"].(string)
	charged := func() string {
		t.Helper()
		var b quantumv1alpha1.Batch
		if err := admin.Get(ctx, client.ObjectKey{Namespace: mine, Name: id}, &b); err != nil {
			t.Fatal(err)
		}
		return b.Annotations[quantumv1alpha1.JobsChargedAnnotation]
	}
	// The batch says how many of its jobs the facade charged, so that the
	// manager's job budget does not charge them again.
	if got := charged(); got != "5" {
		t.Fatalf("jobs charged by the facade: %q, want 5", got)
	}
	expect(t, call(t, "POST", "/api/v2/batches/"+id+"/jobs", alice, []map[string]any{{"runs": 5}}, false), 200)
	if got := charged(); got != "6" {
		t.Fatalf("jobs charged by the facade after one added: %q, want 6", got)
	}
	expect(t, call(t, "PATCH", "/api/v1/batches/"+id+"/tags", alice, []string{"x"}, false), 200)

	var before quantumv1alpha1.BatchList
	if err := admin.List(ctx, &before, client.InNamespace(mine)); err != nil {
		t.Fatal(err)
	}
	r := call(t, "POST", "/api/v1/batches", alice, newBatch(mine, 2, nil), false)
	envelopeFail(t, r, http.StatusTooManyRequests, "project "+mine+" creates at most 0.2 jobs per second (6 at once")
	envelopeFail(t, r, http.StatusTooManyRequests, "(limit: project jobs created)")
	// Two jobs missing at 0.2 a second, less the time since the burst.
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 10 {
		t.Fatalf("Retry-After %q, want 1 to 10 seconds", r.header.Get("Retry-After"))
	}
	var after quantumv1alpha1.BatchList
	if err := admin.List(ctx, &after, client.InNamespace(mine)); err != nil {
		t.Fatal(err)
	}
	if len(after.Items) != len(before.Items) {
		t.Fatalf("%d batches after the refusal, want %d: something was written", len(after.Items), len(before.Items))
	}
	if got := testutil.ToFloat64(budget.Refusals.WithLabelValues("jobs", "write")) - jobs0; got != 1 {
		t.Errorf("tweezer_facade_write_budget_refusals_total{limit=jobs,stage=write} rose by %g, want 1", got)
	}
	createBatch(t, bob, newBatch(theirs, 6, nil))
}
