package handlers

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tweezer-dev/tweezer/apiserver/envelope"
	"github.com/tweezer-dev/tweezer/internal/emulationconfig"
)

// A StateResult above the amplitude cap on the batch's register or on a
// job's own is a 422 naming the observable; a register that fits, or no
// StateResult, passes.
func TestStateFitsNamesTheObservable(t *testing.T) {
	register := func(n int) string {
		atoms := make([]string, n)
		for i := range atoms {
			atoms[i] = `{"name": "q", "x": 0, "y": 0}`
		}
		return `{"register": [` + strings.Join(atoms, ",") + `]}`
	}
	cfg := &emulationconfig.Config{Observables: []emulationconfig.Observable{
		{Kind: emulationconfig.Occupation, Times: []float64{1}},
		{Kind: emulationconfig.StateResult, Times: []float64{0.5, 1}},
	}}
	small, big := register(11), register(12)
	if err := stateFits(cfg, small, []JobInput{{Sequence: &small}}); err != nil {
		t.Errorf("two states of 11 atoms fit: %v", err)
	}
	if err := stateFits(nil, big, nil); err != nil {
		t.Errorf("no configuration: %v", err)
	}
	for name, err := range map[string]error{
		"batch sequence": stateFits(cfg, big, nil),
		"job sequence":   stateFits(cfg, small, []JobInput{{Sequence: &small}, {Sequence: &big}}),
	} {
		var e *envelope.Error
		if !errors.As(err, &e) || e.GetStatus() != http.StatusUnprocessableEntity ||
			!strings.Contains(e.Error(), "backend_configuration.observables[1]") || !strings.Contains(e.Error(), "cap of 4096") {
			t.Errorf("%s: got %v", name, err)
		}
	}
}
