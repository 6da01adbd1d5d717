package leaseholder

import (
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

func TestRoundTripAndRefusals(t *testing.T) {
	h := Holder{Batch: types.NamespacedName{Namespace: "ns", Name: "b-1"}, Generation: 7}
	if s := h.String(); s != "ns/b-1#7" {
		t.Fatalf("String = %q", s)
	}
	got, ok := Parse(h.String())
	if !ok || got != h {
		t.Fatalf("Parse = %+v %v", got, ok)
	}
	for _, bad := range []string{"", "ns/b", "ns#1", "/b#1", "ns/#1", "ns/b#x", "ns/b#-1"} {
		if _, ok := Parse(bad); ok {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
