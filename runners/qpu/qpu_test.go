package qpu

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
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

func newGateway(t *testing.T, gw *Gateway) *httptest.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	gw.Start(ctx)
	srv := httptest.NewServer(gw)
	t.Cleanup(func() { cancel(); srv.Close() })
	return srv
}

func TestDriverRunsAJobThroughTheGateway(t *testing.T) {
	srv := newGateway(t, &Gateway{Engine: echoEngine, Specs: `{"name":"Fresnel"}`, Token: "s3cret", ShotTime: time.Millisecond})
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
	srv := newGateway(t, &Gateway{Engine: echoEngine, Token: "s3cret"})
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
	var st JobState
	if _, err := d.do(context.Background(), http.MethodGet, "/v1/jobs/qpu-job-1", nil, &st); err != nil {
		t.Fatal(err)
	}
	if st.Status != StatusCanceled {
		t.Fatalf("gateway job is %s, want CANCELED", st.Status)
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
