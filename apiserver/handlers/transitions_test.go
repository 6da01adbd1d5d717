package handlers

import (
	"testing"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

func TestCheckTransition(t *testing.T) {
	terminal := func(s string) bool { return quantumv1alpha1.JobStatus(s).Terminal() }
	for _, c := range []struct {
		from, to string
		ok       bool
	}{
		{"PENDING", "RUNNING", true},
		{"PENDING", "DONE", true},
		{"RUNNING", "DONE", true},
		{"RUNNING", "PENDING", true},
		{"DONE", "DONE", true},
		{"DONE", "RUNNING", false},
		{"ERROR", "DONE", false},
		{"CANCELED", "PENDING", false},
	} {
		err := checkTransition("job", "j", c.from, c.to, terminal)
		if (err == nil) != c.ok {
			t.Errorf("%s → %s: %v", c.from, c.to, err)
		}
	}
}
