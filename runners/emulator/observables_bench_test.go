package emulator

import (
	"context"
	"strings"
	"testing"

	"github.com/tweezer-dev/tweezer/runners/engine"
)

// BenchmarkObservables compares, in one run, a job without configuration
// (today's path), a BitStrings-only EmulationConfig, occupation at 10
// evaluation times, and occupation, correlation and energy at 10 times, on
// the 12-atom adiabatic ring.
// Report the ratios of the three against "plain"; cpu-ms/op (process CPU
// time per job) is the figure to compare on a shared machine, where wall
// time mostly measures the neighbours.
func BenchmarkObservables(b *testing.B) {
	const noise = `"noise_model": {"noise_types": [], "runs": null, "samples_per_run": null, "state_prep_error": 0.0, "p_false_pos": 0.0, "p_false_neg": 0.0, "temperature": 0.0, "laser_waist": null, "amp_sigma": 0.0, "relaxation_rate": 0.0, "dephasing_rate": 0.0, "hyperfine_dephasing_rate": 0.0, "depolarizing_rate": 0.0, "eff_noise": []}`
	base := `{"default_evaluation_times": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0], "initial_state": null, "with_modulation": false, "interaction_matrix": null, "prefer_device_noise_model": false, ` + noise + `, "observables": [OBS]}`
	bits := `{"observable": "bitstrings", "evaluation_times": [1.0], "num_shots": null, "one_state": null, "tag_suffix": null}`
	many := bits + `, {"observable": "occupation", "evaluation_times": null, "one_state": null, "tag_suffix": null},
	 {"observable": "correlation_matrix", "evaluation_times": null, "one_state": null, "tag_suffix": null},
	 {"observable": "energy", "evaluation_times": null, "tag_suffix": null}`
	occ := `{"observable": "occupation", "evaluation_times": null, "one_state": null, "tag_suffix": null}`
	seq := string(ringSequence(12))
	for _, c := range []struct{ name, cfg string }{
		{"plain", ""},
		{"bitstrings", strings.Replace(base, "OBS", bits, 1)},
		{"occupation-10-times", strings.Replace(base, "OBS", occ, 1)},
		{"observables-10-times", strings.Replace(base, "OBS", many, 1)},
	} {
		b.Run(c.name, func(b *testing.B) {
			cpu0 := cpuSeconds()
			for i := 0; i < b.N; i++ {
				_, err := Engine{}.Run(context.Background(), engine.Task{Sequence: seq, Runs: 1000, Seed: 1, DeviceType: "EMU_FREE", BackendConfiguration: c.cfg}, nil)
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(1000*(cpuSeconds()-cpu0)/float64(b.N), "cpu-ms/op")
		})
	}
}
