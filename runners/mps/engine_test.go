package mps

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/tweezer-dev/tweezer/runners/emulator"
	jobs "github.com/tweezer-dev/tweezer/runners/engine"
	"github.com/tweezer-dev/tweezer/runners/mps/mpsseq"
)

// engineConfig asks for the observables the MPS engine computes, at
// mid-sequence and at the end, plus extra MPS options.
func engineConfig(extra string) string {
	return `{"observables": [
 {"observable": "bitstrings", "evaluation_times": [1.0], "num_shots": null, "one_state": null, "tag_suffix": null, "uuid": "00000000-0000-4000-8000-000000000001"},
 {"observable": "occupation", "evaluation_times": [0.5, 1.0], "one_state": null, "tag_suffix": null, "uuid": "00000000-0000-4000-8000-000000000002"},
 {"observable": "correlation_matrix", "evaluation_times": [1.0], "one_state": null, "tag_suffix": null},
 {"observable": "energy", "evaluation_times": [0.5, 1.0], "tag_suffix": null},
 {"observable": "energy_second_moment", "evaluation_times": [1.0], "tag_suffix": null},
 {"observable": "energy_variance", "evaluation_times": [1.0], "tag_suffix": null}],
 "default_evaluation_times": [1.0], "initial_state": null, "with_modulation": false, "interaction_matrix": null,
 "prefer_device_noise_model": false, "noise_model": ` + noiseless + extra + `}`
}

const noiseless = `{"noise_types": [], "runs": null, "samples_per_run": null, "state_prep_error": 0.0, "p_false_pos": 0.0, "p_false_neg": 0.0, "temperature": 0.0, "laser_waist": null, "amp_sigma": 0.0, "relaxation_rate": 0.0, "dephasing_rate": 0.0, "hyperfine_dephasing_rate": 0.0, "depolarizing_rate": 0.0, "eff_noise": []}`

// observedValues decodes an observable's values by tag.
func observedValues(t *testing.T, res *jobs.Result, tag string) []any {
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
	t.Fatalf("no observable %q in the result", tag)
	return nil
}

func floats(v any) []float64 {
	var out []float64
	switch x := v.(type) {
	case float64:
		return []float64{x}
	case []any:
		for _, e := range x {
			out = append(out, floats(e)...)
		}
	}
	return out
}

