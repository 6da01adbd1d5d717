package mps

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/tweezer-dev/tweezer/runners/emulator"
	jobs "github.com/tweezer-dev/tweezer/runners/engine"
	"github.com/tweezer-dev/tweezer/runners/mps/mpsseq"
)

// withNoise puts a noise model (and n_trajectories) into engineConfig's
// EmulationConfig.
func withNoise(cfg, noise string, nTraj int) string {
	cfg = strings.Replace(cfg, `"noise_model": `+noiseless, `"noise_model": `+noise, 1)
	if nTraj > 0 {
		cfg = strings.Replace(cfg, `"default_evaluation_times"`, `"n_trajectories": `+strconv.Itoa(nTraj)+`, "default_evaluation_times"`, 1)
	}
	return cfg
}

func spamModel(prep, fp, fn string) string {
	return `{"noise_types": ["SPAM"], "runs": null, "samples_per_run": null, "state_prep_error": ` + prep + `, "p_false_pos": ` + fp + `, "p_false_neg": ` + fn + `, "temperature": 0.0, "laser_waist": null, "amp_sigma": 0.0, "relaxation_rate": 0.0, "dephasing_rate": 0.0, "hyperfine_dephasing_rate": 0.0, "depolarizing_rate": 0.0, "eff_noise": []}`
}

