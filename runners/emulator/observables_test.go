package emulator

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tweezer-dev/tweezer/internal/emulationconfig"
	"github.com/tweezer-dev/tweezer/runners/engine"
)

// observedConfig asks for every observable at 0.25, 0.5 and 1 of the sequence.
const observedConfig = `{"observables": [
 {"observable": "bitstrings", "evaluation_times": [0.5, 1.0], "num_shots": 300, "one_state": null, "tag_suffix": null, "uuid": "00000000-0000-4000-8000-000000000001"},
 {"observable": "occupation", "evaluation_times": null, "one_state": null, "tag_suffix": null, "uuid": "00000000-0000-4000-8000-000000000002"},
 {"observable": "correlation_matrix", "evaluation_times": null, "one_state": "r", "tag_suffix": null},
 {"observable": "energy", "evaluation_times": null, "tag_suffix": null},
 {"observable": "energy_second_moment", "evaluation_times": null, "tag_suffix": null},
 {"observable": "energy_variance", "evaluation_times": null, "tag_suffix": null},
 {"observable": "expectation", "evaluation_times": null, "tag_suffix": "n0", "operator": {"eigenstates": ["r", "g"], "n_qudits": 1, "operations": [[1.0, [[{"rr": 1.0}, [0]]]]]}},
 {"observable": "fidelity", "evaluation_times": null, "tag_suffix": null, "state": {"eigenstates": ["r", "g"], "amplitudes": {"g": 1.0}}}],
 "default_evaluation_times": [0.25, 0.5, 1.0], "initial_state": null, "with_modulation": false, "interaction_matrix": null,
 "prefer_device_noise_model": false, "noise_model": {"noise_types": [], "runs": null, "samples_per_run": null, "state_prep_error": 0.0, "p_false_pos": 0.0, "p_false_neg": 0.0, "temperature": 0.0, "laser_waist": null, "amp_sigma": 0.0, "relaxation_rate": 0.0, "dephasing_rate": 0.0, "hyperfine_dephasing_rate": 0.0, "depolarizing_rate": 0.0, "eff_noise": []}, "default_num_shots": 1000}`

func rabiOne(dur int) string {
	return string(build("MockDevice", [][2]float64{{0, 0}}, nil, pulseOp(constWF(dur, 2*math.Pi), constWF(dur, 0), 0)))
}

func runTask(t *testing.T, seq, cfg string, runs int) *engine.Result {
	t.Helper()
	return runTaskConfig(t, seq, cfg, nil, runs)
}

