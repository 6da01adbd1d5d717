package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/tweezer-dev/tweezer/internal/emulationconfig"
	"github.com/tweezer-dev/tweezer/runners/engine"
)

// stateConfig asks for the state at half-time and at the end, and the
// occupation at the same times.
const stateConfig = `{"observables": [
 {"observable": "state", "evaluation_times": [0.5, 1.0], "tag_suffix": null, "uuid": "00000000-0000-4000-8000-0000000000a1"},
 {"observable": "occupation", "evaluation_times": [0.5, 1.0], "one_state": null, "tag_suffix": null, "uuid": "00000000-0000-4000-8000-0000000000a2"}],
 "default_evaluation_times": [1.0], "initial_state": null, "with_modulation": false, "interaction_matrix": null,
 "prefer_device_noise_model": false, "noise_model": {"noise_types": [], "runs": null, "samples_per_run": null, "state_prep_error": 0.0, "p_false_pos": 0.0, "p_false_neg": 0.0, "temperature": 0.0, "laser_waist": null, "amp_sigma": 0.0, "relaxation_rate": 0.0, "dephasing_rate": 0.0, "hyperfine_dephasing_rate": 0.0, "depolarizing_rate": 0.0, "eff_noise": []}, "default_num_shots": 100}`

// TestStateResult checks StateResult's values (Pulser's state abstract
// repr: eigenstates and amplitudes by basis state, atom i as character i)
// against the occupation of the same run, and the serialised results
// against results-schema.json and the committed fixture, which
// hack/pulser-reference/check_results.py loads with Pulser 1.9's
// Results.from_abstract_repr.
func TestStateResult(t *testing.T) {
	seq := string(build("MockDevice", [][2]float64{{0, 0}, {6, 0}}, nil, pulseOp(constWF(600, 2*math.Pi), constWF(600, -1), 0)))
	res := runTask(t, seq, stateConfig, 100)
	occ := values(t, res, "occupation")
	for ti, v := range values(t, res, "state") {
		st := v.(map[string]any)
		if e := st["eigenstates"].([]any); len(e) != 2 || e[0] != "r" || e[1] != "g" {
			t.Fatalf("eigenstates %v", e)
		}
		norm, n := 0.0, []float64{0, 0}
		for k, a := range st["amplitudes"].(map[string]any) {
			c := a.(map[string]any)
			p := math.Pow(c["real"].(float64), 2) + math.Pow(c["imag"].(float64), 2)
			norm += p
			for i := range n {
				if k[i] == 'r' {
					n[i] += p
				}
			}
		}
		if math.Abs(norm-1) > 1e-9 {
			t.Errorf("state at %d has norm %v", ti, norm)
		}
		for i := range n {
			if want := occ[ti].([]any)[i].(float64); math.Abs(n[i]-want) > 1e-9 {
				t.Errorf("state at %d: ⟨n%d⟩ = %v, occupation says %v", ti, i, n[i], want)
			}
		}
	}
	doc, err := res.PulserResults()
	if err != nil {
		t.Fatal(err)
	}
	if err := emulationconfig.ValidateResults(doc); err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	const fixture = "testdata/state_results.json"
	if *update {
		if err := os.WriteFile(fixture, append(doc, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	_ = json.Unmarshal(doc, &a)
	_ = json.Unmarshal(want, &b)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Errorf("state results changed; if on purpose, run with -update and hack/pulser-reference/check_results.py\n got %s\nwant %s", ja, jb)
	}
}

// A StateResult is refused, naming the observable, above the amplitude
// cap and when noise makes several trajectories of different states.
func TestStateResultRefusals(t *testing.T) {
	run := func(seq, cfg, device string) error {
		_, err := Engine{}.Run(context.Background(), engine.Task{Sequence: seq, Runs: 10, Seed: 5, DeviceType: device, BackendConfiguration: cfg}, nil)
		return err
	}
	var pos [][2]float64
	for i := 0; i < 12; i++ {
		pos = append(pos, [2]float64{float64(6 * i), 0})
	}
	wide := string(build("MockDevice", pos, nil, pulseOp(constWF(100, 1), constWF(100, 0), 0)))
	// 2 × 2^12 amplitudes exceed the cap of 2^12 (one 12-atom state fits).
	inputError(t, run(wide, stateConfig, "EMU_FREE"), "backend_configuration.observables[0]", "8192 in all is more than the cap of 4096")

	// Fresnel's state-preparation errors over 400 trajectories of two
	// atoms give several distinct masks.
	pair := string(build("AnalogDevice", [][2]float64{{0, 0}, {8, 0}}, nil, pulseOp(constWF(200, 1), constWF(200, 0), 0)))
	noisy := strings.Replace(stateConfig, `"prefer_device_noise_model": false`, `"prefer_device_noise_model": true, "n_trajectories": 400`, 1)
	inputError(t, run(pair, noisy, "EMU_FRESNEL"), "backend_configuration.observables[0]", "400 noise trajectories make different states")
	if err := run(pair, stateConfig, "EMU_FRESNEL"); err != nil {
		t.Errorf("without preferring the device's noise the state is pure: %v", err)
	}
}
