package mps

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/tweezer-dev/tweezer/internal/devices"
	"github.com/tweezer-dev/tweezer/internal/emulationconfig"
	"github.com/tweezer-dev/tweezer/runners/emulator"
	jobs "github.com/tweezer-dev/tweezer/runners/engine"
	"github.com/tweezer-dev/tweezer/runners/sequence"
	"github.com/tweezer-dev/tweezer/runners/workpool"
)

// Engine is the MPS engine as an jobs.Engine, the one EMU_MPS and EMU_TN
// batches run on. The sequence is compiled as the state-vector engine
// compiles it; the MPS options (Config) are read from the task's
// backend_configuration, next to the EmulationConfig's own keys. SPAM,
// shot-to-shot (doppler, amplitude, detuning, register) and Lindblad
// noise (noise.go), product and entangled initial states (initial.go) and
// the observables of the state-vector engine are supported; leakage, DMM
// noise and the state observable are refused with an *jobs.InputError
// naming the field. Noisy trajectories run in parallel (runGroups). Log,
// when set, gets the run's statistics.
type Engine struct {
	Log func(format string, args ...any)
	// Workers caps the trajectory groups evolved at once (0: GOMAXPROCS);
	// the memory budget may lower it further (trajectoryWorkers).
	Workers int
}

// MaxRuns bounds the shots of one job (as the state-vector engine's).
const MaxRuns = 10_000_000

// defaultAggregation is Pulser's default AggregationMethod of the
// observables this engine computes (MEAN 2, BAG_UNION 3, SKIP_WARN 1).
var defaultAggregation = map[string]int{
	emulationconfig.BitStrings: 3, emulationconfig.Occupation: 2, emulationconfig.CorrelationMatrix: 2,
	emulationconfig.Energy: 2, emulationconfig.EnergyVariance: 1, emulationconfig.EnergySecondMoment: 2,
	emulationconfig.Expectation: 2, emulationconfig.Fidelity: 2,
}

// mpsOnlyKeys are MPS options the EmulationConfig parser does not know.
var mpsOnlyKeys = []string{"interaction_cutoff"}

// Run compiles, evolves, observes and samples one task: one evolution per
// trajectory group (noise.go), its observables computed at their
// evaluation times during the evolution and combined over the groups
// (observables.go).
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
	var nm *emulator.NoiseModel
	nTraj := 1
	em := task.Emulation
	if em != nil {
		if em.InteractionMatrix != nil && len(em.InteractionMatrix) != n {
			return nil, &jobs.InputError{Path: "backend_configuration.interaction_matrix", Msg: fmt.Sprintf("is %d×%d but the register has %d atoms", len(em.InteractionMatrix), len(em.InteractionMatrix), n)}
		}
		cfg.InteractionMatrix = em.InteractionMatrix
		if nm, err = noiseModel(em, prog); err != nil {
			return nil, err
		}
		if nTraj, err = trajectories(em, nm); err != nil {
			return nil, err
		}
		if em.InitialState != nil {
			if err := initialState(&cfg, em.InitialState, n, "backend_configuration.initial_state"); err != nil {
				return nil, err
			}
			if nm.Has(emulator.NoiseSPAM) && nm.StatePrepError > 0 && (cfg.InitialAmplitudes != nil || !allGround(cfg.Initial)) {
				return nil, &jobs.InputError{Path: "backend_configuration.noise_model.state_prep_error", Msg: "cannot be combined with an initial state other than all-ground (as in Pulser)"}
			}
		}
	}
	gs := groups(nm, prog, nTraj, task.Runs, newRNG(task.Seed).Uint64())
	var plan []*planned
	if em != nil {
		if plan, err = planObservables(em, task.Runs, T, n, len(gs)); err != nil {
			return nil, err
		}
	}
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
	res, err := e.runGroups(ctx, prog, cfg, nm, gs, stops, progress)
	if err != nil {
		return nil, err
	}
	if em == nil {
		return res, nil
	}
	res.AtomOrder = append([]string(nil), prog.QubitIDs...)
	res.TotalDuration = T
	rng := newRNG(task.Seed ^ 0x5eed)
	for _, p := range plan {
		ob := jobs.Observed{Tag: p.obs.Tag(), UUID: p.obs.UUID, Aggregation: defaultAggregation[p.obs.Kind], Times: p.times}
		if ob.UUID == "" {
			ob.UUID = uuid.NewString()
		}
		if p.obs.Aggregation != nil {
			ob.Aggregation = *p.obs.Aggregation
		}
		for ti := range p.times {
			raw, err := json.Marshal(p.value(ti, gs, nTraj, res.Counter, rng))
			if err != nil {
				return nil, err
			}
			ob.Values = append(ob.Values, raw)
		}
		res.Observables = append(res.Observables, ob)
	}
	return res, nil
}

