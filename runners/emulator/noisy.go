package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"math/cmplx"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/tweezer-dev/tweezer/internal/devices"
	"github.com/tweezer-dev/tweezer/internal/sysmem"
	"github.com/tweezer-dev/tweezer/runners/sequence"
	"github.com/tweezer-dev/tweezer/runners/shots"
	"github.com/tweezer-dev/tweezer/runners/workpool"
)

// Snapshot is one trajectory group's state at an evaluation time, handed
// to Request.Observe.
type Snapshot struct {
	Group  int          // index of the trajectory group, 0..Groups-1
	Groups int          // number of groups of this run
	Weight int          // trajectories the group stands for; the weights sum to the trajectory count
	Stop   int          // index into Request.EvalTimes
	Psi    []complex128 // normalised state (basis as in hamiltonian.go); read-only, valid during the call
	sample func(count int) map[string]int64
}

// Sample draws count shots from Psi with the noise model's measurement
// errors, from the group's own random stream (so reproducible for a seed).
func (s *Snapshot) Sample(count int) map[string]int64 { return s.sample(count) }

// Pulser's physical constants (pulser/constants.py) for doppler and
// register noise.
const (
	kEff           = 8.7      // µm⁻¹, effective wave number
	kBoltzmann     = 1.38e-23 // J/K
	atomMass       = 1.45e-25 // kg
	trapWavelength = 0.85     // µm
)

// Time resolution of the quantum jumps: blocks are cut so that the
// probability of a jump within one is at most jumpPerBlock, and never
// longer than maxNoiseBlock ns; a jump takes place at the end of the block
// in which the norm crosses its threshold.
const (
	jumpPerBlock  = 0.01
	maxNoiseBlock = 10
)

// localOp is a one-atom operator in this engine's order: index 0 is |g⟩
// (bit clear), 1 is |r⟩ (bit set).
type localOp [2][2]complex128

// noisyEngine runs a program under a noise model as trajectories.
type noisyEngine struct {
	prog     *sequence.Program
	nm       *NoiseModel
	n        int
	nTraj    int
	init     []complex128
	ops      []localOp // jump operators, the same on every atom
	decay    localOp   // Σ L†L
	blockCap int
	pert     *Perturber // the trajectories' draws and programs
}

// resolveNoise returns the noise model a request runs with: the device's
// default one when preferred and present (EMU_FRESNEL: Fresnel's, else the
// sequence's device's), else req.Noise.
func resolveNoise(req Request, prog *sequence.Program, devType string) (*NoiseModel, error) {
	if req.PreferDeviceNoiseModel {
		raw := prog.Device.DefaultNoiseModel
		if devType == "EMU_FRESNEL" {
			dev, err := sequence.LoadDevice(devices.Fresnel)
			if err != nil {
				return nil, err
			}
			raw = dev.DefaultNoiseModel
		}
		if len(raw) > 0 {
			nm := &NoiseModel{}
			if err := json.Unmarshal(raw, nm); err != nil {
				return nil, &InputError{Path: "prefer_device_noise_model", Msg: "the device's default noise model is invalid: " + err.Error()}
			}
			if err := nm.Validate(); err != nil {
				return nil, &InputError{Path: "prefer_device_noise_model", Msg: "the device's default noise model is invalid: " + err.Error()}
			}
			return nm, nil
		}
	}
	if req.Noise == nil {
		return &NoiseModel{}, nil
	}
	if err := req.Noise.Validate(); err != nil {
		return nil, err
	}
	return req.Noise, nil
}

