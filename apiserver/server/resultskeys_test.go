package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tweezer-dev/tweezer/apiserver/server"
)

// Two replicas read the link key Secret (tweezer-system/tweezer-results-key,
// through the facade's generated Role): a link made by one verifies on the
// other; after a rotation (current moves to previous) the old link still
// verifies on both, new links are signed with the new key, a forged link
// does not verify; links name the configured public URL, not the Host.
func TestResultsLinkKeysFromASecretWithRotation(t *testing.T) {
	ctx := context.Background()
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "tweezer-system", Name: "tweezer-results-key"},
		Data: map[string][]byte{server.CurrentKey: k1}}
	if err := admin.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = admin.Delete(ctx, sec) }()
	cfg := suiteConfig
	cfg.ResultsKeySecret = "tweezer-system/tweezer-results-key"
	cfg.PublicURL = "https://tweezer.example.com/"
	var replicas []*httptest.Server
	for range 2 {
		s, err := server.New(facadeCfg, cfg)
		if err != nil {
			t.Fatal(err)
		}
		cacheCtx, stop := context.WithCancel(ctx)
		defer stop()
		if err := s.StartCache(cacheCtx); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s.Handler())
		defer srv.Close()
		replicas = append(replicas, srv)
	}
	alice := tokens["alice"]
	b := createBatch(t, alice, newBatch(projA, 1, nil))
	jobID := b["jobs"].([]any)[0].(map[string]any)["id"].(string)
	setResult(t, projA, jobID, map[string]int64{"01": 2}, []string{"01", "01"})

	linkFrom := func(replica *httptest.Server) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, replica.URL+"/api/v1/jobs/"+jobID+"/results_link", nil)
		req.Header.Set("Authorization", "Bearer "+alice)
		req.Host = "attacker.example.net"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Data struct {
				ResultsLink string `json:"results_link"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
			t.Fatalf("results_link: %d %v", resp.StatusCode, err)
		}
		return out.Data.ResultsLink
	}
	fetch := func(replica *httptest.Server, link string) int {
		t.Helper()
		const base = "https://tweezer.example.com"
		if !strings.HasPrefix(link, base+"/api/v1/jobs/"+jobID+"/results?") {
			t.Fatalf("link %s does not start with the configured public URL", link)
		}
		resp, err := http.Get(replica.URL + strings.TrimPrefix(link, base))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}

	old := linkFrom(replicas[0])
	if code := fetch(replicas[1], old); code != 200 {
		t.Fatalf("a link made by one replica, fetched from the other: %d", code)
	}
	// Rotate: k2 signs, k1 still verifies.
	sec.Data = map[string][]byte{server.CurrentKey: k2, server.PreviousKey: k1}
	if err := admin.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	var fresh string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		a, b := linkFrom(replicas[0]), linkFrom(replicas[1])
		if sig(a) != sig(old) && sig(b) != sig(old) {
			fresh = a
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replicas still sign with the old key after the rotation")
		}
	}
	for i, r := range replicas {
		if code := fetch(r, old); code != 200 {
			t.Errorf("replica %d: a link signed before the rotation: %d", i, code)
		}
		if code := fetch(r, fresh); code != 200 {
			t.Errorf("replica %d: a link signed after the rotation: %d", i, code)
		}
		forged := strings.Replace(fresh, "signature="+sig(fresh), "signature="+strings.Repeat("ab", 32), 1)
		if code := fetch(r, forged); code != 401 {
			t.Errorf("replica %d: a forged link: %d, want 401", i, code)
		}
	}
	// A second rotation retires k1.
	sec.Data = map[string][]byte{server.CurrentKey: bytes.Repeat([]byte{3}, 32), server.PreviousKey: k2}
	if err := admin.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); fetch(replicas[0], old) != 401; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a link signed with a retired key still verifies")
		}
	}
}

func sig(link string) string {
	_, s, _ := strings.Cut(link, "signature=")
	s, _, _ = strings.Cut(s, "&")
	return s
}