func runBoth(t *testing.T, seq, cfg string, runs int, seed int64) (got, want *jobs.Result) {
	t.Helper()
	var err error
	got, err = Engine{}.Run(context.Background(), jobs.Task{Sequence: seq, Runs: runs, Seed: seed, DeviceType: "EMU_MPS", BackendConfiguration: cfg}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err = emulator.Engine{}.Run(context.Background(), jobs.Task{Sequence: seq, Runs: runs, Seed: seed, DeviceType: "EMU_FREE", BackendConfiguration: cfg}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return got, want
}

// TestSPAMMatchesStateVectorEngine runs a 5-atom quench with state
// preparation and readout errors on both engines. For one seed both draw
// the same lost atoms per trajectory (runners/shots), so the trajectory
// means of occupation, correlation and energy must agree tightly; the
// sampled bitstrings must read each atom as excited with the frequency the
// occupation and the readout errors predict, within 5σ, on both engines.
func TestSPAMMatchesStateVectorEngine(t *testing.T) {
	seq := string(mpsseq.Quench(1, 5, 7, 600))
	const runs, nTraj = 100_000, 60
	const pfp, pfn = 0.05, 0.1
	cfg := withNoise(engineConfig(""), spamModel("0.1", "0.05", "0.1"), nTraj)
	got, want := runBoth(t, seq, cfg, runs, 21)
	for _, tag := range []string{"occupation", "correlation_matrix", "energy", "energy_second_moment"} {
		g, w := observedValues(t, got, tag), observedValues(t, want, tag)
		for ti := range g {
			gv, wv := floats(g[ti]), floats(w[ti])
			for i := range gv {
				if d := math.Abs(gv[i] - wv[i]); d > 1e-4*math.Max(1, math.Abs(wv[i])) {
					t.Errorf("%s[%d][%d] = %.6f, state vector %.6f", tag, ti, i, gv[i], wv[i])
				}
			}
		}
	}
	// The lost atoms are seen: the mean occupation is below the noiseless one.
	clean, _ := runBoth(t, seq, engineConfig(""), 10, 21)
	occ, occ0 := floats(observedValues(t, got, "occupation")[1]), floats(observedValues(t, clean, "occupation")[1])
	if occ[2] > occ0[2]-0.01 {
		t.Errorf("occupation of the middle atom with state-preparation errors %.4f, without %.4f: should be lower", occ[2], occ0[2])
	}
	for name, res := range map[string]*jobs.Result{"mps": got, "state vector": want} {
		if len(res.Raw) != runs {
			t.Fatalf("%s: %d shots, want %d", name, len(res.Raw), runs)
		}
		for a := 0; a < 5; a++ {
			ones := 0
			for _, s := range res.Raw {
				if s[a] == '1' {
					ones++
				}
			}
			f := occ[a]*(1-pfn) + (1-occ[a])*pfp
			sd := math.Sqrt(f * (1 - f) / runs)
			if d := float64(ones)/runs - f; math.Abs(d) > 5*sd {
				t.Errorf("%s: atom %d read excited in %.4f of shots, want %.4f ± %.4f", name, a, float64(ones)/runs, f, 5*sd)
			}
		}
	}
}

// TestReadoutErrorsOnAllGround: with no drive every atom reads 1 with
// probability p_false_pos only.
func TestReadoutErrorsOnAllGround(t *testing.T) {
	seq := string(mpsseq.Sequence(mpsseq.Rectangle(1, 4, 10), mpsseq.Pulse(mpsseq.Constant(100, 0), mpsseq.Constant(100, 0))))
	const runs, pfp = 50_000, 0.2
	got, err := Engine{}.Run(context.Background(), jobs.Task{Sequence: seq, Runs: runs, Seed: 3, DeviceType: "EMU_MPS",
		BackendConfiguration: withNoise(engineConfig(""), spamModel("0.0", "0.2", "0.5"), 0)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ones := 0
	for _, s := range got.Raw {
		ones += strings.Count(s, "1")
	}
	f, sd := float64(ones)/(4*runs), math.Sqrt(pfp*(1-pfp)/(4*runs))
	if math.Abs(f-pfp) > 5*sd {
		t.Errorf("false positives %.4f, want %.2f ± %.4f", f, pfp, 5*sd)
	}
}

// productInit is |+⟩ ⊗ |r⟩ ⊗ (|g⟩ + i|r⟩)/√2 ⊗ |g⟩ ⊗ |g⟩ as a state
// abstract repr (4 basis states).
const productInit = `{"eigenstates": ["r", "g"], "amplitudes": {
 "grggg": {"real": 0.5, "imag": 0.0}, "rrggg": {"real": 0.5, "imag": 0.0},
 "grrgg": {"real": 0.0, "imag": 0.5}, "rrrgg": {"real": 0.0, "imag": 0.5}}}`

// expectationObs are an Expectation of Σᵢ σxᵢ (Hermitian), one of
// |r⟩⟨g| on atom 0 times n on atom 2 (not Hermitian) and a Fidelity with
// a 2-term entangled reference.
const expectationObs = `{"observable": "expectation", "evaluation_times": [0.0, 0.5, 1.0], "tag_suffix": "x",
  "operator": {"eigenstates": ["r", "g"], "n_qudits": 5, "operations": [
   [1.0, [[{"rg": 1.0, "gr": 1.0}, [0]]]], [1.0, [[{"rg": 1.0, "gr": 1.0}, [1]]]], [1.0, [[{"rg": 1.0, "gr": 1.0}, [2]]]],
   [1.0, [[{"rg": 1.0, "gr": 1.0}, [3]]]], [1.0, [[{"rg": 1.0, "gr": 1.0}, [4]]]]]}},
 {"observable": "expectation", "evaluation_times": [0.5, 1.0], "tag_suffix": "raise",
  "operator": {"eigenstates": ["r", "g"], "n_qudits": 5, "operations": [
   [{"real": 0.0, "imag": 2.0}, [[{"rg": 1.0}, [0]], [{"rr": 1.0}, [2]]]]]}},
 {"observable": "fidelity", "evaluation_times": [0.0, 1.0], "tag_suffix": "ref",
  "state": {"eigenstates": ["r", "g"], "amplitudes": {"grggg": 1.0, "rrrgg": {"real": 0.0, "imag": 1.0}}}},
 {"observable": "bitstrings"`

// TestInitialStateExpectationFidelity starts both engines from a product
// state and compares every observable, Expectation (real and complex) and
// Fidelity included, to 1e-4.
func TestInitialStateExpectationFidelity(t *testing.T) {
	seq := string(mpsseq.Quench(1, 5, 7, 400))
	cfg := strings.Replace(engineConfig(""), `"initial_state": null`, `"initial_state": `+productInit, 1)
	cfg = strings.Replace(cfg, `{"observable": "bitstrings"`, expectationObs, 1)
	got, want := runBoth(t, seq, cfg, 2000, 5)
	worst := map[string]float64{}
	for _, tag := range []string{"occupation", "correlation_matrix", "energy", "energy_second_moment", "expectation_x", "fidelity_ref"} {
		g, w := observedValues(t, got, tag), observedValues(t, want, tag)
		if len(g) != len(w) {
			t.Fatalf("%s: %d times, state vector %d", tag, len(g), len(w))
		}
		for ti := range g {
			gv, wv := floats(g[ti]), floats(w[ti])
			if len(gv) != len(wv) {
				t.Fatalf("%s[%d]: %v, state vector %v", tag, ti, g[ti], w[ti])
			}
			for i := range gv {
				worst[tag] = math.Max(worst[tag], math.Abs(gv[i]-wv[i]))
				if math.Abs(gv[i]-wv[i]) > 1e-4*math.Max(1, math.Abs(wv[i])) {
					t.Errorf("%s[%d][%d] = %.6f, state vector %.6f", tag, ti, i, gv[i], wv[i])
				}
			}
		}
	}
	t.Logf("largest differences: %v", worst)
	// At t = 0: ⟨Σσx⟩ = 1 (atom 0 is |+⟩, the others σx-free), fidelity |⟨ref|ψ₀⟩|² = ½·(½+½)² = ½.
	if x := floats(observedValues(t, got, "expectation_x")[0]); math.Abs(x[0]-1) > 1e-9 {
		t.Errorf("⟨Σσx⟩ at t=0 = %v, want 1", x[0])
	}
	if f := floats(observedValues(t, got, "fidelity_ref")[0]); math.Abs(f[0]-0.5) > 1e-9 {
		t.Errorf("fidelity at t=0 = %v, want 0.5", f[0])
	}
	g, w := observedValues(t, got, "expectation_raise"), observedValues(t, want, "expectation_raise")
	for ti := range g {
		gm, ok1 := g[ti].(map[string]any)
		wm, ok2 := w[ti].(map[string]any)
		if !ok1 || !ok2 {
			t.Fatalf("non-Hermitian expectation should be complex: %v, state vector %v", g[ti], w[ti])
		}
		for _, k := range []string{"real", "imag"} {
			if d := math.Abs(gm[k].(float64) - wm[k].(float64)); d > 1e-4 {
				t.Errorf("expectation_raise[%d].%s = %v, state vector %v", ti, k, gm[k], wm[k])
			}
		}
	}
}

// TestInitialStateRefusals: malformed and SPAM-incompatible initial
// states are refused at the field (entangled ones are accepted:
// initial_test.go).
func TestInitialStateRefusals(t *testing.T) {
	seq := string(mpsseq.Quench(1, 3, 7, 100))
	with := func(init, noise string) string {
		c := strings.Replace(engineConfig(""), `"initial_state": null`, `"initial_state": `+init, 1)
		if noise != "" {
			c = withNoise(c, noise, 0)
		}
		return c
	}
	for _, c := range []struct{ name, cfg, path, msg string }{
		{"wrong size", with(`{"eigenstates": ["r", "g"], "amplitudes": {"gggg": 1.0}}`, ""), "backend_configuration.initial_state.amplitudes", "register has 3 atoms"},
		{"zero norm", with(`{"eigenstates": ["r", "g"], "amplitudes": {"ggg": 0.0}}`, ""), "backend_configuration.initial_state.amplitudes", "norm"},
		{"with state preparation errors", with(`{"eigenstates": ["r", "g"], "amplitudes": {"rgg": 1.0}}`, spamModel("0.1", "0.0", "0.0")), "backend_configuration.noise_model.state_prep_error", "all-ground"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Engine{}.Run(context.Background(), jobs.Task{Sequence: seq, Runs: 10, DeviceType: "EMU_MPS", BackendConfiguration: c.cfg}, nil)
			var ie *jobs.InputError
			if !errors.As(err, &ie) || ie.Path != c.path || !strings.Contains(ie.Msg, c.msg) {
				t.Fatalf("error %v, want an input error at %s mentioning %q", err, c.path, c.msg)
			}
		})
	}
	// An all-ground initial state goes with state preparation errors.
	if _, err := (Engine{}).Run(context.Background(), jobs.Task{Sequence: seq, Runs: 10, DeviceType: "EMU_MPS",
		BackendConfiguration: with(`{"eigenstates": ["r", "g"], "amplitudes": {"ggg": 1.0}}`, spamModel("0.1", "0.0", "0.0"))}, nil); err != nil {
		t.Errorf("all-ground initial state with state preparation errors: %v", err)
	}
}

// TestAbsentAtomsStayGround: atoms lost at preparation stay in |g⟩, and
// the others evolve as the state vector of the register without them. A
// lost atom inside the chain once stayed in the MPS as a site of bond
// dimension 1, which kept two-site TDVP from entangling its neighbours
// through their (next-nearest) interaction: occupations were off by 2e-3;
// before that, its rounding-noise columns stopped the SVD converging.
func TestAbsentAtomsStayGround(t *testing.T) {
	atoms := mpsseq.Rectangle(1, 5, 7)
	prog := compile(t, mpsseq.Quench(1, 5, 7, 600))
	for _, absent := range [][]bool{{false, false, false, true, false}, {false, true, false, true, false}, {true, false, false, false, false}} {
		st, _, err := Run(context.Background(), prog, Config{Absent: absent}, nil)
		if err != nil {
			t.Fatalf("absent %v: %v", absent, err)
		}
		var present [][2]float64
		var idx []int
		for a, gone := range absent {
			if !gone {
				present = append(present, atoms[a])
				idx = append(idx, a)
			}
		}
		seq := mpsseq.Sequence(present, mpsseq.Pulse(mpsseq.Constant(600, 2*math.Pi*1.5), mpsseq.Constant(600, 0)))
		ref := observables(exact(t, seq), len(present))
		occ := st.Occupation()
		for k, a := range idx {
			if d := math.Abs(occ[a] - ref[k][k]); d > 1e-4 {
				t.Errorf("absent %v: occupation[%d] = %.5f, state vector without the lost atoms %.5f", absent, a, occ[a], ref[k][k])
			}
		}
		for a, gone := range absent {
			if gone && occ[a] != 0 {
				t.Errorf("absent %v: lost atom %d has occupation %g", absent, a, occ[a])
			}
		}
	}
}

// TestPreferDeviceNoiseModel: a sequence on Fresnel takes Fresnel's
// default SPAM model (p_false_pos 0.025) when preferred; on MockDevice,
// which has none, the configuration's (noiseless) model applies.
func TestPreferDeviceNoiseModel(t *testing.T) {
	idle := string(mpsseq.Sequence(mpsseq.Rectangle(1, 3, 10), mpsseq.Pulse(mpsseq.Constant(100, 0), mpsseq.Constant(100, 0))))
	prefer := strings.Replace(engineConfig(""), `"prefer_device_noise_model": false`, `"prefer_device_noise_model": true`, 1)
	const runs = 40_000
	for _, c := range []struct {
		device string
		want   float64
	}{{"Fresnel", 0.025}, {"MockDevice", 0}} {
		seq := strings.Replace(idle, `"MockDevice"`, `"`+c.device+`"`, 1)
		res, err := Engine{}.Run(context.Background(), jobs.Task{Sequence: seq, Runs: runs, Seed: 8, DeviceType: "EMU_MPS", BackendConfiguration: prefer}, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.device, err)
		}
		ones := 0
		for _, s := range res.Raw {
			ones += strings.Count(s, "1")
		}
		f := float64(ones) / (3 * runs)
		if sd := math.Sqrt(0.025 / (3 * runs)); math.Abs(f-c.want) > 5*sd {
			t.Errorf("%s: false positives %.4f, want %.3f", c.device, f, c.want)
		}
	}
}
