// Command notebook is the notebook stand-in of the local node, built into
// the image tweezer.local/notebook:dev by `make image` (hack/image) and
// mapped with the manager's --notebook-image: a full Jupyter image cannot be
// built offline. It answers the commands the notebook controller's Pods run,
// by the name it is called with:
//
//   - cp SRC DST (the init container copying the starter notebook);
//   - jupyter notebook --ServerApp.ip=… --ServerApp.port=… --ServerApp.base_url=…
//     --ServerApp.root_dir=… (other options are accepted and ignored): an HTTP
//     server that answers like Jupyter's REST API under base_url: GET api
//     (the version, without a token, as Jupyter's readiness probe target),
//     and with the token of JUPYTER_TOKEN (header "Authorization: token …"
//     or ?token=…) GET api/status and GET api/contents (the workspace's
//     files); 403 without it.
//
// It runs no kernel and never culls itself.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Version is what GET api answers.
const Version = "tweezer-notebook-stand-in"

func main() {
	var err error
	switch name := filepath.Base(os.Args[0]); name {
	case "cp":
		err = copyFile(os.Args[1:])
	case "jupyter":
		err = serve(os.Args[1:])
	default:
		err = fmt.Errorf("called as %q: want cp or jupyter", name)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, filepath.Base(os.Args[0])+":", err)
		os.Exit(1)
	}
}

func copyFile(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: cp SRC DST")
	}
	in, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(args[1])
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

func serve(args []string) error {
	if len(args) == 0 || args[0] != "notebook" {
		return fmt.Errorf("usage: jupyter notebook --ServerApp.ip=IP --ServerApp.port=PORT --ServerApp.base_url=PATH --ServerApp.root_dir=DIR")
	}
	opt := map[string]string{}
	for _, a := range args[1:] {
		if k, v, ok := strings.Cut(strings.TrimPrefix(a, "--"), "="); ok {
			// ServerApp (notebook 7) or NotebookApp (classic) options alike.
			if _, key, ok := strings.Cut(k, "."); ok {
				opt[key] = v
			}
		}
	}
	base := opt["base_url"]
	if base == "" {
		base = "/"
	}
	root := opt["root_dir"]
	if root == "" {
		root = opt["notebook_dir"]
	}
	token := os.Getenv("JUPYTER_TOKEN")
	started := time.Now().UTC()
	authorized := func(r *http.Request) bool {
		given := r.URL.Query().Get("token")
		if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "token ") {
			given = strings.TrimPrefix(h, "token ")
		}
		return token != "" && given == token
	}
	reply := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+base+"api", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, map[string]string{"version": Version})
	})
	private := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if !authorized(r) {
				http.Error(w, `{"message": "Forbidden", "reason": null}`, http.StatusForbidden)
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET "+base+"api/status", private(func(w http.ResponseWriter, _ *http.Request) {
		reply(w, map[string]any{"started": started.Format(time.RFC3339), "kernels": 0, "connections": 0})
	}))
	mux.HandleFunc("GET "+base+"api/contents", private(func(w http.ResponseWriter, _ *http.Request) {
		entries, err := os.ReadDir(root)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var content []map[string]string
		for _, e := range entries {
			content = append(content, map[string]string{"name": e.Name(), "path": e.Name(), "type": "file"})
		}
		reply(w, map[string]any{"name": "", "path": "", "type": "directory", "content": content})
	}))
	addr := net.JoinHostPort(opt["ip"], opt["port"])
	fmt.Fprintf(os.Stderr, "notebook stand-in serving %s on %s (root %s)\n", base, addr, root)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}
