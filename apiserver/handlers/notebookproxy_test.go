package handlers

import (
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/tweezer-dev/tweezer/internal/nbserver"
)

func TestNotebookTarget(t *testing.T) {
	for path, want := range map[string][2]string{
		"/notebooks/p1/nb-intro-0a1b2c3d4e/":             {"p1", "nb-intro-0a1b2c3d4e"},
		"/notebooks/p1/nb-intro-0a1b2c3d4e/api/contents": {"p1", "nb-intro-0a1b2c3d4e"},
		"/notebooks/p1/nb-intro-0a1b2c3d4e":              {}, // no base path
		"/notebooks/p1/":                                 {},
		"/notebooks//nb/":                                {},
		"/api/v1/batches":                                {},
	} {
		ns, server, ok := notebookTarget(path)
		if ok != (want[0] != "") || ns != want[0] || server != want[1] {
			t.Errorf("%s: %q %q %v, want %q", path, ns, server, ok, want)
		}
	}
}

func TestNotebookUpstream(t *testing.T) {
	slice := func(lbl map[string]string, port int32, ready ...*bool) discoveryv1.EndpointSlice {
		s := discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Labels: lbl}, Ports: []discoveryv1.EndpointPort{{Port: ptr.To(port)}}}
		for i, r := range ready {
			s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.244.0." + string(rune('2'+i))}, Conditions: discoveryv1.EndpointConditions{Ready: r}})
		}
		return s
	}
	nb := map[string]string{nbserver.LearnerLabel: "l", nbserver.NotebookLabel: "intro"}
	for _, c := range []struct {
		name   string
		slices []discoveryv1.EndpointSlice
		want   string
		err    string
	}{
		{"no slice: no such server", nil, "", "no such server"},
		{"the first ready endpoint", []discoveryv1.EndpointSlice{slice(nb, 8888, ptr.To(false), ptr.To(true))}, "10.244.0.3:8888", ""},
		{"ready unknown counts as ready", []discoveryv1.EndpointSlice{slice(nb, 8888, nil)}, "10.244.0.2:8888", ""},
		{"none ready", []discoveryv1.EndpointSlice{slice(nb, 8888, ptr.To(false))}, "", "not ready"},
		{"another Service's slice is refused", []discoveryv1.EndpointSlice{slice(map[string]string{"app": "db"}, 5432, ptr.To(true))}, "", "not a notebook server"},
	} {
		got, err := NotebookUpstream(c.slices)
		if got != c.want || (err == nil) != (c.err == "") || (err != nil && err.Error() != c.err) {
			t.Errorf("%s: %q, %v; want %q, %q", c.name, got, err, c.want, c.err)
		}
	}
}
