package mps

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"strings"
	"testing"

	jobs "github.com/tweezer-dev/tweezer/runners/engine"
	"github.com/tweezer-dev/tweezer/runners/mps/mpsseq"
)

// ghz and wState are bitstring → amplitude maps on n atoms.
func ghz(n int) map[string]complex128 {
	return map[string]complex128{strings.Repeat("0", n): 1, strings.Repeat("1", n): 1i}
}

func wState(n int) map[string]complex128 {
	m := map[string]complex128{}
	for i := 0; i < n; i++ {
		b := []byte(strings.Repeat("0", n))
		b[i] = '1'
		m[string(b)] = cmplx.Rect(1, 0.3*float64(i))
	}
	return m
}

// TestBasisMPSIsExact builds GHZ, W and random 100-term states (more than
// one batch) in a shuffled site order and reads every one of the 2^N
// amplitudes back: each equals the normalised input to 1e-12, the bonds
// are the states' Schmidt ranks (2 for GHZ and W; at most the terms and
// the exact cap for the random one), sites 1..N-1 are right-canonical, and
// nothing is discarded. With max_bond_dim 1, GHZ loses half its weight.
func TestBasisMPSIsExact(t *testing.T) {
	const n = 8
	rng := rand.New(rand.NewPCG(4, 5))
	random := map[string]complex128{}
	for len(random) < 100 {
		x := make([]byte, n)
		for i := range x {
			x[i] = '0' + byte(rng.IntN(2))
		}
		random[string(x)] = complex(rng.NormFloat64(), rng.NormFloat64())
	}
	order := rng.Perm(n)
	for _, c := range []struct {
		name  string
		amps  map[string]complex128
		bonds func(k int) bool
	}{
		{"GHZ", ghz(n), func(d int) bool { return d == 2 }},
		{"W", wState(n), func(d int) bool { return d == 2 }},
		{"random 100 terms", random, func(d int) bool { return d <= 16 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			sites, disc, err := basisMPS(amplitudeTerms(c.amps), order, 1024)
			if err != nil {
				t.Fatal(err)
			}
			if disc > 1e-20 {
				t.Errorf("discarded %g, want 0", disc)
			}
			st := &State{sites: sites, order: order}
			for _, d := range st.BondDims() {
				if !c.bonds(d) {
					t.Errorf("bond dimensions %v", st.BondDims())
					break
				}
			}
			norm := 0.0
			for _, a := range c.amps {
				norm += real(a)*real(a) + imag(a)*imag(a)
			}
			worst := 0.0
			for v := 0; v < 1<<n; v++ {
				x := make([]bool, n)
				key := make([]byte, n)
				for i := range x {
					x[i] = v>>(n-1-i)&1 == 1
					key[i] = '0'
					if x[i] {
						key[i] = '1'
					}
				}
				want := c.amps[string(key)] / complex(math.Sqrt(norm), 0)
				worst = math.Max(worst, cmplx.Abs(st.Amplitude(x)-want))
			}
			if worst > 1e-12 {
				t.Errorf("largest amplitude error %.1e", worst)
			}
			for i := 1; i < n; i++ {
				a := sites[i]
				for l := 0; l < a.dl; l++ {
					for m := 0; m < a.dl; m++ {
						g := dot(a.a[m*2*a.dr:(m+1)*2*a.dr], a.a[l*2*a.dr:(l+1)*2*a.dr])
						want := complex128(0)
						if l == m {
							want = 1
						}
						if cmplx.Abs(g-want) > 1e-12 {
							t.Fatalf("site %d is not right-canonical: (A·A†)[%d][%d] = %v", i, m, l, g)
						}
					}
				}
			}
			t.Logf("bonds %v, largest amplitude error %.1e", st.BondDims(), worst)
		})
	}
	sites, disc, err := basisMPS(amplitudeTerms(ghz(n)), order, 1)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(disc-0.5) > 1e-12 || (&State{sites: sites, order: order}).BondDims()[3] != 1 {
		t.Errorf("GHZ at max_bond_dim 1: discarded %g, bonds %v; want 0.5 and 1", disc, (&State{sites: sites, order: order}).BondDims())
	}
}

