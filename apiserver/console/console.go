// Package console is the facade's web console: a page of plain JavaScript
// and hand-drawn SVG, embedded in the binary (no CDN, works offline), that
// speaks the facade's own REST API with the user's bearer token. The token
// stays in the browser tab's sessionStorage; the console adds no auth path.
package console

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

//go:embed assets
var assets embed.FS

// Path is where the facade serves the console.
const Path = "/console"

// built is when the binary's embedded assets were made, for caching.
var built = time.Now()

// csp keeps the page to its own assets and the API of its origin: no
// script, style or image comes from anywhere else.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves Path (the page) and Path/<asset>; Path/ redirects to Path.
func Handler() http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == Path+"/" {
			// The page's links are relative to Path.
			http.Redirect(w, r, Path, http.StatusMovedPermanently)
			return
		}
		name := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, Path), "/")
		if name == "" {
			name = "index.html"
		}
		f, err := fs.ReadFile(sub, name)
		if err != nil || strings.Contains(name, "/") {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if name == "index.html" {
			h.Set("Cache-Control", "no-cache")
		}
		http.ServeContent(w, r, name, built, bytes.NewReader(f))
	})
}
