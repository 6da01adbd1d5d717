package mps

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tweezer-dev/tweezer/runners/emulator"
	"github.com/tweezer-dev/tweezer/runners/mps/mpsseq"
)

// TestJumpTrajectoriesMatchMesolve averages quantum-jump trajectories on
// the MPS and compares each atom's final occupation with the Lindblad
// master equation (QuTiP mesolve through pulser-simulation: the state-vector
// engine's noise goldens, runners/emulator/testdata/noise_*.json) within
// 3σ, σ combining both standard errors and 2e-3 for the integrators.
func TestJumpTrajectoriesMatchMesolve(t *testing.T) {
	// The 6-atom dephasing+relaxation golden is left out: at 1-ns steps it
	// takes minutes here.
	var files []string
	for _, name := range []string{"dephasing", "relaxation", "depolarizing", "eff_noise"} {
		files = append(files, "../emulator/testdata/noise_"+name+".json")
	}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "noise_"), ".json")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var g struct {
				Sequence      json.RawMessage `json:"sequence"`
				NoiseModel    json.RawMessage `json:"noise_model"`
				Occupation    []float64       `json:"occupation"`
				OccupationSEM []float64       `json:"occupation_sem"`
			}
			if err := json.Unmarshal(b, &g); err != nil {
				t.Fatal(err)
			}
			seq := []byte(g.Sequence)
			var s string
			if json.Unmarshal(g.Sequence, &s) == nil {
				seq = []byte(s)
			}
			nm := &emulator.NoiseModel{}
			if err := json.Unmarshal(g.NoiseModel, nm); err != nil {
				t.Fatal(err)
			}
			prog := compile(t, seq)
			n := len(prog.QubitIDs)
			const trajectories = 120
			sum, sum2 := make([]float64, n), make([]float64, n)
			jumps := 0
			for i := 0; i < trajectories; i++ {
				st, stats, err := Run(context.Background(), prog, Config{Jumps: &Jumps{Ops: nm.JumpOperators(), Rng: rand.New(rand.NewPCG(7, uint64(i)))}}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if d := math.Abs(st.Norm() - 1); d > 1e-9 {
					t.Fatalf("trajectory %d: the observed state has norm %v", i, st.Norm())
				}
				jumps += stats.Jumps
				for a, o := range st.Occupation() {
					sum[a] += o
					sum2[a] += o * o
				}
			}
			if jumps == 0 {
				t.Fatal("no jump in any trajectory")
			}
			got := make([]float64, n)
			for a := range got {
				m := sum[a] / trajectories
				sem := math.Sqrt(math.Max(0, sum2[a]/trajectories-m*m) / (trajectories - 1))
				got[a] = m
				sigma := math.Sqrt(sem*sem + g.OccupationSEM[a]*g.OccupationSEM[a] + 2e-3*2e-3)
				if d := math.Abs(m - g.Occupation[a]); d > 3*sigma {
					t.Errorf("occupation[%d] = %.4f ± %.4f, mesolve %.4f: off by %.1fσ", a, m, sem, g.Occupation[a], d/sigma)
				}
			}
			t.Logf("%d jumps in %d trajectories; occupation %.4f (mesolve %.4f)", jumps, trajectories, got, g.Occupation)
		})
	}
}

// TestDephasingThroughTheEngine: a dephasing job runs on EMU_MPS with one
// trajectory per group, and its trajectory mean of the occupation agrees
// with the state-vector engine's within 5e-3: with one seed both engines
// draw the same thresholds and pick the same atoms, so they run the same
// trajectories (one trajectory of 60 turning out otherwise would move the
// mean by up to 1.7e-2, the standard error of the mean is about 6e-2).
func TestDephasingThroughTheEngine(t *testing.T) {
	seq := string(mpsseq.Quench(1, 4, 7, 500))
	nm := strings.Replace(strings.Replace(spamModel("0.0", "0.0", "0.0"), `"noise_types": ["SPAM"]`, `"noise_types": ["dephasing"]`, 1), `"dephasing_rate": 0.0`, `"dephasing_rate": 2.0`, 1)
	const nTraj = 60
	got, want := runBoth(t, seq, withNoise(engineConfig(""), nm, nTraj), 3000, 17)
	g, w := floats(observedValues(t, got, "occupation")[1]), floats(observedValues(t, want, "occupation")[1])
	for a := range g {
		if d := math.Abs(g[a] - w[a]); d > 5e-3 {
			t.Errorf("occupation[%d] = %.4f, state vector %.4f", a, g[a], w[a])
		}
	}
	t.Logf("occupation %.4f, state vector %.4f", g, w)
	clean, _ := runBoth(t, seq, engineConfig(""), 10, 17)
	if c := floats(observedValues(t, clean, "occupation")[1]); math.Abs(c[0]-g[0]) < 1e-3 && math.Abs(c[1]-g[1]) < 1e-3 {
		t.Errorf("dephasing changed nothing: %v vs noiseless %v", g, c)
	}
	if len(got.Raw) != 3000 {
		t.Errorf("%d shots, want 3000", len(got.Raw))
	}
}