// runGroups evolves the trajectory groups on trajectoryWorkers
// goroutines, each group from its own random stream, and merges their
// shots in group order: a seeded job gives the same result on any number
// of cores. The first error cancels the others.
func (e Engine) runGroups(ctx context.Context, prog *sequence.Program, cfg Config, nm *emulator.NoiseModel, gs []*group,
	stops map[int][]*planned, progress func(int)) (*jobs.Result, error) {
	est, err := Estimate(prog, cfg)
	if err != nil {
		return nil, inputErr(err)
	}
	limit := cfg.MemoryLimit
	if limit == 0 {
		limit = uint64(0.75 * float64(availableMemory()))
	}
	workers := trajectoryWorkers(e.Workers, len(gs), est, limit)
	if limit > 0 {
		// Each run checks its own estimate against its share of the
		// budget: one that does not fit alone is refused (MemoryError).
		cfg.MemoryLimit = max(1, limit/uint64(workers))
	}
	if e.Log != nil && len(gs) > 1 {
		e.Log("mps: %d trajectory groups on %d workers (memory estimate %d B each, budget %d B)", len(gs), workers, est, limit)
	}
	outs := make([][]string, len(gs))
	pcts := make([]int, len(gs))
	var mu sync.Mutex // progress and the log
	last := -1
	groupProgress := func(gi int) func(int) {
		if progress == nil {
			return nil
		}
		return func(p int) {
			mu.Lock()
			defer mu.Unlock()
			pcts[gi] = p
			sum := 0
			for _, v := range pcts {
				sum += v
			}
			if pc := sum / len(gs); pc > last {
				last = pc
				progress(pc)
			}
		}
	}
	logf := e.Log
	if logf != nil {
		logf = func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			e.Log(format, args...)
		}
	}
	err = workpool.Run(ctx, len(gs), workers, func(ctx context.Context, gi int) error {
		var err error
		outs[gi], err = runGroup(ctx, prog, cfg, nm, gs, gi, stops, logf, groupProgress(gi))
		return err
	})
	if err != nil {
		return nil, err
	}
	total := 0
	for _, out := range outs {
		total += len(out)
	}
	res := &jobs.Result{Counter: map[string]int64{}, Raw: make([]string, 0, total)}
	for _, out := range outs {
		for _, s := range out {
			res.Raw = append(res.Raw, s)
			res.Counter[s]++
		}
	}
	return res, nil
}

// trajectoryWorkers is the number of trajectory groups evolved at once:
// the cap (0: GOMAXPROCS), no more than the groups, and no more than fit
// in the memory budget at est bytes each (at least one; a run that does
// not fit alone is refused by Run). limit 0 means unknown.
func trajectoryWorkers(cap, groups int, est, limit uint64) int {
	w := cap
	if w <= 0 {
		w = runtime.GOMAXPROCS(0)
	}
	w = min(w, groups)
	if limit > 0 && est > 0 {
		w = min(w, int(min(limit/est, uint64(groups))))
	}
	return max(1, w)
}

