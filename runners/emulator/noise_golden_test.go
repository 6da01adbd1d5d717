package emulator

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

type noiseGolden struct {
	Sequence         json.RawMessage    `json:"sequence"`
	NoiseModel       json.RawMessage    `json:"noise_model"`
	Occupation       []float64          `json:"occupation"`
	OccupationSEM    []float64          `json:"occupation_sem"`
	Probabilities    map[string]float64 `json:"probabilities"`
	ProbabilitiesSEM map[string]float64 `json:"probabilities_sem"`
	ReferenceRuns    int                `json:"reference_runs"`
	// Generator is set by make_shot_noise_goldens.py (Pulser 1.9's noise
	// draws): Pulser's version, numpy's seed and the trajectory count.
	Generator *struct {
		PulserVersion string `json:"pulser_version"`
		NumpySeed     int    `json:"numpy_seed"`
		Trajectories  int    `json:"trajectories"`
	} `json:"generator"`
}

// trajectoryStats runs req with an observer at the end of the sequence and
// returns the mean and standard error over trajectories of each atom's
// Rydberg occupation and of each bitstring probability.
func trajectoryStats(t *testing.T, req Request, duration int) (occ, occSEM []float64, prob, probSEM map[string]float64) {
	t.Helper()
	var mu sync.Mutex
	var samples [][]float64 // per trajectory: probabilities by basis state
	req.EvalTimes = []int{duration}
	req.Observe = func(s *Snapshot) error {
		p := make([]float64, len(s.Psi))
		for i, a := range s.Psi {
			p[i] = real(a)*real(a) + imag(a)*imag(a)
		}
		mu.Lock()
		defer mu.Unlock()
		for k := 0; k < s.Weight; k++ {
			samples = append(samples, p)
		}
		return nil
	}
	if _, err := Run(context.Background(), req, nil); err != nil {
		t.Fatal(err)
	}
	dim := len(samples[0])
	n := 0
	for 1<<n < dim {
		n++
	}
	meanSEM := func(f func(p []float64) float64) (float64, float64) {
		s, s2 := 0.0, 0.0
		for _, p := range samples {
			v := f(p)
			s += v
			s2 += v * v
		}
		m := s / float64(len(samples))
		v := (s2/float64(len(samples)) - m*m) * float64(len(samples)) / float64(len(samples)-1)
		return m, math.Sqrt(math.Max(v, 0) / float64(len(samples)))
	}
	occ, occSEM = make([]float64, n), make([]float64, n)
	for a := 0; a < n; a++ {
		bit := bitOf(n, a)
		occ[a], occSEM[a] = meanSEM(func(p []float64) float64 {
			o := 0.0
			for s, v := range p {
				if s>>bit&1 == 1 {
					o += v
				}
			}
			return o
		})
	}
	prob, probSEM = map[string]float64{}, map[string]float64{}
	for s := 0; s < dim; s++ {
		prob[bitstring(s, n)], probSEM[bitstring(s, n)] = meanSEM(func(p []float64) float64 { return p[s] })
	}
	return occ, occSEM, prob, probSEM
}

// TestNoiseGoldensAgainstPulser compares the trajectory average of the
// final occupations and bitstring probabilities with Pulser's reference:
// pulser-simulation's mesolve for Lindblad noise
// (hack/pulser-reference/make_noise_goldens.py), and for doppler,
// amplitude, detuning (with its high-frequency part) and register noise
// the mean over 1000–4000 of Pulser 1.9's own noise trajectories
// (make_shot_noise_goldens.py). Each value must lie within 3σ, σ combining
// both standard errors (plus 2e-3 for the propagator's own error), in the
// default precision and in "low".
func TestNoiseGoldensAgainstPulser(t *testing.T) {
	files, _ := filepath.Glob("testdata/noise_*.json")
	if len(files) < 9 {
		t.Fatalf("expected the noise golden files, found %d", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "noise_"), ".json")
		for _, mode := range precisionModes {
			t.Run(name+"/"+mode.name, func(t *testing.T) {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				var g noiseGolden
				if err := json.Unmarshal(b, &g); err != nil {
					t.Fatal(err)
				}
				nm := &NoiseModel{}
				if err := json.Unmarshal(g.NoiseModel, nm); err != nil {
					t.Fatal(err)
				}
				prog, _, err := compileRequest(Request{Sequence: g.Sequence})
				if err != nil {
					t.Fatal(err)
				}
				trajectories := 400
				switch {
				case len(prog.QubitIDs) > 4:
					trajectories = 200
				case g.Generator != nil:
					// Shot-to-shot noise spreads the outcomes widely
					// (σ ≈ 0.2 per occupation): more trajectories keep our
					// side's error near Pulser's.
					trajectories = 1000
				}
				req := Request{Sequence: g.Sequence, DeviceType: "EMU_FREE", Runs: 1, Seed: 7, Noise: nm, NTrajectories: trajectories, Configuration: mode.config}
				occ, occSEM, prob, probSEM := trajectoryStats(t, req, prog.Duration)
				check := func(what string, got, sem, want, wantSEM float64) {
					sigma := math.Sqrt(sem*sem + wantSEM*wantSEM + 2e-3*2e-3)
					if d := math.Abs(got - want); d > 3*sigma {
						t.Errorf("%s = %.4f ± %.4f, Pulser %.4f ± %.4f: off by %.1fσ", what, got, sem, want, wantSEM, d/sigma)
					}
				}
				for a := range g.Occupation {
					check("occupation["+prog.QubitIDs[a]+"]", occ[a], occSEM[a], g.Occupation[a], g.OccupationSEM[a])
				}
				keys := make([]string, 0, len(g.Probabilities))
				for k := range g.Probabilities {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					check("p("+k+")", prob[k], probSEM[k], g.Probabilities[k], g.ProbabilitiesSEM[k])
				}
				t.Logf("occupation %.4f ± %.4f (Pulser %.4f ± %.4f over %d trajectories)", occ, occSEM, g.Occupation, g.OccupationSEM, g.ReferenceRuns)
			})
		}
	}
}
