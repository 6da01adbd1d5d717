package handlers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestFirstProject(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ns := func(name string, age time.Duration) project {
		return project{id: name, ns: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(t0.Add(age))}}}
	}
	for i, c := range []struct {
		projects []project
		want     string
	}{
		{[]project{ns("b", 0)}, "b"},
		{[]project{ns("b", 0), ns("a", time.Hour)}, "b"},             // the oldest
		{[]project{ns("c", time.Hour), ns("b", 0), ns("a", 0)}, "a"}, // ties: the smallest id
	} {
		m := map[string]project{}
		for _, p := range c.projects {
			m[p.ns.Name] = p
		}
		for range 10 { // map order varies
			if got := firstProject(m); got != c.want {
				t.Fatalf("case %d: %s, want %s", i, got, c.want)
			}
		}
	}
}