// runTaskConfig is runTask with a batch configuration.
func runTaskConfig(t *testing.T, seq, cfg string, config json.RawMessage, runs int) *engine.Result {
	t.Helper()
	res, err := Engine{}.Run(context.Background(), engine.Task{Sequence: seq, Runs: runs, Seed: 7, DeviceType: "EMU_FREE", BackendConfiguration: cfg, Configuration: config}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func values(t *testing.T, res *engine.Result, tag string) []any {
	t.Helper()
	for _, o := range res.Observables {
		if o.Tag == tag {
			out := make([]any, len(o.Values))
			for i, v := range o.Values {
				if err := json.Unmarshal(v, &out[i]); err != nil {
					t.Fatal(err)
				}
			}
			return out
		}
	}
	t.Fatalf("no observable %q in %+v", tag, res.Observables)
	return nil
}

// A resonant π-per-500 ns drive on one atom: n(t) = sin²(Ωt/2), ⟨H⟩ = 0
// (H = Ω/2·σx and the state stays in the y–z plane), ⟨H²⟩ = (Ω/2)².
func TestObservablesOfARabiOscillation(t *testing.T) {
	res := runTask(t, rabiOne(1000), observedConfig, 200)
	want := []float64{0.5, 1, 0}
	occ := values(t, res, "occupation")
	ex := values(t, res, "expectation_n0")
	fid := values(t, res, "fidelity")
	for i, w := range want {
		if got := occ[i].([]any)[0].(float64); math.Abs(got-w) > 1e-3 {
			t.Errorf("occupation at %d: %v, want %v", i, got, w)
		}
		if got := ex[i].(float64); math.Abs(got-w) > 1e-3 {
			t.Errorf("⟨n0⟩ at %d: %v, want %v", i, got, w)
		}
		if got := fid[i].(float64); math.Abs(got-(1-w)) > 1e-3 {
			t.Errorf("fidelity to g at %d: %v, want %v", i, got, 1-w)
		}
		if got := values(t, res, "correlation_matrix")[i].([]any)[0].([]any)[0].(float64); math.Abs(got-w) > 1e-3 {
			t.Errorf("⟨n0n0⟩ at %d: %v, want %v", i, got, w)
		}
	}
	half := math.Pi // Ω/2
	for i := range want {
		e := values(t, res, "energy")[i].(float64)
		e2 := values(t, res, "energy_second_moment")[i].(float64)
		v := values(t, res, "energy_variance")[i].(float64)
		if i < 2 && (math.Abs(e) > 1e-3 || math.Abs(e2-half*half) > 1e-2 || math.Abs(v-half*half) > 1e-2) {
			t.Errorf("energy at %d: E=%v E²=%v var=%v, want 0, %v, %v", i, e, e2, v, half*half, half*half)
		}
	}
	bs := values(t, res, "bitstrings")
	if len(bs) != 2 {
		t.Fatalf("bitstrings at %d times", len(bs))
	}
	if mid := bs[0].(map[string]any); mid["1"].(float64) != 300 {
		t.Errorf("at t=0.5 the atom is excited: %v", mid)
	}
	if total := res.Counter["0"] + res.Counter["1"]; total != 200 || res.Counter["0"] < 190 {
		t.Errorf("the final counter stays the job's %d runs: %v", 200, res.Counter)
	}
	if res.TotalDuration != 1000 || len(res.AtomOrder) != 1 || res.AtomOrder[0] != "q0" {
		t.Errorf("atom order %v, duration %d", res.AtomOrder, res.TotalDuration)
	}
	doc, err := res.PulserResults()
	if err != nil {
		t.Fatal(err)
	}
	if err := emulationconfig.ValidateResults(doc); err != nil {
		t.Fatalf("serialised results do not validate: %v\n%s", err, doc)
	}
	full, err := res.FullResult()
	if err != nil {
		t.Fatal(err)
	}
	var stored struct {
		Counter    map[string]int64 `json:"counter"`
		Serialised string           `json:"serialised_results"`
	}
	if err := json.Unmarshal(full, &stored); err != nil || stored.Serialised != string(doc) || stored.Counter["0"] != res.Counter["0"] {
		t.Fatalf("full result %s (%v)", full, err)
	}
	if !strings.Contains(stored.Serialised, `"00000000-0000-4000-8000-000000000002"`) {
		t.Errorf("the configuration's uuids are kept: %s", stored.Serialised)
	}
}

func TestFullEvaluationTimesAndInitialState(t *testing.T) {
	cfg := strings.Replace(observedConfig, `"default_evaluation_times": [0.25, 0.5, 1.0], "initial_state": null`,
		`"default_evaluation_times": "Full", "initial_state": {"eigenstates": ["r", "g"], "amplitudes": {"r": 1.0}}`, 1)
	res := runTask(t, rabiOne(100), cfg, 10)
	occ := values(t, res, "occupation")
	if len(occ) != 101 {
		t.Fatalf("Full: %d times, want one per ns and the start (101)", len(occ))
	}
	if got := occ[0].([]any)[0].(float64); math.Abs(got-1) > 1e-9 {
		t.Errorf("starting in r: occupation %v at t=0", got)
	}
}

func TestInteractionMatrixReplacesVanDerWaals(t *testing.T) {
	// Two atoms 1 µm apart are fully blockaded by C6/r⁶; an interaction
	// matrix of zeros makes them independent again.
	seq := string(build("MockDevice", [][2]float64{{0, 0}, {1, 0}}, nil, pulseOp(constWF(500, 2*math.Pi), constWF(500, 0), 0)))
	cfg := strings.Replace(observedConfig, `"interaction_matrix": null`, `"interaction_matrix": [[0, 0], [0, 0]]`, 1)
	cfg = strings.Replace(cfg, `"n_qudits": 1`, `"n_qudits": 2`, 1)
	cfg = strings.Replace(cfg, `{"g": 1.0}`, `{"gg": 1.0}`, 1)
	res := runTask(t, seq, cfg, 10)
	if c := values(t, res, "correlation_matrix")[2].([]any)[0].([]any)[1].(float64); math.Abs(c-1) > 1e-3 {
		t.Errorf("without interactions both atoms are excited at π: ⟨n0n1⟩ = %v", c)
	}
}

func TestRunRefusesWhatDoesNotFitTheRegister(t *testing.T) {
	cfg := strings.Replace(observedConfig, `"n_qudits": 1`, `"n_qudits": 3`, 1)
	_, err := Engine{}.Run(context.Background(), engine.Task{Sequence: rabiOne(100), Runs: 1, DeviceType: "EMU_FREE", BackendConfiguration: cfg}, nil)
	inputError(t, err, "backend_configuration.observables[6].operator.n_qudits", "is 3 but the register has 1 atoms")
	cfg = strings.Replace(observedConfig, `"with_modulation": false`, `"with_modulation": true`, 1)
	_, err = Engine{}.Run(context.Background(), engine.Task{Sequence: rabiOne(100), Runs: 1, DeviceType: "EMU_FREE", BackendConfiguration: cfg}, nil)
	inputError(t, err, "backend_configuration.with_modulation", "hardware modulation is not emulated")
}

// With an EmulationConfig, noise is what the config says (Pulser's
// semantics): EMU_FRESNEL's legacy SPAM applies only when asked for through
// prefer_device_noise_model.
func TestConfiguredRunsTakeTheirNoiseFromTheConfig(t *testing.T) {
	cfg := strings.Replace(observedConfig, `"default_evaluation_times": [0.25, 0.5, 1.0]`, `"default_evaluation_times": [1.0]`, 1)
	seq := string(build("AnalogDevice", [][2]float64{{0, 0}}, nil, pulseOp(constWF(500, 0.0), constWF(500, 0), 0)))
	run := func(cfg string) *engine.Result {
		res, err := Engine{DeviceType: "EMU_FRESNEL"}.Run(context.Background(), engine.Task{Sequence: seq, Runs: 2000, Seed: 3, BackendConfiguration: cfg}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := run(cfg); res.Counter["1"] != 0 {
		t.Errorf("no noise configured, yet %d false positives", res.Counter["1"])
	}
	if res := run(strings.Replace(cfg, `"prefer_device_noise_model": false`, `"prefer_device_noise_model": true`, 1)); res.Counter["1"] < 20 {
		t.Errorf("Fresnel's SPAM (2.5 %% false positives) preferred, yet only %d of 2000", res.Counter["1"])
	}
}

// The one-pass moments and energy equal the direct sums over basis states
// (and ⟨ψ|Hψ⟩) on random states, for odd and even registers.
func TestMomentsMatchDirectSums(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 1; n <= 7; n++ {
		var pos [][2]float64
		for i := 0; i < n; i++ {
			pos = append(pos, [2]float64{float64(5 * i), float64(i % 2)})
		}
		prog, _, err := compileRequest(Request{Sequence: build("MockDevice", pos, nil, pulseOp(constWF(10, 3), constWF(10, -1.5), 0.7))})
		if err != nil {
			t.Fatal(err)
		}
		o := &observer{prog: prog, h: newHamiltonian(prog, nil)}
		psi := make([]complex128, 1<<n)
		for s := range psi {
			psi[s] = complex(rng.NormFloat64(), rng.NormFloat64())
		}
		m := stateMoments(psi, n, true, o.h.inter)
		occ, corr := m.occupation(n), m.correlation(n)
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				want := 0.0
				for s, a := range psi {
					if s>>bitOf(n, i)&1 == 1 && s>>bitOf(n, j)&1 == 1 {
						want += real(a)*real(a) + imag(a)*imag(a)
					}
				}
				if math.Abs(corr[i*n+j]-want) > 1e-9*(1+want) {
					t.Errorf("n=%d ⟨n%d n%d⟩ = %v, want %v", n, i, j, corr[i*n+j], want)
				}
				if i == j && math.Abs(occ[i]-want) > 1e-9*(1+want) {
					t.Errorf("n=%d ⟨n%d⟩ = %v, want %v", n, i, occ[i], want)
				}
			}
		}
		want := real(dot(psi, o.applyH(psi, 5)))
		if got := o.energy(psi, m, 5); math.Abs(got-want) > 1e-9*(1+math.Abs(want)) {
			t.Errorf("n=%d energy %v, ⟨ψ|Hψ⟩ %v", n, got, want)
		}
	}
}
