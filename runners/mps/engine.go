package mps

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/google/uuid"

	"github.com/tweezer-dev/tweezer/internal/devices"
	"github.com/tweezer-dev/tweezer/internal/emulationconfig"
	jobs "github.com/tweezer-dev/tweezer/runners/engine"
	"github.com/tweezer-dev/tweezer/runners/sequence"
)

// Engine is the MPS engine as an jobs.Engine, the one EMU_MPS and EMU_TN
// batches run on. The sequence is compiled as the state-vector engine
// compiles it; the MPS options (Config) are read from the task's
// backend_configuration, next to the EmulationConfig's own keys. Noise
// models, initial states and observables an MPS does not compute here
// (expectation, fidelity, state) are refused with an *jobs.InputError
// naming the field. Log, when set, gets the run's statistics.
type Engine struct {
	Log func(format string, args ...any)
}

// MaxRuns bounds the shots of one job (as the state-vector engine's).
const MaxRuns = 10_000_000

// defaultAggregation is Pulser's default AggregationMethod of the
// observables this engine computes (MEAN 2, BAG_UNION 3, SKIP_WARN 1).
var defaultAggregation = map[string]int{
	emulationconfig.BitStrings: 3, emulationconfig.Occupation: 2, emulationconfig.CorrelationMatrix: 2,
	emulationconfig.Energy: 2, emulationconfig.EnergyVariance: 1, emulationconfig.EnergySecondMoment: 2,
}

// mpsOnlyKeys are MPS options the EmulationConfig parser does not know.
var mpsOnlyKeys = []string{"interaction_cutoff"}

// Run compiles, evolves, observes and samples one task.
func (e Engine) Run(ctx context.Context, task jobs.Task, progress func(int)) (*jobs.Result, error) {
	if task.Runs < 1 || task.Runs > MaxRuns {
		return nil, &jobs.InputError{Path: "runs", Msg: fmt.Sprintf("must be between 1 and %d, got %d", MaxRuns, task.Runs)}
	}
	cfg, err := taskConfig(&task)
	if err != nil {
		return nil, err
	}
	prog, err := compileTask(task)
	if err != nil {
		return nil, err
	}
	n, T := len(prog.QubitIDs), prog.Duration
	var plan []*planned
	if em := task.Emulation; em != nil {
		if err := refuseUnsupported(em, n); err != nil {
			return nil, err
		}
		cfg.InteractionMatrix = em.InteractionMatrix
		if plan, err = planObservables(em, task.Runs, T); err != nil {
			return nil, err
		}
	}
	rng := newRNG(task.Seed)
	stops := map[int][]*planned{}
	for _, p := range plan {
		for _, ns := range p.ns {
			if l := stops[ns]; !p.final && (len(l) == 0 || l[len(l)-1] != p) {
				stops[ns] = append(l, p)
			}
		}
	}
	for ns := range stops {
		cfg.EvalTimes = append(cfg.EvalTimes, ns)
	}
	var obsErr error
	cfg.Observe = func(ns int, st *State) {
		for _, p := range stops[ns] {
			for ti, t := range p.ns {
				if t != ns || p.final {
					continue
				}
				v, err := observe(p, st, rng)
				if err != nil && obsErr == nil {
					obsErr = fmt.Errorf("%s at %d ns: %w", p.obs.Tag(), ns, err)
				}
				p.values[ti] = v
			}
		}
	}
	st, stats, err := Run(ctx, prog, cfg, progress)
	if err != nil {
		return nil, inputErr(err)
	}
	if obsErr != nil {
		return nil, inputErr(obsErr)
	}
	if e.Log != nil {
		e.logStats(stats)
	}
	res := &jobs.Result{Counter: map[string]int64{}, Raw: st.Sample(task.Runs, rng)}
	for _, s := range res.Raw {
		res.Counter[s]++
	}
	if task.Emulation == nil {
		return res, nil
	}
	res.AtomOrder = append([]string(nil), prog.QubitIDs...)
	res.TotalDuration = T
	for _, p := range plan {
		ob := jobs.Observed{Tag: p.obs.Tag(), UUID: p.obs.UUID, Aggregation: defaultAggregation[p.obs.Kind], Times: p.times}
		if ob.UUID == "" {
			ob.UUID = uuid.NewString()
		}
		if p.obs.Aggregation != nil {
			ob.Aggregation = *p.obs.Aggregation
		}
		for ti := range p.times {
			v := p.values[ti]
			if p.final {
				v = res.Counter
			}
			raw, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			ob.Values = append(ob.Values, raw)
		}
		res.Observables = append(res.Observables, ob)
	}
	return res, nil
}

