package server_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/tweezer-dev/tweezer/internal/nbserver"
)

// The facade reaches a notebook server at its EndpointSlice's ready address,
// through its own cache and RBAC (list/watch endpointslices), keeping the
// path; a slice that is no notebook server's is never a target.
func TestNotebookProxy(t *testing.T) {
	ctx := context.Background()
	// An EndpointSlice may not name a loopback address: the stand-in server
	// listens on one of this machine's others.
	var ln net.Listener
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
			if ln, err = net.Listen("tcp", ipn.IP.String()+":0"); err == nil {
				break
			}
		}
	}
	if ln == nil {
		t.Fatalf("this machine has no non-loopback IPv4 address to serve a notebook on (%v)", addrs)
	}
	upstream := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "notebook saw "+r.URL.Path+" token="+r.URL.Query().Get("token"))
	})}}
	upstream.Start()
	defer upstream.Close()
	host, portStr, _ := net.SplitHostPort(upstream.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	slice := func(name string, lbl map[string]string) *discoveryv1.EndpointSlice {
		lbl[discoveryv1.LabelServiceName] = name
		return &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: projA, Name: name + "-x1", Labels: lbl},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{host}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(port))}},
		}
	}
	nb := slice("nb-intro-0a1b2c3d4e", map[string]string{nbserver.LearnerLabel: "alice-vqpu", nbserver.NotebookLabel: "intro"})
	other := slice("db", map[string]string{})
	for _, s := range []*discoveryv1.EndpointSlice{nb, other} {
		if err := admin.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = admin.Delete(ctx, s) })
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(facade.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	path := nbserver.BasePath(projA, "nb-intro-0a1b2c3d4e") + "api/contents?token=t0k"
	var code int
	var body string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if code, body = get(path); code == http.StatusOK || time.Now().After(deadline) {
			break
		}
	}
	if want := "notebook saw /notebooks/" + projA + "/nb-intro-0a1b2c3d4e/api/contents token=t0k"; code != http.StatusOK || body != want {
		t.Errorf("GET %s: %d %q, want 200 %q", path, code, body, want)
	}
	for _, p := range []string{
		nbserver.BasePath(projA, "db") + "api",           // a Service that is no notebook server
		nbserver.BasePath(projA, "nb-other-0a1b2c") + "", // no such server
		"/notebooks/" + projA + "/nb-intro-0a1b2c3d4e",   // no base path
	} {
		if code, body := get(p); code != http.StatusNotFound {
			t.Errorf("GET %s: %d %q, want 404", p, code, body)
		}
	}
}
