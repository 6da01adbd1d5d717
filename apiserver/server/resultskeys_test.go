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
	"sigs.k8s.io/controller-runtime/pkg/client"

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
	replicas := keyedReplicas(t, "tweezer-results-key", 2)
	alice := tokens["alice"]
	b := createBatch(t, alice, newBatch(projA, 1, nil))
	jobID := b["jobs"].([]any)[0].(map[string]any)["id"].(string)
	setResult(t, projA, jobID, map[string]int64{"01": 2}, []string{"01", "01"})

	linkFrom := func(replica *httptest.Server) string { t.Helper(); return resultsLink(t, replica, alice, jobID) }
	fetch := func(replica *httptest.Server, link string) int {
		t.Helper()
		return fetchKeyedLink(t, replica, link, jobID)
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

// linkBase is the public URL of the facades that sign results links here.
const linkBase = "https://tweezer.example.com"

// keyedReplicas starts n facade replicas that sign results links with the
// keys of the Secret tweezer-system/<secret>, until the test ends.
func keyedReplicas(t *testing.T, secret string, n int) []*httptest.Server {
	t.Helper()
	cfg := suiteConfig
	cfg.ResultsKeySecret = "tweezer-system/" + secret
	cfg.PublicURL = linkBase + "/"
	var replicas []*httptest.Server
	for range n {
		s, err := server.New(facadeCfg, cfg)
		if err != nil {
			t.Fatal(err)
		}
		cacheCtx, stop := context.WithCancel(context.Background())
		t.Cleanup(stop)
		if err := s.StartCache(cacheCtx); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s.Handler())
		t.Cleanup(srv.Close)
		replicas = append(replicas, srv)
	}
	return replicas
}

// resultsLink asks a replica for a job's results link (with a forged Host,
// which must not show in the link).
func resultsLink(t *testing.T, replica *httptest.Server, token, jobID string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, replica.URL+"/api/v1/jobs/"+jobID+"/results_link", nil)
	req.Header.Set("Authorization", "Bearer "+token)
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

// fetchKeyedLink follows a results link on a replica and returns the status.
func fetchKeyedLink(t *testing.T, replica *httptest.Server, link, jobID string) int {
	t.Helper()
	if !strings.HasPrefix(link, linkBase+"/api/v1/jobs/"+jobID+"/results?") {
		t.Fatalf("link %s does not start with the configured public URL", link)
	}
	resp, err := http.Get(replica.URL + strings.TrimPrefix(link, linkBase))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func sig(link string) string {
	_, s, _ := strings.Cut(link, "signature=")
	s, _, _ = strings.Cut(s, "&")
	return s
}

// TestRotateResultsKey: the rotation of "apiserver rotate-link-key" creates
// the Secret when there is none; each rotation makes the replicas sign with
// a new key while the links signed before still verify, and the next one
// retires that older key. A Secret without a valid current key is refused,
// naming it, and left as it was.
func TestRotateResultsKey(t *testing.T) {
	ctx := context.Background()
	const name = "tweezer-results-key" // the one Secret the facade's Role lets it read
	ref := "tweezer-system/" + name
	created, err := server.RotateResultsKey(ctx, admin, ref)
	if err != nil || !created {
		t.Fatalf("first rotation: created %v, %v; want the Secret created", created, err)
	}
	sec := &corev1.Secret{}
	if err := admin.Get(ctx, client.ObjectKey{Namespace: "tweezer-system", Name: name}, sec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Delete(ctx, sec) })
	if len(sec.Data[server.CurrentKey]) < server.MinKeyBytes || len(sec.Data[server.PreviousKey]) != 0 {
		t.Fatalf("created Secret: current %d bytes, previous %d", len(sec.Data[server.CurrentKey]), len(sec.Data[server.PreviousKey]))
	}
	replicas := keyedReplicas(t, name, 2)
	alice := tokens["alice"]
	b := createBatch(t, alice, newBatch(projA, 1, nil))
	jobID := b["jobs"].([]any)[0].(map[string]any)["id"].(string)
	setResult(t, projA, jobID, map[string]int64{"01": 1}, []string{"01"})

	// rotate rotates and waits until both replicas sign with the new key.
	rotate := func(before string) string {
		t.Helper()
		if created, err := server.RotateResultsKey(ctx, admin, ref); err != nil || created {
			t.Fatalf("rotation: created %v, %v", created, err)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			a, b := resultsLink(t, replicas[0], alice, jobID), resultsLink(t, replicas[1], alice, jobID)
			if sig(a) != sig(before) && sig(b) != sig(before) {
				return a
			}
			if time.Now().After(deadline) {
				t.Fatal("the replicas still sign with the old key after the rotation")
			}
		}
	}
	first := resultsLink(t, replicas[0], alice, jobID)
	second := rotate(first)
	for i, r := range replicas {
		for _, link := range []string{first, second} {
			if code := fetchKeyedLink(t, r, link, jobID); code != 200 {
				t.Errorf("replica %d, after one rotation: %d for %s", i, code, link)
			}
		}
	}
	third := rotate(second)
	for deadline := time.Now().Add(10 * time.Second); fetchKeyedLink(t, replicas[0], first, jobID) != 401; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a link signed two rotations ago still verifies")
		}
	}
	for i, r := range replicas {
		for _, link := range []string{second, third} {
			if code := fetchKeyedLink(t, r, link, jobID); code != 200 {
				t.Errorf("replica %d, after two rotations: %d for %s", i, code, link)
			}
		}
	}

	// Refusals: a bad reference, a Secret whose current key is too short.
	if _, err := server.RotateResultsKey(ctx, admin, "no-namespace"); err == nil || !strings.Contains(err.Error(), "want namespace/name") {
		t.Errorf("a reference without a namespace: %v", err)
	}
	short := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "tweezer-system", Name: "tweezer-results-key-short"},
		Data: map[string][]byte{server.CurrentKey: []byte("short")}}
	if err := admin.Create(ctx, short); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Delete(ctx, short) })
	if _, err := server.RotateResultsKey(ctx, admin, "tweezer-system/tweezer-results-key-short"); err == nil || !strings.Contains(err.Error(), "data.current has 5 bytes") {
		t.Errorf("a Secret with a 5-byte current key: %v", err)
	}
	if err := admin.Get(ctx, client.ObjectKeyFromObject(short), short); err != nil {
		t.Fatal(err)
	}
	if string(short.Data[server.CurrentKey]) != "short" || len(short.Data[server.PreviousKey]) != 0 {
		t.Errorf("a refused rotation changed the Secret: %v", short.Data)
	}
}