// logStats writes the run's figures and each step's χ and discarded weight.
func (e Engine) logStats(s *Stats) {
	e.Log("mps: order %v, MPO bond %d, memory estimate %d B, max bond %d, discarded %.3g, saturated %v, %d steps in %s",
		s.Order, s.MPOBondDim, s.MemoryEstimate, s.MaxBond, s.Discarded, s.BondSaturated, len(s.Steps), s.WallTime)
	for _, st := range s.Steps {
		e.Log("mps step: end %d ns, max bond %d, discarded %.3g, krylov %d, %s", st.End, st.MaxBond, st.Discarded, st.Krylov, st.Duration)
	}
}

// taskConfig reads the MPS options from the backend configuration and
// parses the rest as an EmulationConfig (into task.Emulation).
func taskConfig(task *jobs.Task) (Config, error) {
	raw := strings.TrimSpace(task.BackendConfiguration)
	if raw == "" || raw[0] != '{' {
		return ParseConfig(nil)
	}
	cfg, err := ParseConfig(json.RawMessage(raw))
	if err != nil {
		return cfg, inputErr(err)
	}
	if task.Emulation == nil {
		var keys map[string]json.RawMessage
		if err := json.Unmarshal([]byte(raw), &keys); err != nil {
			return cfg, &jobs.InputError{Path: "backend_configuration", Msg: "not a JSON object: " + err.Error()}
		}
		for _, k := range mpsOnlyKeys {
			delete(keys, k)
		}
		rest, err := json.Marshal(keys)
		if err != nil {
			return cfg, err
		}
		t := jobs.Task{BackendConfiguration: string(rest)}
		if err := t.ParseEmulation(); err != nil {
			return cfg, err
		}
		task.Emulation = t.Emulation
	}
	return cfg, nil
}

// compileTask compiles the task's sequence for its device type, with no
// atom limit of the state vector's (the memory estimate bounds the run).
func compileTask(task jobs.Task) (*sequence.Program, error) {
	var bc struct {
		StrictValidation bool `json:"strict_validation"`
	}
	if c := bytes.TrimSpace(task.Configuration); len(c) > 0 && string(c) != "null" {
		if err := json.Unmarshal(c, &bc); err != nil {
			return nil, &jobs.InputError{Path: "configuration", Msg: "invalid configuration: " + err.Error()}
		}
	}
	devType := strings.ToUpper(task.DeviceType)
	if devType == "" {
		devType = "EMU_MPS"
	}
	catalogName, ok := devices.DeviceName(devType)
	if !ok {
		return nil, &jobs.InputError{Path: "device_type", Msg: fmt.Sprintf("unknown device type %q", task.DeviceType)}
	}
	opts := sequence.Options{Variables: task.Variables}
	if catalogName == devices.Fresnel || bc.StrictValidation {
		dev, err := sequence.LoadDevice(devices.Fresnel)
		if err != nil {
			return nil, err
		}
		opts.ValidateAs = dev
	}
	prog, err := sequence.Compile([]byte(task.Sequence), opts)
	if err != nil {
		var se *sequence.Error
		if errors.As(err, &se) {
			return nil, &jobs.InputError{Path: se.Path, Msg: se.Msg}
		}
		return nil, err
	}
	return prog, nil
}

