package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Result(), string(body)
}

// The page and its assets come from the binary, name no other host, and are
// served under a policy that lets the page load nothing from elsewhere.
func TestServesEmbeddedAssetsOnly(t *testing.T) {
	h := Handler()
	for path, want := range map[string]string{
		"/console":           "text/html",
		"/console/app.js":    "text/javascript",
		"/console/style.css": "text/css",
	} {
		resp, body := get(t, h, path)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), want) {
			t.Errorf("%s: %d %s, want 200 %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), want)
		}
		if strings.Contains(body, "https://") || strings.Contains(body, "http://") && !strings.Contains(body, "http://www.w3.org/2000/svg") {
			t.Errorf("%s refers to another host", path)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
			t.Errorf("%s: policy %q", path, csp)
		}
	}
	if resp, _ := get(t, h, "/console/"); resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/console" {
		t.Errorf("/console/: %d to %q, want a redirect to /console", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, path := range []string{"/console/nope.js", "/console/assets/app.js", "/console/../console.go"} {
		if resp, _ := get(t, h, path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, resp.StatusCode)
		}
	}
}
