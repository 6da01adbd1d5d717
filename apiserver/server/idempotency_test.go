package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/google/uuid"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/handlers"
	"github.com/tweezer-dev/tweezer/apiserver/server"
)

// postKeyed POSTs body to base+path as the SDK does, with an Idempotency-Key.
func postKeyed(t *testing.T, base, path, token, key string, body any) response {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return response{}
	}
	defer resp.Body.Close()
	out := response{status: resp.StatusCode}
	out.raw, _ = io.ReadAll(resp.Body)
	_ = json.Unmarshal(out.raw, &out.body)
	return out
}

// keyedBatches counts the project's batches created with an Idempotency-Key.
func keyedBatches(t *testing.T, ns string) int {
	t.Helper()
	var list quantumv1alpha1.BatchList
	if err := admin.List(context.Background(), &list, client.InNamespace(ns), client.HasLabels{handlers.IdempotencyKeyLabel}); err != nil {
		t.Fatal(err)
	}
	return len(list.Items)
}

// A retried POST with the same Idempotency-Key returns the first batch, even
// when the retries race and when they reach another facade replica.
func TestIdempotentCreate(t *testing.T) {
	tok := tenants(t)
	tina, tom := tok["tina"], tok["tom"]
	body := newBatch(tenantA, 2, nil)

	first := expect(t, postKeyed(t, facade.URL, "/api/v1/batches", tina, "key-1", body), 200)
	id := first.data()["id"].(string)
	retry := expect(t, postKeyed(t, facade.URL, "/api/v1/batches", tina, "key-1", body), 200)
	if retry.data()["id"] != id || len(retry.data()["jobs"].([]any)) != 2 {
		t.Fatalf("retry returned %s, want batch %s with its 2 jobs", retry.raw, id)
	}
	if _, err := uuid.Parse(id); err != nil {
		t.Errorf("the id of a keyed batch is not a UUID: %v", err)
	}

	// Another replica (as after a restart, or behind a load balancer) knows it too.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := server.New(facadeCfg, server.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.StartCache(ctx); err != nil {
		t.Fatal(err)
	}
	replica := httptest.NewServer(s.Handler())
	defer replica.Close()
	if r := expect(t, postKeyed(t, replica.URL, "/api/v1/batches", tina, "key-1", body), 200); r.data()["id"] != id {
		t.Errorf("the second replica created %v, want %s", r.data()["id"], id)
	}

	// Racing retries create one batch.
	var wg sync.WaitGroup
	ids := make([]any, 6)
	for i := range ids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			base := facade.URL
			if i%2 == 1 {
				base = replica.URL
			}
			if r := postKeyed(t, base, "/api/v1/batches", tina, "key-race", body); r.status == 200 {
				ids[i] = r.data()["id"]
			} else {
				t.Errorf("racing retry %d: %d %s", i, r.status, r.raw)
			}
		}(i)
	}
	wg.Wait()
	for _, got := range ids {
		if got != ids[0] {
			t.Errorf("racing retries returned different batches: %v", ids)
			break
		}
	}
	if n := keyedBatches(t, tenantA); n != 2 {
		t.Errorf("%d keyed batches in the project, want 2 (key-1 and key-race)", n)
	}

	// The same key with another body is refused, saying why.
	other := newBatch(tenantA, 3, nil)
	envelopeFail(t, postKeyed(t, facade.URL, "/api/v1/batches", tina, "key-1", other), 422, "Idempotency-Key \"key-1\" was already used for batch "+id+" with a different request body")
	// Keys are per user: another member's same key is another batch.
	if r := expect(t, postKeyed(t, facade.URL, "/api/v1/batches", tom, "key-1", body), 200); r.data()["id"] == id {
		t.Error("another user's request with the same key returned tina's batch")
	}
	// Without a key, each POST is a new batch, as before.
	a, b := createBatch(t, tina, body), createBatch(t, tina, body)
	if a["id"] == b["id"] {
		t.Error("two POSTs without a key returned one batch")
	}

	// Workloads honour the header the same way.
	w := pulserWorkload(tenantA)
	wf := expect(t, postKeyed(t, facade.URL, "/api/v1/workloads", tina, "wl-1", w), 200)
	if r := expect(t, postKeyed(t, facade.URL, "/api/v1/workloads", tina, "wl-1", w), 200); r.data()["id"] != wf.data()["id"] {
		t.Errorf("workload retry returned %v, want %v", r.data()["id"], wf.data()["id"])
	}
	w["workload_type"] = "algorithm_dqgm"
	envelopeFail(t, postKeyed(t, facade.URL, "/api/v1/workloads", tina, "wl-1", w), 422, "different request body")
}
