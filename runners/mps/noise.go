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
// (runners/emulator/noisy.go), with the same random draws
// (emulator.Perturber, runners/shots): SPAM makes each trajectory lose
// every atom with probability state_prep_error at preparation (a lost atom
// is |g⟩, not driven, not interacting) and misreads every measured bit
// with p_false_pos (0→1) or p_false_neg (1→0); doppler, amplitude,
// detuning and register noise redraw the trajectory's Hamiltonian (its
// program: drive, detuning, positions), which the trajectory's MPO is
// built from; dephasing, relaxation, depolarizing and eff_noise are
// quantum jumps (jumps.go) with Pulser's collapse operators. Without
// jumps or shot-to-shot draws, trajectories that lose the same atoms are
// one evolution (a group), weighted by how many they are; otherwise each
// trajectory is its own. Leakage (a third level) and the DMM noise types
// are refused, naming the type.

// noiseModel returns the noise model a task runs with (nil: none): the
// device's default one when preferred and the sequence's device has one,
// else the EmulationConfig's. Leakage and the DMM types are refused.
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
		case emulator.NoiseSPAM, emulator.NoiseDephasing, emulator.NoiseRelaxation, emulator.NoiseDepolarizing, emulator.NoiseEff,
			emulator.NoiseDoppler, emulator.NoiseAmplitude, emulator.NoiseDetuning, emulator.NoiseRegister:
			continue
		}
		path := field
		if field == "backend_configuration.noise_model" {
			path = fmt.Sprintf("%s.noise_types[%d]", field, i)
		}
		return nil, &jobs.InputError{Path: path, Msg: fmt.Sprintf("%q noise is not emulated by the MPS engine: EMU_MPS and EMU_TN emulate \"SPAM\", \"doppler\", \"amplitude\", \"detuning\", \"register\", \"dephasing\", \"relaxation\", \"depolarizing\" and \"eff_noise\" (use EMU_SV or EMU_FREE for %q)", t, t)}
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
	lost   []bool            // register order
	prog   *sequence.Program // the Hamiltonian it evolves under (nil: the sequence's)
	weight int               // trajectories
	shots  int               // the job's shots drawn from it
	rng    *rand.Rand
	jumps  *Jumps // one quantum-jump trajectory (weight 1)
}

// groups draws each trajectory's noise (trajectory i from the stream
// (base, i), with the state-vector engine's draws) and groups them, the
// heaviest first; group k samples from the stream (base, nTraj+k). With
// collapse operators or shot-to-shot noise every trajectory is a group,
// its stream drawing the noise, then the jumps, then the shots.
func groups(nm *emulator.NoiseModel, prog *sequence.Program, nTraj, runs int, base uint64) []*group {
	pert := emulator.NewPerturber(prog, nm)
	// The program changes per trajectory beyond its lost atoms (those are
	// left out of the MPS instead).
	perturbs := nm.Has(emulator.NoiseDoppler) || nm.Has(emulator.NoiseAmplitude) || nm.Has(emulator.NoiseDetuning) || nm.Has(emulator.NoiseRegister)
	program := func(d *emulator.Draws) *sequence.Program {
		if !perturbs {
			return nil
		}
		return pert.Program(d)
	}
	if ops := nm.JumpOperators(); len(ops) > 0 || pert.ShotToShot() {
		out := make([]*group, nTraj)
		for i := range out {
			rng := rand.New(rand.NewPCG(base, uint64(i)))
			d := pert.Draw(rng)
			out[i] = &group{lost: d.Lost, prog: program(d), weight: 1, shots: shots.Share(runs, nTraj, i), rng: rng}
			if len(ops) > 0 {
				out[i].jumps = &Jumps{Ops: ops, Rng: rng}
			}
		}
		return out
	}
	byMask := map[string]*group{}
	var keys []string
	for i := 0; i < nTraj; i++ {
		lost := pert.Lost(rand.New(rand.NewPCG(base, uint64(i))))
		key := fmt.Sprint(lost)
		g, ok := byMask[key]
		if !ok {
			g = &group{lost: lost, prog: program(pert.Nominal(lost))}
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