// stateRepr writes a bitstring → amplitude map as a state abstract repr
// ('1' → "r").
func stateRepr(m map[string]complex128) string {
	var parts []string
	for k, a := range m {
		parts = append(parts, fmt.Sprintf(`%q: {"real": %.17g, "imag": %.17g}`, strings.NewReplacer("0", "g", "1", "r").Replace(k), real(a), imag(a)))
	}
	return `{"eigenstates": ["r", "g"], "amplitudes": {` + strings.Join(parts, ", ") + `}}`
}

// TestEntangledInitialStateMatchesStateVector starts a 5-atom quench from
// GHZ and from a W state with phases on both engines: occupation,
// correlation, energy and the fidelity with the initial state agree to
// 1e-4, and the fidelity at t = 0 is 1.
func TestEntangledInitialStateMatchesStateVector(t *testing.T) {
	seq := string(mpsseq.Quench(1, 5, 7, 400))
	for name, init := range map[string]map[string]complex128{"GHZ": ghz(5), "W": wState(5)} {
		t.Run(name, func(t *testing.T) {
			repr := stateRepr(init)
			cfg := strings.Replace(engineConfig(""), `"initial_state": null`, `"initial_state": `+repr, 1)
			cfg = strings.Replace(cfg, `{"observable": "bitstrings"`, `{"observable": "fidelity", "evaluation_times": [0.0, 0.5, 1.0], "tag_suffix": "init", "state": `+repr+`},
 {"observable": "bitstrings"`, 1)
			got, want := runBoth(t, seq, cfg, 1000, 9)
			worst := 0.0
			for _, tag := range []string{"occupation", "correlation_matrix", "energy", "energy_second_moment", "fidelity_init"} {
				g, w := observedValues(t, got, tag), observedValues(t, want, tag)
				for ti := range g {
					gv, wv := floats(g[ti]), floats(w[ti])
					for i := range gv {
						d := math.Abs(gv[i]-wv[i]) / math.Max(1, math.Abs(wv[i]))
						worst = math.Max(worst, d)
						if d > 1e-4 {
							t.Errorf("%s[%d][%d] = %.6f, state vector %.6f", tag, ti, i, gv[i], wv[i])
						}
					}
				}
			}
			if f := floats(observedValues(t, got, "fidelity_init")[0]); math.Abs(f[0]-1) > 1e-12 {
				t.Errorf("fidelity with the initial state at t=0 = %v, want 1", f[0])
			}
			t.Logf("largest (relative) difference from the state vector %.1e", worst)
		})
	}
	// Entangled states and state preparation errors do not mix (Pulser).
	cfg := withNoise(strings.Replace(engineConfig(""), `"initial_state": null`, `"initial_state": `+stateRepr(ghz(5)), 1), spamModel("0.1", "0.0", "0.0"), 0)
	_, err := Engine{}.Run(context.Background(), jobs.Task{Sequence: seq, Runs: 10, DeviceType: "EMU_MPS", BackendConfiguration: cfg}, nil)
	var ie *jobs.InputError
	if !errors.As(err, &ie) || ie.Path != "backend_configuration.noise_model.state_prep_error" {
		t.Errorf("GHZ with state preparation errors: %v, want an input error at backend_configuration.noise_model.state_prep_error", err)
	}
}

// TestInitialAmplitudesRefusals: Run names initial_state for malformed
// amplitudes, and for amplitudes given with a product state or with lost
// atoms.
func TestInitialAmplitudesRefusals(t *testing.T) {
	prog := compile(t, mpsseq.Quench(1, 3, 7, 100))
	for name, cfg := range map[string]Config{
		"short bitstring":  {InitialAmplitudes: map[string]complex128{"01": 1}},
		"not binary":       {InitialAmplitudes: map[string]complex128{"0r1": 1}},
		"not finite":       {InitialAmplitudes: map[string]complex128{"001": complex(math.Inf(1), 0)}},
		"empty":            {InitialAmplitudes: map[string]complex128{}},
		"with a product":   {InitialAmplitudes: ghz(3), Initial: [][2]complex128{{1, 0}, {1, 0}, {1, 0}}},
		"with lost atoms":  {InitialAmplitudes: ghz(3), Absent: []bool{false, true, false}},
		"zero norm (sums)": {InitialAmplitudes: map[string]complex128{"000": 0}},
	} {
		_, _, err := Run(context.Background(), prog, cfg, nil)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != "initial_state" {
			t.Errorf("%s: error %v, want a ConfigError naming initial_state", name, err)
		}
	}
}
