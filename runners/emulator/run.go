// Package emulator is Tweezer's state-vector emulator for neutral-atom
// sequences: it compiles a Pulser abstract-representation sequence,
// integrates the Rydberg Hamiltonian from all-ground and samples shots.
// Run is the one entry point the runners and the CLI share.
package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tweezer-dev/tweezer/internal/devices"
	"github.com/tweezer-dev/tweezer/runners/engine"
	"github.com/tweezer-dev/tweezer/runners/sequence"
)

// Request is one job for the emulator.
type Request struct {
	Sequence      []byte          // Pulser abstract repr JSON (the batch's sequence_builder)
	Variables     json.RawMessage // the job's variables object, may be nil
	Runs          int
	Seed          int64           // 0 = random
	DeviceType    string          // e.g. "EMU_FREE", "EMU_FRESNEL" (noise), "FRESNEL"
	Configuration json.RawMessage // batch configuration, may be nil; honours "strict_validation"

	// Noise is the EmulationConfig's noise_model. With Noise nil and
	// PreferDeviceNoiseModel false, the device type keeps its legacy
	// behaviour (EMU_FRESNEL: Fresnel's SPAM figures, see sample).
	Noise *NoiseModel
	// PreferDeviceNoiseModel uses the device's default noise model
	// (EMU_FRESNEL: Fresnel's) when it has one, else Noise.
	PreferDeviceNoiseModel bool
	// NTrajectories is the number of noise trajectories
	// (EmulationConfig.n_trajectories); 0 takes the noise model's runs, or 1.
	NTrajectories int
	// InitialState, if set, is the state the evolution starts from (2^n
	// amplitudes, basis as in hamiltonian.go); nil is all-ground.
	InitialState []complex128
	// EvalTimes (ns, ascending, within the sequence) and Observe: Observe
	// is called for each trajectory group at each of the times, possibly
	// from several goroutines at once (one per group).
	EvalTimes []int
	Observe   func(*Snapshot) error
	// InteractionMatrix, if set, replaces C6/r⁶ between atoms i and j
	// (rad/µs, register order; EmulationConfig.interaction_matrix).
	InteractionMatrix [][]float64

	// compiled is the request's program when the caller compiled it
	// already (observables.go), so that it is compiled once.
	compiled *sequence.Program
}

// legacy reports whether the request takes the path that predates noise
// models: no noise model, no device model preferred, no observer, no
// initial state.
func (r *Request) legacy() bool {
	return r.Noise == nil && !r.PreferDeviceNoiseModel && r.Observe == nil && r.InitialState == nil
}

// Result is the outcome of a job (engine.Result: the emulator is one engine).
type Result = engine.Result

// InputError reports a job that cannot run as given (engine.InputError).
type InputError = engine.InputError

// MaxRuns bounds the number of shots of one job.
const MaxRuns = 10_000_000

// Run validates, simulates and samples. progress (may be nil) gets 0..100.
// Input errors are returned as *InputError (with the JSON path / variable name in the message).
func Run(ctx context.Context, req Request, progress func(percent int)) (*Result, error) {
	if req.Runs < 1 || req.Runs > MaxRuns {
		return nil, &InputError{Path: "runs", Msg: fmt.Sprintf("must be between 1 and %d, got %d", MaxRuns, req.Runs)}
	}
	if !req.legacy() {
		prog, devType, err := compileRequest(req)
		if err != nil {
			return nil, err
		}
		nm, err := resolveNoise(req, prog, devType)
		if err != nil {
			return nil, err
		}
		res, err := runNoisy(ctx, req, prog, nm, scaled(progress, 0, 99))
		if err == nil && progress != nil {
			progress(100)
		}
		return res, err
	}
	sim, err := simulate(ctx, req, scaled(progress, 0, 95))
	if err != nil {
		return nil, err
	}
	res, err := sim.sample(ctx, req.Runs, newRNG(req.Seed))
	if err != nil {
		return nil, err
	}
	if progress != nil {
		progress(100)
	}
	return res, nil
}

// Probabilities returns the exact final-state probabilities of the
// sequence (bitstring → p), leaving out those below minP. Measurement
// noise is not applied.
func Probabilities(ctx context.Context, req Request, minP float64) (map[string]float64, error) {
	sim, err := simulate(ctx, req, nil)
	if err != nil {
		return nil, err
	}
	return sim.probabilities(minP), nil
}

func scaled(progress func(int), from, to int) func(int) {
	if progress == nil {
		return nil
	}
	return func(p int) { progress(from + p*(to-from)/100) }
}

