package mps

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/tweezer-dev/tweezer/internal/emulationconfig"
	"github.com/tweezer-dev/tweezer/runners/emulator"
	jobs "github.com/tweezer-dev/tweezer/runners/engine"
	"github.com/tweezer-dev/tweezer/runners/sequence"
	"github.com/tweezer-dev/tweezer/runners/shots"
)

// Noise on the MPS engine follows the state-vector engine's trajectories
// (runners/emulator/noisy.go), with the same random draws (runners/shots):
// SPAM makes each trajectory lose every atom with probability
// state_prep_error at preparation (a lost atom is |g⟩, not driven, not
// interacting) and misreads every measured bit with p_false_pos (0→1) or
// p_false_neg (1→0); dephasing, relaxation, depolarizing and eff_noise are
// quantum jumps (jumps.go) with Pulser's collapse operators. Without
// jumps, trajectories that lose the same atoms are one evolution (a
// group), weighted by how many they are; with jumps each trajectory is its
// own. Noise types that redraw the Hamiltonian per shot (doppler,
// amplitude, detuning, register, DMM) or leave the basis (leakage) are
// refused, naming the type.

// noiseModel returns the noise model a task runs with (nil: none): the
// device's default one when preferred and the sequence's device has one,
// else the EmulationConfig's. Noise types other than SPAM and the Lindblad
// ones are refused.
func noiseModel(em *emulationconfig.Config, prog *sequence.Program) (*emulator.NoiseModel, error) {
	raw, field := em.NoiseModel, "backend_configuration.noise_model"
	if em.PreferDeviceNoiseModel && len(prog.Device.DefaultNoiseModel) > 0 {
		raw, field = prog.Device.DefaultNoiseModel, "backend_configuration.prefer_device_noise_model"
	}
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	nm := &emulator.NoiseModel{}
	if err := json.Unmarshal(raw, nm); err != nil {
		return nil, &jobs.InputError{Path: field, Msg: err.Error()}
	}
	if len(nm.NoiseTypes) == 0 {
		return nil, nil
	}
	if err := nm.Validate(); err != nil {
		return nil, &jobs.InputError{Path: field, Msg: err.Error()}
	}
	for i, t := range nm.NoiseTypes {
		switch t {
		case emulator.NoiseSPAM, emulator.NoiseDephasing, emulator.NoiseRelaxation, emulator.NoiseDepolarizing, emulator.NoiseEff:
			continue
		}
		path := field
		if field == "backend_configuration.noise_model" {
			path = fmt.Sprintf("%s.noise_types[%d]", field, i)
		}
		return nil, &jobs.InputError{Path: path, Msg: fmt.Sprintf("%q noise is not emulated by the MPS engine: EMU_MPS and EMU_TN emulate \"SPAM\", \"dephasing\", \"relaxation\", \"depolarizing\" and \"eff_noise\" (use EMU_SV or EMU_FREE for %q)", t, t)}
	}
	return nm, nil
}

// trajectories is the number of noise trajectories: n_trajectories, else
// the noise model's runs, else 1.
func trajectories(em *emulationconfig.Config, nm *emulator.NoiseModel) (int, error) {
	n := em.NTrajectories
	if n == 0 && nm != nil && nm.Runs != nil {
		n = int(*nm.Runs)
	}
	if n == 0 {
		n = 1
	}
	if n < 0 || n > MaxRuns {
		return 0, &jobs.InputError{Path: "backend_configuration.n_trajectories", Msg: fmt.Sprintf("must be between 1 and %d, got %d", MaxRuns, n)}
	}
	return n, nil
}

// group is the trajectories that lost the same atoms, run as one evolution.
type group struct {
	lost   []bool // register order
	weight int    // trajectories
	shots  int    // the job's shots drawn from it
	rng    *rand.Rand
	jumps  *Jumps // one quantum-jump trajectory (weight 1)
}

// groups draws each trajectory's lost atoms (trajectory i from the stream
// (base, i), as the state-vector engine) and groups them, the heaviest
// first; group k samples from the stream (base, nTraj+k). With collapse
// operators every trajectory is a group.
func groups(nm *emulator.NoiseModel, n, nTraj, runs int, base uint64) []*group {
	p := 0.0
	if nm.Has(emulator.NoiseSPAM) {
		p = nm.StatePrepError
	}
	if ops := nm.JumpOperators(); len(ops) > 0 {
		// One group per trajectory, its stream (base, i) drawing the lost
		// atoms, then the jumps, then the shots.
		out := make([]*group, nTraj)
		for i := range out {
			rng := rand.New(rand.NewPCG(base, uint64(i)))
			out[i] = &group{lost: shots.LostAtoms(n, p, rng), weight: 1, shots: shots.Share(runs, nTraj, i), rng: rng}
			out[i].jumps = &Jumps{Ops: ops, Rng: rng}
		}
		return out
	}
	byMask := map[string]*group{}
	var keys []string
	for i := 0; i < nTraj; i++ {
		lost := shots.LostAtoms(n, p, rand.New(rand.NewPCG(base, uint64(i))))
		key := fmt.Sprint(lost)
		g, ok := byMask[key]
		if !ok {
			g = &group{lost: lost}
			byMask[key] = g
			keys = append(keys, key)
		}
		g.weight++
		g.shots += shots.Share(runs, nTraj, i)
	}
	sort.SliceStable(keys, func(a, b int) bool { return byMask[keys[a]].weight > byMask[keys[b]].weight })
	out := make([]*group, len(keys))
	for k, key := range keys {
		out[k] = byMask[key]
		out[k].rng = rand.New(rand.NewPCG(base, uint64(nTraj+k)))
	}
	return out
}

// sample draws count shots from st with the model's readout errors.
func sample(st *State, count int, nm *emulator.NoiseModel, rng *rand.Rand) []string {
	out := st.Sample(count, rng)
	if !nm.Has(emulator.NoiseSPAM) || (nm.PFalsePos == 0 && nm.PFalseNeg == 0) {
		return out
	}
	for k, s := range out {
		b := []byte(s)
		for i, c := range b {
			b[i] = '0'
			if shots.Readout(c == '1', nm.PFalsePos, nm.PFalseNeg, rng) {
				b[i] = '1'
			}
		}
		out[k] = string(b)
	}
	return out
}
