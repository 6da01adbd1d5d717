package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// afterFirstPatch is a facade's transport to kube-apiserver that runs a
// hook once, after the first PATCH of a resource (e.g. "jobs") has been
// answered and before the facade goes on: the hook ends the request there.
type afterFirstPatch struct {
	next     http.RoundTripper
	resource string
	once     *sync.Once
	hook     func()
}

func (a afterFirstPatch) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := a.next.RoundTrip(req)
	if err == nil && req.Method == http.MethodPatch && resp.StatusCode < 300 &&
		strings.Contains(req.URL.Path, "/"+a.resource+"/") {
		a.once.Do(a.hook)
	}
	return resp, err
}

// facadeEndingRequests starts a facade replica whose first PATCH of the
// resource runs hook.
func facadeEndingRequests(t *testing.T, resource string, hook func()) string {
	t.Helper()
	cfg := rest.CopyConfig(facadeCfg)
	once := &sync.Once{}
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return afterFirstPatch{next: rt, resource: resource, once: once, hook: hook}
	}
	srv, err := newFacadeWith(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv.URL
}

// sendCtx sends a JSON request to url with ctx (the test may end it),
// gzip-compressed as the SDK sends it.
func sendCtx(ctx context.Context, method, url, token string, body any) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(raw)
		_ = zw.Close()
		rd = &buf
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Encoding", "gzip")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	err = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, err
}

// everyJob waits until every job of the batch satisfies ok, or fails.
func everyJob(t *testing.T, ns, batch string, want string, ok func(*quantumv1alpha1.Job) bool) {
	t.Helper()
	var list quantumv1alpha1.JobList
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if err := admin.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		var mine, good int
		var bad []string
		for i := range list.Items {
			j := &list.Items[i]
			if j.Spec.BatchName != batch {
				continue
			}
			mine++
			if ok(j) {
				good++
			} else {
				bad = append(bad, j.Name+" "+string(j.CurrentPhase()))
			}
		}
		if mine > 0 && good == mine {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch %s: %d of %d jobs %s; not: %v", batch, good, mine, want, bad)
		}
	}
}

// A cancel route that has begun to write finishes, for every batch or job
// it was asked to cancel, when its request ends half-way: the client goes
// away, or the connection's read deadline (BodyReadTimeout, 1 s in this
// suite) passes while the handler works (net/http cancels the request's
// context then for a gzip body, as the SDK sends). Before, the writes after
// the first failed with the request's context: a half-canceled batch, and a
// 500 "context canceled".
func TestCancelOutlivesItsRequest(t *testing.T) {
	alice := tokens["alice"]

	t.Run("cancel jobs: the client goes away after the first job's cancel", func(t *testing.T) {
		id := createBatch(t, alice, newBatch(projA, 6, nil))["id"].(string)
		reqCtx, hangUp := context.WithCancel(context.Background())
		defer hangUp()
		base := facadeEndingRequests(t, "jobs", func() {
			hangUp()
			// The facade's server notices the closed connection and cancels
			// the request's context before the next write.
			time.Sleep(300 * time.Millisecond)
		})
		_, _, err := sendCtx(reqCtx, http.MethodPatch, base+"/api/v2/batches/"+id+"/cancel/jobs", alice, nil)
		if err == nil {
			t.Fatal("the request was answered; the hook should have ended it first")
		}
		everyJob(t, projA, id, "canceled and CANCELED", func(j *quantumv1alpha1.Job) bool {
			return j.Spec.Canceled && j.CurrentPhase() == quantumv1alpha1.JobCanceled
		})
	})

	t.Run("cancel batches: the read deadline passes after the first batch's cancel; the answer still comes", func(t *testing.T) {
		var ids []string
		for range 3 {
			ids = append(ids, createBatch(t, alice, newBatch(projA, 2, nil))["id"].(string))
		}
		base := facadeEndingRequests(t, "batches", func() {
			time.Sleep(suiteConfig.BodyReadTimeout + 500*time.Millisecond)
		})
		status, body, err := sendCtx(context.Background(), http.MethodPatch, base+"/api/v2/batches/cancel", alice,
			map[string]any{"batch_ids": ids})
		if err != nil {
			t.Fatal(err)
		}
		data, _ := body["data"].(map[string]any)
		if status != http.StatusOK {
			t.Fatalf("status %d, want 200: %v", status, body)
		}
		if errs, _ := data["errors"].(map[string]any); len(errs) != 0 {
			t.Fatalf("errors %v, want none", errs)
		}
		got, _ := data["batches"].([]any)
		if len(got) != len(ids) {
			t.Fatalf("%d batches answered, want %d: %v", len(got), len(ids), data)
		}
		for _, b := range got {
			if s := b.(map[string]any)["status"]; s != "CANCELED" {
				t.Errorf("batch %v answered %v, want CANCELED", b.(map[string]any)["id"], s)
			}
		}
		for _, id := range ids {
			everyJob(t, projA, id, "CANCELED", func(j *quantumv1alpha1.Job) bool {
				return j.CurrentPhase() == quantumv1alpha1.JobCanceled
			})
		}
	})
}
