package server

import (
	"bytes"
	_ "embed"
	"net/http"
	"time"
)

// redocJS is Redoc's standalone bundle (v2.5.1, MIT; its licences are in
// docs/), vendored by hack/vendor-redoc.sh so that /docs needs no network.
//
//go:embed docs/redoc.standalone.js
var redocJS []byte

// docsPage renders /openapi.json with the embedded Redoc. Both links are
// relative, so the page also works behind a path prefix.
const docsPage = `<!doctype html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tweezer REST facade</title>
</head>
<body>
<redoc spec-url="openapi.json"></redoc>
<script src="docs/redoc.standalone.js"></script>
</body>
</html>
`

// built is when the binary's embedded assets were made, for caching.
var built = time.Now()

// serveDocs serves /docs and its script from the binary.
func serveDocs(mux interface {
	Get(pattern string, h http.HandlerFunc)
}) {
	mux.Get("/docs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(docsPage))
	})
	mux.Get("/docs/redoc.standalone.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		http.ServeContent(w, r, "redoc.standalone.js", built, bytes.NewReader(redocJS))
	})
}