func TestEngineMatchesStateVectorEngine(t *testing.T) {
	seq := string(mpsseq.Quench(1, 5, 7, 600))
	cfg := engineConfig("")
	const runs = 400_000
	got, err := Engine{}.Run(context.Background(), jobs.Task{Sequence: seq, Runs: runs, Seed: 11, DeviceType: "EMU_MPS", BackendConfiguration: cfg}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := emulator.Engine{}.Run(context.Background(), jobs.Task{Sequence: seq, Runs: runs, Seed: 12, DeviceType: "EMU_FREE", BackendConfiguration: cfg}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := 0.0
	for k, c := range got.Counter {
		d += math.Abs(float64(c)-float64(want.Counter[k])) / runs
	}
	for k, c := range want.Counter {
		if _, ok := got.Counter[k]; !ok {
			d += float64(c) / runs
		}
	}
	d /= 2
	t.Logf("TVD of the counts (%d shots each) = %.4f", runs, d)
	if d > 0.01 {
		t.Errorf("TVD between the MPS and state-vector engines' counts = %.4f, want ≤ 0.01", d)
	}
	if len(got.Raw) != runs || len(got.AtomOrder) != 5 || got.TotalDuration != 600 {
		t.Errorf("raw %d shots, atom order %v, duration %d", len(got.Raw), got.AtomOrder, got.TotalDuration)
	}
	worst := map[string]float64{}
	defer func() { t.Logf("largest difference per observable: %v", worst) }()
	for _, tag := range []string{"occupation", "correlation_matrix", "energy", "energy_second_moment", "energy_variance"} {
		g, w := observedValues(t, got, tag), observedValues(t, want, tag)
		if len(g) != len(w) {
			t.Fatalf("%s: %d times, the state-vector engine %d", tag, len(g), len(w))
		}
		for ti := range g {
			gv, wv := floats(g[ti]), floats(w[ti])
			if len(gv) != len(wv) {
				t.Fatalf("%s[%d]: %d values, want %d", tag, ti, len(gv), len(wv))
			}
			for i := range gv {
				tol := 0.01
				if strings.HasPrefix(tag, "energy") {
					tol = 0.01 * math.Max(1, math.Abs(wv[i]))
				}
				worst[tag] = math.Max(worst[tag], math.Abs(gv[i]-wv[i]))
				if math.Abs(gv[i]-wv[i]) > tol {
					t.Errorf("%s[%d][%d] = %.5f, state vector %.5f", tag, ti, i, gv[i], wv[i])
				}
			}
		}
	}
	if b := observedValues(t, got, "bitstrings"); len(b) != 1 || len(b[0].(map[string]any)) != len(got.Counter) {
		t.Errorf("bitstrings at t=1 should be the job's counter: %v", b)
	}
}

func TestEngineRunsBeyondTheStateVector(t *testing.T) {
	seq := string(mpsseq.Quench(1, 30, 7, 200))
	cfg := engineConfig(`, "max_bond_dim": 16, "num_gpus_to_use": 1, "interaction_cutoff": 0.01`)
	if _, err := (emulator.Engine{}).Run(context.Background(), jobs.Task{Sequence: seq, Runs: 1, DeviceType: "EMU_FREE"}, nil); err == nil {
		t.Fatal("the state-vector engine should refuse 30 atoms")
	}
	var last int
	res, err := Engine{Log: func(string, ...any) {}}.Run(context.Background(), jobs.Task{Sequence: seq, Runs: 200, Seed: 5, DeviceType: "EMU_MPS", BackendConfiguration: cfg}, func(p int) { last = p })
	if err != nil {
		t.Fatal(err)
	}
	if last != 100 {
		t.Errorf("last progress %d, want 100", last)
	}
	if len(res.Raw) != 200 || len(res.Raw[0]) != 30 || len(res.AtomOrder) != 30 {
		t.Fatalf("raw %d shots of %d bits, atom order %d", len(res.Raw), len(res.Raw[0]), len(res.AtomOrder))
	}
	occ := observedValues(t, res, "occupation")
	if len(occ) != 2 {
		t.Fatalf("occupation at %d times, want 2", len(occ))
	}
	o := floats(occ[1])
	if len(o) != 30 {
		t.Fatalf("occupation has %d values", len(o))
	}
	for i := range o {
		if o[i] < -1e-9 || o[i] > 1+1e-9 || math.Abs(o[i]-o[29-i]) > 1e-3 {
			t.Errorf("occupation[%d] = %v, mirror %v: the chain is symmetric", i, o[i], o[29-i])
		}
	}
	if o[0] < 0.05 {
		t.Errorf("the quench should excite the end atom: %v", o[0])
	}
	if v := floats(observedValues(t, res, "energy_variance")[0]); v[0] < -1e-6 {
		t.Errorf("energy variance %v < 0", v[0])
	}
	full, err := res.FullResult()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Serialised string `json:"serialised_results"`
	}
	if err := json.Unmarshal(full, &doc); err != nil || !strings.Contains(doc.Serialised, `"occupation"`) || !strings.Contains(doc.Serialised, `"atom_order"`) {
		t.Errorf("serialised_results lacks the observables: %v %.200s", err, doc.Serialised)
	}
}

func TestEngineRefusalsNameTheField(t *testing.T) {
	seq := string(mpsseq.Quench(1, 3, 7, 100))
	for _, c := range []struct{ name, cfg, path string }{
		{"noise", strings.Replace(strings.Replace(engineConfig(""), `"noise_types": []`, `"noise_types": ["dmm_sigma"]`, 1), `"temperature": 0.0`, `"dmm_sigma": 0.1, "temperature": 0.0`, 1), "backend_configuration.noise_model.noise_types[0]"},
		{"fidelity", strings.Replace(engineConfig(""), `{"observable": "bitstrings"`, `{"observable": "fidelity", "evaluation_times": [1.0], "tag_suffix": null, "state": {"eigenstates": ["r", "g"], "amplitudes": {"gggg": 1.0}}},
 {"observable": "bitstrings"`, 1), "backend_configuration.observables[0].state.amplitudes"},
		{"expectation", strings.Replace(engineConfig(""), `{"observable": "bitstrings"`, `{"observable": "expectation", "evaluation_times": [1.0], "tag_suffix": null, "operator": {"eigenstates": ["r", "g"], "n_qudits": 2, "operations": [[1.0, [[{"rr": 1.0}, [0]]]]]}},
 {"observable": "bitstrings"`, 1), "backend_configuration.observables[0].operator.n_qudits"},
		{"precision", engineConfig(`, "precision": -1`), "backend_configuration.precision"},
		{"max bond", engineConfig(`, "max_bond_dim": "big"`), "backend_configuration.max_bond_dim"},
		{"unknown", engineConfig(`, "bond": 3`), "backend_configuration.bond"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Engine{}.Run(context.Background(), jobs.Task{Sequence: seq, Runs: 10, DeviceType: "EMU_MPS", BackendConfiguration: c.cfg}, nil)
			var ie *jobs.InputError
			if !errors.As(err, &ie) || ie.Path != c.path {
				t.Fatalf("error %v, want an input error at %s", err, c.path)
			}
		})
	}
	_, err := Engine{}.Run(context.Background(), jobs.Task{Sequence: seq, Runs: 0, DeviceType: "EMU_MPS"}, nil)
	var ie *jobs.InputError
	if !errors.As(err, &ie) || ie.Path != "runs" {
		t.Errorf("runs 0: %v", err)
	}
}