type simulation struct {
	prog  *sequence.Program
	evo   *evolution
	noise *sequence.Noise
}

type config struct {
	StrictValidation bool `json:"strict_validation"`
	// Precision selects the state-vector arithmetic: "normal" (default)
	// and "high" are complex128 throughout; "low" runs the Chebyshev
	// recurrence in complex64 (half the memory traffic, 2 state vectors
	// of memory instead of 3) and accumulates the state in complex128.
	// Any other value is an input error on configuration.precision.
	Precision any `json:"precision"`
}

// Precision values of the batch configuration.
const (
	precisionLow    = "low"
	precisionNormal = "normal"
	precisionHigh   = "high"
)

// singlePrecision reports whether the request's configuration asks for
// precision "low" (compileRequest has validated it).
func (r *Request) singlePrecision() bool {
	var cfg config
	if len(r.Configuration) == 0 || json.Unmarshal(r.Configuration, &cfg) != nil {
		return false
	}
	return cfg.Precision == precisionLow
}

func simulate(ctx context.Context, req Request, progress func(int)) (*simulation, error) {
	prog, devType, err := compileRequest(req)
	if err != nil {
		return nil, err
	}
	sim := &simulation{prog: prog}
	if devType == "EMU_FRESNEL" {
		sim.noise = prog.Device.Noise
	}
	sim.evo = newEvolutionWith(prog, newHamiltonian(prog, nil), defaultMagnusTol, req.singlePrecision())
	if n := sim.evo.h.n; n >= krylovMinAtoms {
		// The basis: complex64 vectors besides w1 and w2 in precision
		// "low", complex128 ones besides psi, work1 and work2 otherwise.
		vec, have := 16, 3
		if sim.evo.single {
			vec, have = 8, 2
		}
		sim.evo.useKrylov(krylovBasis(n, spareBytes(n, amplitudeBytes(sim.evo.single)), vec, have))
	}
	if err := sim.evo.run(ctx, progress); err != nil {
		return nil, err
	}
	// The basis was for the evolution: the sampling and its re-runs
	// (withoutAtoms, with Chebyshev steps) need its memory more.
	sim.evo.krylov = nil
	return sim, nil
}

// compileRequest compiles the request's sequence for its device type and
// returns the program and the upper-cased device type.
func compileRequest(req Request) (*sequence.Program, string, error) {
	var cfg config
	if len(req.Configuration) > 0 && string(req.Configuration) != "null" {
		if err := json.Unmarshal(req.Configuration, &cfg); err != nil {
			return nil, "", &InputError{Path: "configuration", Msg: "invalid configuration: " + err.Error()}
		}
	}
	switch cfg.Precision {
	case nil, precisionLow, precisionNormal, precisionHigh:
	default:
		return nil, "", &InputError{Path: "configuration.precision", Msg: fmt.Sprintf("must be %q, %q or %q, got %v", precisionLow, precisionNormal, precisionHigh, cfg.Precision)}
	}
	devType := strings.ToUpper(req.DeviceType)
	if devType == "" {
		devType = "EMU_FREE"
	}
	if req.compiled != nil {
		return req.compiled, devType, nil
	}
	catalogName, ok := devices.DeviceName(devType)
	if !ok {
		return nil, "", &InputError{Path: "device_type", Msg: fmt.Sprintf("unknown device type %q", req.DeviceType)}
	}
	perAmp := amplitudeBytes(cfg.Precision == precisionLow)
	opts := sequence.Options{Variables: req.Variables, MaxAtoms: maxAtoms(perAmp), MaxAtomsReason: maxAtomsReason(perAmp)}
	if catalogName == devices.Fresnel || cfg.StrictValidation {
		dev, err := sequence.LoadDevice(devices.Fresnel)
		if err != nil {
			return nil, "", err
		}
		opts.ValidateAs = dev
	}
	prog, err := sequence.Compile(req.Sequence, opts)
	if err != nil {
		var se *sequence.Error
		if errors.As(err, &se) {
			return nil, "", &InputError{Path: se.Path, Msg: se.Msg}
		}
		return nil, "", err
	}
	if req.InteractionMatrix != nil {
		if n := len(prog.QubitIDs); len(req.InteractionMatrix) != n {
			return nil, "", &InputError{Path: "interaction_matrix", Msg: fmt.Sprintf("is %d×%d but the register has %d atoms", len(req.InteractionMatrix), len(req.InteractionMatrix), n)}
		}
		prog.Interactions = req.InteractionMatrix
	}
	return prog, devType, nil
}
