package mps

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"

	jobs "github.com/tweezer-dev/tweezer/runners/engine"
	"github.com/tweezer-dev/tweezer/runners/mps/mpsseq"
)

// noiseJSON is the noiseless model with the given noise types and
// parameters (JSON values) set.
func noiseJSON(t *testing.T, types []string, params map[string]string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(noiseless), &m); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(types)
	if err != nil {
		t.Fatal(err)
	}
	m["noise_types"] = raw
	for k, v := range params {
		m[k] = json.RawMessage(v)
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestShotToShotNoiseMatchesStateVectorEngine runs doppler, amplitude,
// detuning and register noise (and doppler with SPAM) on both engines
// with the same seed: both draw each trajectory's parameters with
// emulator.Perturber from the same stream, so they evolve the same
// Hamiltonians and the trajectory means of occupation, correlation and
// energy (the noiseless Hamiltonian's, on both) must agree to 1e-4
// (relative for energies). The high-frequency detuning varies every ns:
// there the state vector's propagator spends its error budget (second
// Magnus term, 5e-3 in the state over the sequence) and the engines agree
// to 1.2e-3 in energy, 1e-4 in correlation (the MPS gives the same values
// at dt 1 and 10 ns), so that case is held to 5e-3; so is doppler with
// dephasing, whose jumps land at the end of the step (MPS) or block
// (state vector) in which the norm crossed its threshold (measured:
// 5.3e-4). The noise must also be seen: the occupations move away from
// the noiseless run's.
func TestShotToShotNoiseMatchesStateVectorEngine(t *testing.T) {
	seq := string(mpsseq.Quench(1, 5, 7, 600))
	const nTraj, runs = 6, 600
	clean, _ := runBoth(t, seq, engineConfig(""), 10, 21)
	occ0 := floats(observedValues(t, clean, "occupation")[1])
	for _, c := range []struct {
		name   string
		types  []string
		params map[string]string
		tol    float64
	}{
		{"doppler", []string{"doppler"}, map[string]string{"temperature": "50.0"}, 1e-4},
		{"amplitude", []string{"amplitude"}, map[string]string{"amp_sigma": "0.1", "laser_waist": "20.0"}, 1e-4},
		{"laser waist alone (trajectories grouped)", []string{"SPAM", "amplitude"}, map[string]string{"laser_waist": "20.0", "state_prep_error": "0.1"}, 1e-4},
		{"detuning", []string{"detuning"}, map[string]string{"detuning_sigma": "1.5"}, 1e-4},
		{"detuning, high frequency", []string{"detuning"}, map[string]string{"detuning_sigma": "1.5", "detuning_hf": "[[0.5, 3.0], [0.3, 8.0], [0.1, 20.0]]"}, 5e-3},
		{"register", []string{"register"}, map[string]string{"temperature": "50.0", "trap_waist": "1.0", "trap_depth": "150.0"}, 1e-4},
		{"doppler and SPAM", []string{"SPAM", "doppler"}, map[string]string{"temperature": "50.0", "state_prep_error": "0.1", "p_false_pos": "0.02", "p_false_neg": "0.05"}, 1e-4},
		{"doppler and dephasing", []string{"doppler", "dephasing"}, map[string]string{"temperature": "50.0", "dephasing_rate": "0.5"}, 5e-3},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := withNoise(engineConfig(""), noiseJSON(t, c.types, c.params), nTraj)
			got, want := runBoth(t, seq, cfg, runs, 21)
			worst := 0.0
			for _, tag := range []string{"occupation", "correlation_matrix", "energy", "energy_second_moment"} {
				g, w := observedValues(t, got, tag), observedValues(t, want, tag)
				for ti := range g {
					gv, wv := floats(g[ti]), floats(w[ti])
					for i := range gv {
						d := math.Abs(gv[i]-wv[i]) / math.Max(1, math.Abs(wv[i]))
						worst = math.Max(worst, d)
						if d > c.tol {
							t.Errorf("%s[%d][%d] = %.6f, state vector %.6f", tag, ti, i, gv[i], wv[i])
						}
					}
				}
			}
			moved := 0.0
			for i, v := range floats(observedValues(t, got, "occupation")[1]) {
				moved = math.Max(moved, math.Abs(v-occ0[i]))
			}
			t.Logf("largest (relative) difference from the state vector %.1e; occupation moved by up to %.3f from the noiseless run", worst, moved)
			if moved < 1e-3 {
				t.Errorf("the noise changed no occupation by more than %.1e", moved)
			}
			if len(got.Raw) != runs {
				t.Errorf("%d shots, want %d", len(got.Raw), runs)
			}
		})
	}
}