func newNoisyEngine(req Request, prog *sequence.Program, nm *NoiseModel) (*noisyEngine, error) {
	n := len(prog.QubitIDs)
	e := &noisyEngine{prog: prog, nm: nm, n: n}
	if nm.Has(NoiseLeakage) {
		return nil, noiseErr("noise_types", "\"leakage\" is not supported by this emulator (it simulates the ground-rydberg basis only)")
	}
	e.nTraj = req.NTrajectories
	if e.nTraj == 0 && nm.Runs != nil {
		e.nTraj = int(*nm.Runs)
	}
	if e.nTraj == 0 {
		e.nTraj = 1
	}
	if e.nTraj < 0 || e.nTraj > MaxRuns {
		return nil, &InputError{Path: "n_trajectories", Msg: fmt.Sprintf("must be between 1 and %d, got %d", MaxRuns, e.nTraj)}
	}
	if req.InitialState != nil {
		if len(req.InitialState) != 1<<n {
			return nil, &InputError{Path: "initial_state", Msg: fmt.Sprintf("needs %d amplitudes for %d atoms, got %d", 1<<n, n, len(req.InitialState))}
		}
		norm := 0.0
		for _, a := range req.InitialState {
			norm += real(a)*real(a) + imag(a)*imag(a)
		}
		if !(norm > 0) || math.IsInf(norm, 0) {
			return nil, &InputError{Path: "initial_state", Msg: "has zero or non-finite norm"}
		}
		e.init = make([]complex128, len(req.InitialState))
		for i, a := range req.InitialState {
			e.init[i] = a / complex(math.Sqrt(norm), 0)
		}
		if nm.Has(NoiseSPAM) && nm.StatePrepError > 0 && cmplx.Abs(e.init[0]) < 1-1e-12 {
			return nil, noiseErr("state_prep_error", "cannot be combined with an initial state other than all-ground (as in Pulser)")
		}
	}
	e.buildJumpOps()
	e.pert = NewPerturber(prog, nm)
	return e, nil
}

// buildJumpOps takes the model's collapse operators and their decay.
func (e *noisyEngine) buildJumpOps() {
	for _, L := range e.nm.JumpOperators() {
		e.ops = append(e.ops, localOp(L))
	}
	for _, L := range e.ops {
		for i := 0; i < 2; i++ {
			for j := 0; j < 2; j++ {
				for k := 0; k < 2; k++ {
					e.decay[i][j] += cmplx.Conj(L[k][i]) * L[k][j]
				}
			}
		}
	}
	if len(e.ops) > 0 {
		a, d := real(e.decay[0][0]), real(e.decay[1][1])
		lmax := (a+d)/2 + math.Hypot((a-d)/2, cmplx.Abs(e.decay[0][1]))
		rate := float64(e.n) * lmax * dtMicros // jump probability per ns
		e.blockCap = maxNoiseBlock
		if rate > 0 {
			e.blockCap = max(1, min(maxNoiseBlock, int(jumpPerBlock/rate)))
		}
	}
}

// group is a set of trajectories run as one: all of them when nothing but
// the state-preparation mask is drawn and there are no jumps (grouped by
// mask, as Pulser does), else a single trajectory.
type group struct {
	weight int
	shots  int
	tp     *Draws
	rng    *rand.Rand
}

func (e *noisyEngine) groups(runs int, base uint64) []*group {
	shotsOf := func(i int) int { return shots.Share(runs, e.nTraj, i) }
	if e.pert.ShotToShot() || len(e.ops) > 0 {
		gs := make([]*group, e.nTraj)
		for i := range gs {
			rng := rand.New(rand.NewPCG(base, uint64(i)))
			gs[i] = &group{weight: 1, shots: shotsOf(i), tp: e.pert.Draw(rng), rng: rng}
		}
		return gs
	}
	byMask := map[string]*group{}
	var keys []string
	for i := 0; i < e.nTraj; i++ {
		bad := e.pert.Lost(rand.New(rand.NewPCG(base, uint64(i))))
		key := fmt.Sprint(bad)
		g, ok := byMask[key]
		if !ok {
			g = &group{tp: e.pert.Nominal(bad)}
			byMask[key] = g
			keys = append(keys, key)
		}
		g.weight++
		g.shots += shotsOf(i)
	}
	sort.SliceStable(keys, func(a, b int) bool { return byMask[keys[a]].weight > byMask[keys[b]].weight })
	gs := make([]*group, len(keys))
	for i, k := range keys {
		gs[i] = byMask[k]
		gs[i].rng = rand.New(rand.NewPCG(base, uint64(e.nTraj+i)))
	}
	return gs
}

