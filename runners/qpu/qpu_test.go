package qpu

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tweezer-dev/tweezer/runners/engine"
)

// The engine of these tests echoes the job so that the protocol, not the
// physics, is under test; the controllers' suite runs the real emulator
// behind the gateway.
var echoEngine = engine.Func(func(ctx context.Context, j engine.Task, progress func(int)) (*engine.Result, error) {
	if strings.Contains(j.Sequence, "bad") {
		return nil, errors.New("register too large")
	}
	progress(50)
	raw := make([]string, j.Runs)
	for i := range raw {
		raw[i] = "01"
	}
	return &engine.Result{Counter: map[string]int64{"01": int64(j.Runs)}, Raw: raw}, ctx.Err()
})

// tokens is an Authenticator for the protocol tests: a fixed table of
// tokens and their identities (the TokenReviewer is tested against a real
// API server in the controllers' suite).
type tokens map[string]string

func (t tokens) Authenticate(_ context.Context, token string) (string, error) {
	id, ok := t[token]
	if !ok {
		return "", ErrUnauthenticated
	}
	return id, nil
}

func newGateway(t *testing.T, gw *Gateway) *httptest.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	gw.Start(ctx)
	srv := httptest.NewServer(gw)
	t.Cleanup(func() { cancel(); srv.Close() })
	return srv
}

func TestDriverRunsAJobThroughTheGateway(t *testing.T) {
	srv := newGateway(t, &Gateway{Engine: echoEngine, Specs: `{"name":"Fresnel"}`, Auth: tokens{"s3cret": "alice"}, ShotTime: time.Millisecond})
	d := &HTTPDriver{URL: srv.URL, Token: "s3cret", PollInterval: 5 * time.Millisecond}
	var last int
	res, err := d.Run(context.Background(), engine.Task{Sequence: `{"ok":1}`, Runs: 20}, func(p int) { last = p })
	if err != nil {
		t.Fatal(err)
	}
	if res.Counter["01"] != 20 || len(res.Raw) != 20 || last != 100 {
		t.Fatalf("result %v, last progress %d", res, last)
	}
	resp, err := http.Get(srv.URL + "/v1/specs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("specs without a token: %s", resp.Status)
	}
}

func TestDriverErrors(t *testing.T) {
	srv := newGateway(t, &Gateway{Engine: echoEngine, Auth: tokens{"s3cret": "alice"}})
	if _, err := (&HTTPDriver{URL: srv.URL, Token: "wrong"}).Run(context.Background(), engine.Task{Sequence: "{}", Runs: 1}, nil); err == nil ||
		!strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong token: %v", err)
	}
	d := &HTTPDriver{URL: srv.URL, Token: "s3cret", PollInterval: 5 * time.Millisecond}
	if _, err := d.Run(context.Background(), engine.Task{Sequence: "{}", Runs: 0}, nil); !IsInputError(err) {
		t.Fatalf("runs 0: %v, want an input error", err)
	}
	if _, err := d.Run(context.Background(), engine.Task{Sequence: `"bad"`, Runs: 1}, nil); err == nil || !strings.Contains(err.Error(), "register too large") {
		t.Fatalf("failing job: %v", err)
	}
	if _, err := (&HTTPDriver{URL: "http://127.0.0.1:1", MaxRetries: 2}).Run(context.Background(), engine.Task{Sequence: "{}", Runs: 1}, nil); err == nil {
		t.Fatal("an unreachable gateway must fail the job")
	}
}

func TestDriverCancelsTheGatewayJobWhenStopped(t *testing.T) {
	gw := &Gateway{Engine: echoEngine, ShotTime: 50 * time.Millisecond}
	srv := newGateway(t, gw)
	d := &HTTPDriver{URL: srv.URL, PollInterval: 5 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	// Cancel once the gateway reports progress, i.e. once the job exists there.
	if _, err := d.Run(ctx, engine.Task{Sequence: "{}", Runs: 1000}, func(int) { cancel() }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want canceled", err)
	}
	gw.mu.Lock()
	defer gw.mu.Unlock()
	if len(gw.jobs) != 1 {
		t.Fatalf("the gateway has %d jobs, want 1", len(gw.jobs))
	}
	for _, j := range gw.jobs {
		if st := j.snapshot(); st.Status != StatusCanceled {
			t.Fatalf("gateway job is %s, want CANCELED", st.Status)
		}
	}
}

func TestGatewayScopesJobsToTheirSubmitter(t *testing.T) {
	gw := &Gateway{Engine: echoEngine, ShotTime: 20 * time.Millisecond,
		Auth: tokens{"alice-token": "system:serviceaccount:a:tweezer-runner", "bob-token": "system:serviceaccount:b:tweezer-runner"}}
	srv := newGateway(t, gw)
	alice := &HTTPDriver{URL: srv.URL, Token: "alice-token"}
	bob := &HTTPDriver{URL: srv.URL, Token: "bob-token"}
	ctx := context.Background()
	var first, second JobState
	if _, err := alice.do(ctx, http.MethodPost, "/v1/jobs", []byte(`{"sequence":"{}","runs":100}`), &first); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.do(ctx, http.MethodPost, "/v1/jobs", []byte(`{"sequence":"{}","runs":1}`), &second); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{first.ID, second.ID} {
		if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("job id %q is not 128 random bits in hex", id)
		}
	}
	if first.ID == second.ID {
		t.Fatal("two jobs got the same id")
	}
	if code, err := bob.do(ctx, http.MethodGet, "/v1/jobs/"+first.ID, nil, &JobState{}); code != http.StatusNotFound {
		t.Fatalf("another identity read the job: %d %v", code, err)
	}
	if code, err := bob.do(ctx, http.MethodDelete, "/v1/jobs/"+first.ID, nil, nil); code != http.StatusNotFound {
		t.Fatalf("another identity canceled the job: %d %v", code, err)
	}
	var st JobState
	if _, err := alice.do(ctx, http.MethodGet, "/v1/jobs/"+first.ID, nil, &st); err != nil {
		t.Fatal(err)
	}
	if st.Status == StatusCanceled {
		t.Fatal("the job was canceled by another identity")
	}
	if code, _ := (&HTTPDriver{URL: srv.URL}).do(ctx, http.MethodGet, "/v1/jobs/"+first.ID, nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("a request without a token: %d, want 401", code)
	}
	if code, err := alice.do(ctx, http.MethodDelete, "/v1/jobs/"+first.ID, nil, &st); err != nil || code != http.StatusAccepted || st.Status != StatusCanceled {
		t.Fatalf("the submitter's cancel: %d %v %s", code, err, st.Status)
	}
}