// refuseUnsupported names the first part of the EmulationConfig this
// engine does not do.
func refuseUnsupported(em *emulationconfig.Config, n int) error {
	if em.PreferDeviceNoiseModel {
		return &jobs.InputError{Path: "backend_configuration.prefer_device_noise_model", Msg: "the MPS engine evolves the pure state only; noise is not emulated on EMU_MPS/EMU_TN (use EMU_SV or EMU_FREE)"}
	}
	if len(em.NoiseModel) > 0 {
		var nm struct {
			NoiseTypes []string `json:"noise_types"`
		}
		if err := json.Unmarshal(em.NoiseModel, &nm); err != nil || len(nm.NoiseTypes) > 0 {
			return &jobs.InputError{Path: "backend_configuration.noise_model", Msg: "the MPS engine evolves the pure state only; noise is not emulated on EMU_MPS/EMU_TN (use EMU_SV or EMU_FREE)"}
		}
	}
	if em.InitialState != nil {
		return &jobs.InputError{Path: "backend_configuration.initial_state", Msg: "the MPS engine starts from all-ground only"}
	}
	if em.InteractionMatrix != nil && len(em.InteractionMatrix) != n {
		return &jobs.InputError{Path: "backend_configuration.interaction_matrix", Msg: fmt.Sprintf("is %d×%d but the register has %d atoms", len(em.InteractionMatrix), len(em.InteractionMatrix), n)}
	}
	for i, ob := range em.Observables {
		if _, ok := defaultAggregation[ob.Kind]; !ok {
			return &jobs.InputError{Path: fmt.Sprintf("backend_configuration.observables[%d].observable", i),
				Msg: fmt.Sprintf("%q is not computed by the MPS engine (it computes bitstrings, occupation, correlation_matrix, energy, energy_second_moment, energy_variance)", ob.Kind)}
		}
	}
	return nil
}

// planned is one observable with its evaluation times.
type planned struct {
	obs    emulationconfig.Observable
	times  []float64 // relative
	ns     []int     // per time, the ns it is evaluated at
	shots  int       // BitStrings
	final  bool      // BitStrings read from the job's final shots
	values []any
}

func planObservables(em *emulationconfig.Config, runs, T int) ([]*planned, error) {
	defaults := em.DefaultTimes
	if em.FullDefault {
		if T+1 > emulationconfig.MaxEvaluationTimes {
			return nil, &jobs.InputError{Path: "backend_configuration.default_evaluation_times", Msg: fmt.Sprintf("\"Full\" means one evaluation per ns: %d, more than %d", T+1, emulationconfig.MaxEvaluationTimes)}
		}
		defaults = make([]float64, T+1)
		for k := range defaults {
			defaults[k] = float64(k) / float64(T)
		}
	}
	var out []*planned
	for i, ob := range em.Observables {
		p := &planned{obs: ob, times: ob.Times}
		if p.times == nil {
			p.times = defaults
		}
		if len(p.times) == 0 {
			return nil, &jobs.InputError{Path: fmt.Sprintf("backend_configuration.observables[%d].evaluation_times", i), Msg: "no evaluation time: give evaluation_times or default_evaluation_times"}
		}
		if ob.Kind == emulationconfig.BitStrings {
			p.shots = runs
			if ob.NumShots > 0 {
				p.shots = ob.NumShots
			} else if em.DefaultNumShots > 0 {
				p.shots = em.DefaultNumShots
			}
			p.final = len(p.times) == 1 && p.times[0] == 1 && p.shots == runs
		}
		for _, t := range p.times {
			p.ns = append(p.ns, int(math.Round(t*float64(T))))
		}
		p.values = make([]any, len(p.times))
		out = append(out, p)
	}
	return out, nil
}

// observe computes one observable on the state, shaped as Pulser serialises it.
func observe(p *planned, st *State, rng *rand.Rand) (any, error) {
	switch p.obs.Kind {
	case emulationconfig.BitStrings:
		c := map[string]int64{}
		for _, s := range st.Sample(p.shots, rng) {
			c[s]++
		}
		return c, nil
	case emulationconfig.Occupation:
		return st.Occupation(), nil
	case emulationconfig.CorrelationMatrix:
		return st.Correlation(), nil
	}
	e, e2, err := st.Energy()
	if err != nil {
		return nil, err
	}
	switch p.obs.Kind {
	case emulationconfig.Energy:
		return e, nil
	case emulationconfig.EnergySecondMoment:
		return e2, nil
	}
	return e2 - e*e, nil
}

// inputErr turns the engine's option and memory errors into input errors.
func inputErr(err error) error {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return &jobs.InputError{Path: "backend_configuration." + ce.Field, Msg: ce.Msg}
	}
	var me *MemoryError
	if errors.As(err, &me) {
		return &jobs.InputError{Path: "backend_configuration.max_bond_dim", Msg: me.Error()}
	}
	return err
}

func newRNG(seed int64) *rand.Rand {
	s := uint64(seed)
	if seed == 0 {
		var b [8]byte
		_, _ = crand.Read(b[:])
		s = binary.LittleEndian.Uint64(b[:])
	}
	return rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))
}