// runGroup evolves one trajectory group, computes its observables at
// their stops and returns its shots.
func runGroup(ctx context.Context, prog *sequence.Program, cfg Config, nm *emulator.NoiseModel, gs []*group, gi int,
	stops map[int][]*planned, logf func(string, ...any), progress func(int)) ([]string, error) {
	g := gs[gi]
	if slices.Contains(g.lost, true) {
		cfg.Absent = g.lost
	}
	cfg.Jumps = g.jumps
	if g.prog != nil {
		cfg.nominal = prog
		prog = g.prog
	}
	sampleFn := func(st *State) func(int) map[string]int64 {
		return func(count int) map[string]int64 {
			c := map[string]int64{}
			for _, s := range sample(st, count, nm, g.rng) {
				c[s]++
			}
			return c
		}
	}
	var obsErr error
	cfg.Observe = func(ns int, st *State) {
		// ⟨H⟩ and ⟨H²⟩ once per evaluation time, for all energy observables.
		var mean, second float64
		var energyErr error
		done := false
		energy := func() (float64, float64, error) {
			if !done {
				mean, second, energyErr = st.Energy()
				done = true
			}
			return mean, second, energyErr
		}
		for _, p := range stops[ns] {
			for ti, t := range p.ns {
				if t != ns || p.final {
					continue
				}
				if err := p.observe(ti, gi, st, energy, sampleFn(st)); err != nil && obsErr == nil {
					obsErr = fmt.Errorf("%s at %d ns: %w", p.obs.Tag(), ns, err)
				}
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
	if logf != nil {
		if len(gs) > 1 {
			lost := 0
			for _, l := range g.lost {
				if l {
					lost++
				}
			}
			logf("mps: trajectory group %d of %d: %d trajectories, %d atoms lost at preparation, %d jumps, %d shots", gi+1, len(gs), g.weight, lost, stats.Jumps, g.shots)
		}
		logStats(logf, stats, gi == 0)
	}
	return sample(st, g.shots, nm, g.rng), nil
}

// initialState reads a state abstract repr into cfg: a product state
// (Initial) when it factors per atom, else its amplitudes
// (InitialAmplitudes), whose MPS Run builds exactly.
func initialState(cfg *Config, st *emulationconfig.State, n int, field string) error {
	amps, err := basisAmps(st, n, field)
	if err != nil {
		return err
	}
	if prod, err := productState(st, n, field); err == nil {
		cfg.Initial = prod
		return nil
	}
	cfg.InitialAmplitudes = make(map[string]complex128, len(amps))
	for _, b := range amps {
		key := make([]byte, n)
		for i, v := range b.x {
			key[i] = '0'
			if v {
				key[i] = '1'
			}
		}
		cfg.InitialAmplitudes[string(key)] = b.a
	}
	return nil
}

// allGround reports whether a product state is |g…g⟩ (up to a phase).
func allGround(st [][2]complex128) bool {
	for _, a := range st {
		if a[1] != 0 {
			return false
		}
	}
	return true
}

// logStats writes the run's figures and, with perStep, each step's χ and
// discarded weight (for the first trajectory group only: noisy jobs run
// many, and their step lines would flood the log).
func logStats(logf func(string, ...any), s *Stats, perStep bool) {
	logf("mps: order %v, MPO bond %d, memory estimate %d B, max bond %d, discarded %.3g, saturated %v, one-site steps %d, %d steps in %s",
		s.Order, s.MPOBondDim, s.MemoryEstimate, s.MaxBond, s.Discarded, s.BondSaturated, s.OneSiteSteps, len(s.Steps), s.WallTime)
	if !perStep {
		return
	}
	for _, st := range s.Steps {
		logf("mps step: end %d ns, max bond %d, discarded %.3g, krylov %d, one-site %v, %s", st.End, st.MaxBond, st.Discarded, st.Krylov, st.OneSite, st.Duration)
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
