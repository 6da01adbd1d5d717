package sequence

import (
	"encoding/json"
	"math"
	"math/cmplx"
	"os"
	"sort"
	"testing"
)

// TestScheduleGoldensAgainstPulser compiles sequences that mix a local
// channel (220 ns retarget interval, 4 ns clock), retargeting between
// pulses, align, phase shifts on all atoms and a final global pulse, and
// compares every atom's drive Ω·e^{iφ} and detuning, ns by ns, with
// Pulser's own samples (testdata/schedule_goldens.json, written by
// hack/pulser-reference/make_schedule_goldens.py).
func TestScheduleGoldensAgainstPulser(t *testing.T) {
	b, err := os.ReadFile("testdata/schedule_goldens.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases map[string]struct {
		Sequence json.RawMessage                 `json:"sequence"`
		Samples  map[string]map[string][]float64 `json:"samples"`
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(cases))
	for name := range cases {
		names = append(names, name)
	}
	sort.Strings(names)
	if len(names) < 3 {
		t.Fatalf("expected 3 cases, found %d", len(names))
	}
	for _, name := range names {
		c := cases[name]
		t.Run(name, func(t *testing.T) {
			p, err := Compile(c.Sequence, Options{MaxAtoms: 10})
			if err != nil {
				t.Fatal(err)
			}
			for a, id := range p.QubitIDs {
				s := c.Samples[id]
				if len(s["amp"]) != p.Duration {
					t.Errorf("%s: duration %d ns, Pulser %d ns", id, p.Duration, len(s["amp"]))
					continue
				}
				for k := 0; k < p.Duration; k++ {
					want := complex(s["amp"][k], 0) * cmplx.Exp(complex(0, s["phase"][k]))
					if cmplx.Abs(p.Drive[a][k]-want) > 1e-9 || math.Abs(p.Det[a][k]-s["det"][k]) > 1e-9 {
						t.Errorf("%s at %d ns: drive %.6f, detuning %.6f; Pulser %.6f, %.6f", id, k, p.Drive[a][k], p.Det[a][k], want, s["det"][k])
						break
					}
				}
			}
		})
	}
}
