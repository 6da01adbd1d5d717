package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/server"
)

// A batch creation (a Batch, then its Jobs) in flight when the facade gets
// SIGTERM finishes all its writes: the facade stops accepting, then drains.
func TestInFlightWriteSurvivesSIGTERM(t *testing.T) {
	cfg := suiteConfig
	cfg.BodyReadTimeout = 10 * time.Second
	addr, send, served := serveUntilSIGTERM(t, cfg)
	defer send()

	body, _ := json.Marshal(newBatch(projA, 3, nil))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	type answer struct {
		status int
		body   []byte
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		answered <- answer{status: resp.StatusCode, body: raw}
	}()
	// The headers and half the body are sent: the request is in flight.
	// Then SIGTERM, and the rest of the body once the facade has stopped
	// accepting.
	fmt.Fprintf(conn, "POST /api/v1/batches HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", tokens["alice"], len(body))
	if _, err := conn.Write(body[:len(body)/2]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // accepted, authenticated, reading the body
	send()
	for deadline := time.Now().Add(5 * time.Second); ; {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the facade still accepts connections after SIGTERM")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := conn.Write(body[len(body)/2:]); err != nil {
		t.Fatal(err)
	}

	a := <-answered
	if a.err != nil || a.status != http.StatusOK {
		t.Fatalf("the request in flight at SIGTERM: %d %s (%v)", a.status, a.body, a.err)
	}
	if err := <-served; err != nil {
		t.Fatalf("the facade did not drain cleanly: %v", err)
	}
	var created struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(a.body, &created); err != nil {
		t.Fatal(err)
	}
	var jobs quantumv1alpha1.JobList
	if err := admin.List(context.Background(), &jobs, client.InNamespace(projA), client.MatchingLabels{quantumv1alpha1.BatchLabel: created.Data.ID}); err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) != 3 {
		t.Fatalf("the batch has %d of its 3 jobs", len(jobs.Items))
	}
}

// A request still running when the drain timeout ends is cut, and Serve says so.
func TestDrainTimeoutCutsWhatIsLeft(t *testing.T) {
	cfg := suiteConfig
	cfg.DrainTimeout = 200 * time.Millisecond
	cfg.BodyReadTimeout = 10 * time.Second
	addr, send, served := serveUntilSIGTERM(t, cfg)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A request whose body never ends.
	fmt.Fprintf(conn, "POST /api/v1/batches HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", tokens["alice"])
	time.Sleep(200 * time.Millisecond) // authenticated, reading the body
	start := time.Now()
	send()
	select {
	case err := <-served:
		if err == nil {
			t.Fatal("Serve reported a clean drain, yet a request was cut")
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("the drain took %s, beyond its 200ms timeout", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the drain did not end")
	}
}

// Past its burst of failed authentications, a client's unknown tokens get
// 429 in the error envelope, with Retry-After, and cost no TokenReview;
// tokens already known to be valid still pass.
func TestFailedAuthenticationsAreRateLimited(t *testing.T) {
	cfg := suiteConfig
	cfg.AuthCacheTTL = time.Minute
	cfg.AuthFailureRate, cfg.AuthFailureBurst = 0.01, 3
	s, err := server.New(facadeCfg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cacheCtx, stopCache := context.WithCancel(context.Background())
	defer stopCache()
	if err := s.StartCache(cacheCtx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	get := func(token string) (int, map[string]any, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/batches", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body, resp.Header
	}
	if code, _, _ := get(tokens["alice"]); code != http.StatusOK {
		t.Fatalf("alice: %d", code)
	}
	for i := range 3 {
		if code, _, _ := get(fmt.Sprint("bogus-", i)); code != http.StatusUnauthorized {
			t.Fatalf("bogus token %d: %d, want 401", i, code)
		}
	}
	code, body, hdr := get("bogus-3")
	if code != http.StatusTooManyRequests || body["status"] != "fail" || body["code"] != "429" || hdr.Get("Retry-After") != "100" {
		t.Fatalf("past the burst: %d %v (Retry-After %q)", code, body, hdr.Get("Retry-After"))
	}
	if desc, _ := body["data"].(map[string]any)["description"].(string); !bytes.Contains([]byte(desc), []byte("too many failed authentications")) {
		t.Errorf("description %q", desc)
	}
	if code, _, _ := get(tokens["alice"]); code != http.StatusOK {
		t.Fatalf("alice's known token from the limited client: %d", code)
	}
	if code, _, _ := get(tokens["bob"]); code != http.StatusTooManyRequests {
		t.Fatalf("an unknown token from the limited client: %d, want 429", code)
	}
}

// serveUntilSIGTERM runs a facade of cfg on a fresh port until send is
// called (its SIGTERM); served receives what ServeListener returns. Its
// cache stops when the test ends.
func serveUntilSIGTERM(t *testing.T, cfg server.Config) (addr string, send context.CancelFunc, served chan error) {
	t.Helper()
	s, err := server.New(facadeCfg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cacheCtx, stopCache := context.WithCancel(context.Background())
	t.Cleanup(stopCache)
	if err := s.StartCache(cacheCtx); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sigterm, send := context.WithCancel(context.Background())
	served = make(chan error, 1)
	go func() { served <- s.ServeListener(sigterm, ln) }()
	return ln.Addr().String(), send, served
}