// TestTrajectoriesReproducibleAcrossWorkers runs a noisy job (SPAM,
// doppler: one group per trajectory) on one worker and on two: the shots
// (in order) and every observable must be identical, since each
// trajectory draws from its own stream and the results are combined in
// trajectory order.
func TestTrajectoriesReproducibleAcrossWorkers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	seq := string(mpsseq.Quench(1, 5, 7, 300))
	nm := noiseJSON(t, []string{"SPAM", "doppler"}, map[string]string{"temperature": "50.0", "state_prep_error": "0.1", "p_false_pos": "0.02", "p_false_neg": "0.05"})
	task := jobs.Task{Sequence: seq, Runs: 500, Seed: 17, DeviceType: "EMU_MPS", BackendConfiguration: withNoise(engineConfig(""), nm, 7)}
	var logs [2]int
	var res [2]*jobs.Result
	for k, w := range []int{1, 2} {
		var err error
		res[k], err = Engine{Workers: w, Log: func(f string, a ...any) {
			if strings.HasPrefix(f, "mps: %d trajectory groups on %d workers") && a[1].(int) == w {
				logs[k]++
			}
		}}.Run(context.Background(), task, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	if logs != [2]int{1, 1} {
		t.Errorf("worker counts logged %v, want one run on 1 worker and one on 2", logs)
	}
	if !reflect.DeepEqual(res[0].Raw, res[1].Raw) {
		t.Error("the shots differ between 1 and 2 workers")
	}
	if len(res[0].Observables) != len(res[1].Observables) {
		t.Fatal("different observables")
	}
	for i, o := range res[0].Observables {
		p := res[1].Observables[i]
		for ti := range o.Values {
			if string(o.Values[ti]) != string(p.Values[ti]) {
				t.Errorf("%s[%d]: %s on 1 worker, %s on 2", o.Tag, ti, o.Values[ti], p.Values[ti])
			}
		}
	}
}

// TestTrajectoryWorkersFitTheBudget: concurrent trajectories are limited
// by the memory budget at one estimate each, never below one.
func TestTrajectoryWorkersFitTheBudget(t *testing.T) {
	for _, c := range []struct {
		cap, groups int
		est, limit  uint64
		want        int
		name        string
	}{
		{4, 10, 100, 1000, 4, "cores bound"},
		{4, 3, 100, 1000, 3, "groups bound"},
		{4, 10, 300, 1000, 3, "memory bound"},
		{4, 10, 600, 1000, 1, "one fits"},
		{4, 10, 2000, 1000, 1, "none fits: one, refused by Run"},
		{4, 10, 100, 0, 4, "unknown budget"},
	} {
		if got := trajectoryWorkers(c.cap, c.groups, c.est, c.limit); got != c.want {
			t.Errorf("%s: trajectoryWorkers(%d, %d, %d, %d) = %d, want %d", c.name, c.cap, c.groups, c.est, c.limit, got, c.want)
		}
	}
	if got := trajectoryWorkers(0, 100, 1, 1<<40); got != runtime.GOMAXPROCS(0) {
		t.Errorf("default cap: %d workers, want GOMAXPROCS %d", got, runtime.GOMAXPROCS(0))
	}
}

// TestUnsupportedNoiseIsRefused names the noise type and its place.
func TestUnsupportedNoiseIsRefused(t *testing.T) {
	seq := string(mpsseq.Quench(1, 3, 7, 100))
	for _, c := range []struct {
		typ    string
		types  []string
		params map[string]string
		index  int
	}{
		{"dmm_sigma", []string{"SPAM", "dmm_sigma"}, map[string]string{"state_prep_error": "0.01", "dmm_sigma": "0.1"}, 1},
		{"leakage", []string{"leakage", "eff_noise"}, map[string]string{"eff_noise": "[[0.1, [[0, 0, 1], [0, 0, 0], [0, 0, 0]]]]"}, 0},
	} {
		t.Run(c.typ, func(t *testing.T) {
			_, err := Engine{}.Run(context.Background(), jobs.Task{Sequence: seq, Runs: 10, DeviceType: "EMU_MPS",
				BackendConfiguration: withNoise(engineConfig(""), noiseJSON(t, c.types, c.params), 0)}, nil)
			var ie *jobs.InputError
			path := "backend_configuration.noise_model.noise_types[" + string(rune('0'+c.index)) + "]"
			if !errors.As(err, &ie) || ie.Path != path || !strings.Contains(ie.Msg, c.typ) {
				t.Fatalf("error %v, want an input error at %s naming %q", err, path, c.typ)
			}
		})
	}
}
