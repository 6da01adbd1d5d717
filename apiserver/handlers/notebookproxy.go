package handlers

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"

	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tweezer-dev/tweezer/internal/nbserver"
)

// NotebookProxyPath is the facade's route to learners' notebook servers:
// /notebooks/<namespace>/<server>/…, each server's own base path.
const NotebookProxyPath = "/notebooks/"

// NotebookProxy forwards /notebooks/<namespace>/<server>/… to that notebook
// server, at a ready address of its Service's EndpointSlices (read from the
// facade's cache, which holds only notebook servers' slices): the learner
// reaches the server through the facade, with no ingress, no cluster DNS
// and no kube-proxy. The path is kept (it is the server's base URL) and the
// facade checks no bearer token: the server's own token authenticates, as
// behind an ingress. A path that names no running notebook server is 404.
func (h *Handlers) NotebookProxy() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ns, server, ok := notebookTarget(r.URL.Path)
		if !ok {
			http.Error(w, "want /notebooks/<namespace>/<server>/…", http.StatusNotFound)
			return
		}
		slices := &discoveryv1.EndpointSliceList{}
		if err := h.Cache.List(r.Context(), slices, client.InNamespace(ns),
			client.MatchingLabels{discoveryv1.LabelServiceName: server}); err != nil {
			http.Error(w, "looking up the notebook server: "+err.Error(), http.StatusBadGateway)
			return
		}
		addr, err := NotebookUpstream(slices.Items)
		if err != nil {
			http.Error(w, fmt.Sprintf("notebook server %s/%s: %v", ns, server, err), http.StatusNotFound)
			return
		}
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.Out.URL.Scheme, pr.Out.URL.Host = "http", addr
				pr.SetXForwarded()
			},
		}
		proxy.ServeHTTP(w, r)
	})
}

// notebookTarget reads namespace and server from /notebooks/<ns>/<server>/….
func notebookTarget(path string) (ns, server string, ok bool) {
	rest, ok := strings.CutPrefix(path, NotebookProxyPath)
	if !ok {
		return "", "", false
	}
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) < 3 || parts[0] == "" || parts[1] == "" {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// NotebookUpstream is host:port of the first ready endpoint of a notebook
// server's EndpointSlices; the slices must carry the notebook controller's
// labels (the Service's, which the EndpointSlice controller copies), so
// that the facade forwards to notebook servers and nothing else.
func NotebookUpstream(slices []discoveryv1.EndpointSlice) (string, error) {
	if len(slices) == 0 {
		return "", fmt.Errorf("no such server")
	}
	for _, s := range slices {
		if s.Labels[nbserver.LearnerLabel] == "" || s.Labels[nbserver.NotebookLabel] == "" {
			return "", fmt.Errorf("not a notebook server")
		}
		if len(s.Ports) == 0 || s.Ports[0].Port == nil {
			continue
		}
		for _, e := range s.Endpoints {
			if len(e.Addresses) > 0 && (e.Conditions.Ready == nil || *e.Conditions.Ready) {
				return net.JoinHostPort(e.Addresses[0], strconv.Itoa(int(*s.Ports[0].Port))), nil
			}
		}
	}
	return "", fmt.Errorf("not ready")
}