// runNoisy runs req's trajectories in parallel and merges their shots in
// group order, so the outcome depends on the seed only.
func runNoisy(ctx context.Context, req Request, prog *sequence.Program, nm *NoiseModel, progress func(int)) (*Result, error) {
	e, err := newNoisyEngine(req, prog, nm)
	if err != nil {
		return nil, err
	}
	for i, t := range req.EvalTimes {
		if t < 0 || t > prog.Duration || (i > 0 && t < req.EvalTimes[i-1]) {
			return nil, &InputError{Path: "evaluation_times", Msg: fmt.Sprintf("must be ascending times within [0, %d] ns, got %d at %d", prog.Duration, t, i)}
		}
	}
	gs := e.groups(req.Runs, newRNG(req.Seed).Uint64())
	results := make([]*Result, len(gs))
	workers := min(runtime.GOMAXPROCS(0), len(gs))
	if avail := sysmem.Available(); avail > 0 {
		per := uint64(amplitudeBytes(req.singlePrecision())) << e.n
		workers = max(1, min(workers, int(avail/2/per)))
	}
	var done atomic.Int64
	var mu sync.Mutex
	err = workpool.Run(ctx, len(gs), workers, func(ctx context.Context, i int) error {
		var err error
		if results[i], err = e.runGroup(ctx, req, gs, i); err != nil {
			return err
		}
		if progress != nil {
			mu.Lock()
			progress(int(100 * done.Add(1) / int64(len(gs))))
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := &Result{Counter: map[string]int64{}, Raw: make([]string, 0, req.Runs)}
	for _, r := range results {
		for k, v := range r.Counter {
			out.Counter[k] += v
		}
		out.Raw = append(out.Raw, r.Raw...)
	}
	return out, nil
}

// runGroup evolves one group and samples its shots.
func (e *noisyEngine) runGroup(ctx context.Context, req Request, gs []*group, gi int) (*Result, error) {
	g := gs[gi]
	prog := e.pert.Program(g.tp)
	var absent []bool
	for _, b := range g.tp.Lost {
		if b {
			absent = g.tp.Lost
		}
	}
	evo := newEvolutionWith(prog, newHamiltonian(prog, absent), defaultMagnusTol, req.singlePrecision())
	if e.init != nil {
		copy(evo.psi, e.init)
	}
	if len(e.ops) > 0 {
		j := newJumper(e, g.rng)
		evo.blockCap = e.blockCap
		evo.beforeBlock = func(t, b int) { j.decayHalf(evo.psi, b) }
		evo.afterBlock = func(t, b int) error {
			j.decayHalf(evo.psi, b)
			j.maybeJump(evo.psi)
			return nil
		}
	}
	sampler := func(psi []complex128, count int) *Result {
		res := &Result{Counter: map[string]int64{}, Raw: make([]string, count)}
		if count == 0 {
			return res
		}
		spam := e.nm.Has(NoiseSPAM)
		for i, st := range draw(psi, count, g.rng) {
			if spam {
				st = measurementErrors(st, e.n, e.nm.PFalsePos, e.nm.PFalseNeg, g.rng)
			}
			b := bitstring(st, e.n)
			res.Raw[i] = b
			res.Counter[b]++
		}
		return res
	}
	if req.Observe != nil && len(req.EvalTimes) > 0 {
		scratch := make([]complex128, len(evo.psi))
		evo.stops = req.EvalTimes
		evo.atStop = func(k int) error {
			normalised(scratch, evo.psi)
			return req.Observe(&Snapshot{Group: gi, Groups: len(gs), Weight: g.weight, Stop: k, Psi: scratch,
				sample: func(count int) map[string]int64 { return sampler(scratch, count).Counter }})
		}
	}
	if err := evo.run(ctx, nil); err != nil {
		return nil, err
	}
	return sampler(evo.psi, g.shots), nil
}

func normalised(dst, psi []complex128) {
	n2 := 0.0
	for _, a := range psi {
		n2 += real(a)*real(a) + imag(a)*imag(a)
	}
	inv := complex(1/math.Sqrt(n2), 0)
	for i, a := range psi {
		dst[i] = a * inv
	}
}

// jumper carries a trajectory's quantum jumps (waiting-time Monte Carlo):
// the state evolves under H - (i/2)ΣL†L, unnormalised, the non-Hermitian
// part applied as exp(-ΣL†L·τ/4) before and after each block (a symmetric
// splitting); when the squared norm falls below a uniform threshold, one
// jump L is applied, chosen with probability ∝ ‖Lψ‖², and the state is
// renormalised and a new threshold drawn.
type jumper struct {
	e         *noisyEngine
	rng       *rand.Rand
	threshold float64
	diagonal  bool
	cache     map[int]localOp // half-block decay factor by block length
	diagCache map[int][]float64
	weights   []float64
}

func newJumper(e *noisyEngine, rng *rand.Rand) *jumper {
	return &jumper{e: e, rng: rng, threshold: rng.Float64(), diagonal: e.decay[0][1] == 0,
		cache: map[int]localOp{}, diagCache: map[int][]float64{}, weights: make([]float64, e.n*len(e.ops))}
}

// halfDecay returns exp(-M·τ/2·1/2) for a block of b ns, M = ΣL†L.
func (j *jumper) halfDecay(b int) localOp {
	if g, ok := j.cache[b]; ok {
		return g
	}
	M := j.e.decay
	x := float64(b) * dtMicros / 4
	a, d, c := real(M[0][0]), real(M[1][1]), M[0][1]
	m, h := (a+d)/2, (a-d)/2
	r := math.Hypot(h, cmplx.Abs(c))
	em := math.Exp(-x * m)
	var g localOp
	if r == 0 {
		g = localOp{{complex(em, 0), 0}, {0, complex(em, 0)}}
	} else {
		ch, sh := math.Cosh(x*r)*em, math.Sinh(x*r)/r*em
		g = localOp{
			{complex(ch-sh*h, 0), -complex(sh, 0) * c},
			{-complex(sh, 0) * cmplx.Conj(c), complex(ch+sh*h, 0)},
		}
	}
	j.cache[b] = g
	return g
}

func (j *jumper) decayHalf(psi []complex128, b int) {
	g := j.halfDecay(b)
	n := j.e.n
	if j.diagonal {
		// The factor depends on the number of excitations only.
		f, ok := j.diagCache[b]
		if !ok {
			f = make([]float64, n+1)
			d0, d1 := real(g[0][0]), real(g[1][1])
			for k := range f {
				f[k] = math.Pow(d0, float64(n-k)) * math.Pow(d1, float64(k))
			}
			j.diagCache[b] = f
		}
		for s := range psi {
			psi[s] *= complex(f[bits.OnesCount(uint(s))], 0)
		}
		return
	}
	for bit := 0; bit < n; bit++ {
		applyLocal(psi, bit, g)
	}
}

// applyLocal applies a one-atom operator to the atom at bit position bit.
func applyLocal(psi []complex128, bit int, g localOp) {
	m := 1 << bit
	for s := range psi {
		if s&m != 0 {
			continue
		}
		x0, x1 := psi[s], psi[s|m]
		psi[s] = g[0][0]*x0 + g[0][1]*x1
		psi[s|m] = g[1][0]*x0 + g[1][1]*x1
	}
}

func (j *jumper) maybeJump(psi []complex128) {
	n2 := 0.0
	for _, a := range psi {
		n2 += real(a)*real(a) + imag(a)*imag(a)
	}
	if n2 > j.threshold {
		return
	}
	e := j.e
	total := 0.0
	for bit := 0; bit < e.n; bit++ {
		m := 1 << bit
		for k, L := range e.ops {
			w := 0.0
			for s := range psi {
				if s&m != 0 {
					continue
				}
				x0, x1 := psi[s], psi[s|m]
				y0, y1 := L[0][0]*x0+L[0][1]*x1, L[1][0]*x0+L[1][1]*x1
				w += real(y0)*real(y0) + imag(y0)*imag(y0) + real(y1)*real(y1) + imag(y1)*imag(y1)
			}
			j.weights[bit*len(e.ops)+k] = w
			total += w
		}
	}
	if total > 0 {
		u := j.rng.Float64() * total
		pick := len(j.weights) - 1
		for i, w := range j.weights {
			if u < w {
				pick = i
				break
			}
			u -= w
		}
		applyLocal(psi, pick/len(e.ops), e.ops[pick%len(e.ops)])
	}
	normalised(psi, psi)
	j.threshold = j.rng.Float64()
}
