package server_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/tweezer-dev/tweezer/internal/controlplane"
	"github.com/tweezer-dev/tweezer/internal/metricsauth"
)

// The metrics endpoint (the facade's, run as the facade's identity with its
// generated role; the manager's is configured alike) answers 401 without a
// token, refuses a bogus one, answers 403 to a valid token without the
// tweezer-metrics-reader ClusterRole, and serves the metrics over HTTPS to
// one bound to it.
func TestMetricsNeedAuthenticationAndAuthorization(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	raw, err := os.ReadFile(filepath.Join(controlplane.RepoRoot(), "config/rbac/metrics_reader.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var reader rbacv1.ClusterRole
	if err := yaml.Unmarshal(raw, &reader); err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "scraper", Namespace: usersNS}}
	if err := admin.Create(ctx, &reader); err != nil {
		t.Fatal(err)
	}
	if err := admin.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
	if err := admin.Create(ctx, clusterBinding(reader.Name, rbacv1.Subject{Kind: "ServiceAccount", Name: sa.Name, Namespace: usersNS})); err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(usersNS).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scraper := tr.Status.Token

	ms, err := (&metricsauth.Flags{Addr: "127.0.0.1:0"}).Server(facadeCfg)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = ms.Start(ctx) }()
	bound, ok := ms.(interface{ GetBindAddr() string })
	if !ok {
		t.Fatal("the metrics server does not say where it listens")
	}
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == ""; time.Sleep(10 * time.Millisecond) {
		if addr = bound.GetBindAddr(); addr == "" && time.Now().After(deadline) {
			t.Fatal("the metrics server did not start")
		}
	}
	// The certificate is self-signed (no --metrics-cert-dir).
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 30 * time.Second}
	scrape := func(token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := scrape(""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", code)
	}
	// controller-runtime's filter answers 500 to a token the TokenReview
	// reports an error for (a malformed one): refused all the same.
	if code, _ := scrape("not-a-token"); code != http.StatusUnauthorized && code != http.StatusInternalServerError {
		t.Errorf("a bogus token: %d, want it refused", code)
	}
	if code, _ := scrape(tokens["nobody"]); code != http.StatusForbidden {
		t.Errorf("a token without tweezer-metrics-reader: %d, want 403", code)
	}
	code, body := scrape(scraper)
	if code != http.StatusOK || !strings.Contains(body, "# TYPE rest_client_requests_total") {
		t.Errorf("the scraper: %d\n%.500s", code, body)
	}
	if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("metrics are served over plain HTTP")
		}
	}
}