func TestDriverReadsTheTokenFileOnEveryRequest(t *testing.T) {
	srv := newGateway(t, &Gateway{Engine: echoEngine, Auth: tokens{"first": "alice", "rotated": "alice"}})
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &HTTPDriver{URL: srv.URL, TokenFile: file, PollInterval: 5 * time.Millisecond}
	if _, err := d.Run(context.Background(), engine.Task{Sequence: "{}", Runs: 1}, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("rotated"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Run(context.Background(), engine.Task{Sequence: "{}", Runs: 1}, nil); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if err := os.WriteFile(file, []byte("revoked"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Run(context.Background(), engine.Task{Sequence: "{}", Runs: 1}, nil); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("a refused token: %v, want 401", err)
	}
	if _, err := (&HTTPDriver{URL: srv.URL, TokenFile: filepath.Join(t.TempDir(), "missing")}).Run(context.Background(), engine.Task{Sequence: "{}", Runs: 1}, nil); err == nil ||
		!strings.Contains(err.Error(), "reading the gateway token") {
		t.Fatalf("a missing token file: %v", err)
	}
}

func TestGatewayRunsOneJobAtATimeInOrder(t *testing.T) {
	gw := &Gateway{Engine: echoEngine, ShotTime: 20 * time.Millisecond}
	srv := newGateway(t, gw)
	d := &HTTPDriver{URL: srv.URL}
	var first, second JobState
	if _, err := d.do(context.Background(), http.MethodPost, "/v1/jobs", []byte(`{"sequence":"{}","runs":10}`), &first); err != nil {
		t.Fatal(err)
	}
	if _, err := d.do(context.Background(), http.MethodPost, "/v1/jobs", []byte(`{"sequence":"{}","runs":10}`), &second); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		// Read the second job first: once it has left the queue, the first
		// must already be done (and a done job stays done), whatever happens
		// between the two reads.
		var a, b JobState
		_, _ = d.do(context.Background(), http.MethodGet, "/v1/jobs/"+second.ID, nil, &b)
		_, _ = d.do(context.Background(), http.MethodGet, "/v1/jobs/"+first.ID, nil, &a)
		if b.Status != StatusQueued && a.Status != StatusDone {
			t.Fatalf("second job %s while the first is %s", b.Status, a.Status)
		}
		if b.Status == StatusDone {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("jobs did not finish")
}

// An engine that panics fails its job with the panic's message; the gateway
// goes on serving and runs the next job.
func TestGatewayTurnsAnEnginePanicIntoAnError(t *testing.T) {
	eng := engine.Func(func(ctx context.Context, j engine.Task, progress func(int)) (*engine.Result, error) {
		if strings.Contains(j.Sequence, "boom") {
			var atoms []int
			_ = atoms[j.Runs] // index out of range
		}
		return echoEngine(ctx, j, progress)
	})
	srv := newGateway(t, &Gateway{Engine: eng})
	d := &HTTPDriver{URL: srv.URL, PollInterval: 5 * time.Millisecond}
	_, err := d.Run(context.Background(), engine.Task{Sequence: `{"boom":1}`, Runs: 3}, func(int) {})
	if err == nil || !strings.Contains(err.Error(), "the engine panicked: runtime error: index out of range [3] with length 0") {
		t.Fatalf("a panicking job: %v", err)
	}
	res, err := d.Run(context.Background(), engine.Task{Sequence: `{"ok":1}`, Runs: 3}, func(int) {})
	if err != nil || res.Counter["01"] != 3 {
		t.Fatalf("the job after the panic: %v, %v", res, err)
	}
}
