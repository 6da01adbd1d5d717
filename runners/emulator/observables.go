package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"math/cmplx"
	"math/rand/v2"
	"sort"
	"sync"

	"github.com/google/uuid"

	"github.com/tweezer-dev/tweezer/internal/emulationconfig"
	"github.com/tweezer-dev/tweezer/runners/engine"
	"github.com/tweezer-dev/tweezer/runners/sequence"
	"github.com/tweezer-dev/tweezer/runners/shots"
)

// Observables of an EmulationConfig (Pulser's default_observables.py),
// computed on the state at each evaluation time during the evolution: the
// evolution stops at those times (Request.EvalTimes) and hands the state
// to observe; nothing is run twice. Relative time t is the state after
// round(t·T) ns of a T ns sequence. Energy uses the noiseless Hamiltonian
// of the sequence at that ns, in rad/µs:
//
//	H(t) = Σᵢ (Ωᵢ(t)/2)(e^{iφᵢ(t)}|r⟩⟨g|ᵢ + h.c.) − Σᵢ δᵢ(t) nᵢ + Σ_{i<j} Uᵢⱼ nᵢ nⱼ
//
// with nᵢ = |r⟩⟨r|ᵢ and Uᵢⱼ = C6/rᵢⱼ⁶ (or interaction_matrix), Pulser's
// ground-rydberg Hamiltonian. With noise trajectories, each value is the
// trajectory-weighted mean (Pulser's MEAN aggregation) and BitStrings the
// union of shots drawn in proportion to the trajectories (BAG_UNION).

// defaultAggregation is Pulser's default AggregationMethod per observable
// (SKIP_WARN 1, MEAN 2, BAG_UNION 3).
var defaultAggregation = map[string]int{
	emulationconfig.BitStrings: 3, emulationconfig.Occupation: 2, emulationconfig.CorrelationMatrix: 2,
	emulationconfig.Energy: 2, emulationconfig.EnergyVariance: 1, emulationconfig.EnergySecondMoment: 2,
	emulationconfig.Expectation: 2, emulationconfig.Fidelity: 2, emulationconfig.StateResult: 1,
}

// plannedObs is one observable with its times and the stop of each.
type plannedObs struct {
	obs   emulationconfig.Observable
	times []float64 // relative
	stops []int     // index into the stops, per time
	shots int       // BitStrings: shots per evaluation
	op    *compiledOp
	ref   []complex128 // Fidelity: the reference state
	final bool         // BitStrings read from the job's final shots
	// per time, per group: the value as floats (or the sampled counter,
	// or StateResult's state)
	vals   [][][]float64
	counts [][]map[string]int64
	states [][][]complex128
	index  int // in the configuration's observables
}

// observer computes the observables of one run at its stops; weights
// are the groups' weights (trajectories each stands for).
type observer struct {
	prog    *sequence.Program
	h       *hamiltonian
	plan    []*plannedObs
	byStop  [][]int // per stop: the observables evaluated there
	stopsNs []int

	mu      sync.Mutex
	weights map[int]int
	groups  int
}

func runObserved(ctx context.Context, req Request, cfg *emulationconfig.Config, progress func(int)) (*Result, error) {
	nm, err := noiseOf(cfg.NoiseModel)
	if err != nil {
		return nil, err
	}
	if nm == nil {
		// Pulser's semantics: no noise unless the config has some or asks
		// for the device's; a non-nil empty model keeps EMU_FRESNEL's
		// legacy SPAM from applying to a configured run.
		nm = &NoiseModel{}
	}
	req.Noise, req.PreferDeviceNoiseModel, req.NTrajectories = nm, cfg.PreferDeviceNoiseModel, cfg.NTrajectories
	req.InteractionMatrix = cfg.InteractionMatrix
	if req.Runs < 1 || req.Runs > MaxRuns {
		return nil, &InputError{Path: "runs", Msg: fmt.Sprintf("must be between 1 and %d, got %d", MaxRuns, req.Runs)}
	}
	prog, devType, err := compileRequest(req)
	if err != nil {
		return nil, err
	}
	n, T := len(prog.QubitIDs), prog.Duration
	if cfg.InitialState != nil {
		if req.InitialState, err = stateVector(cfg.InitialState, n, "backend_configuration.initial_state"); err != nil {
			return nil, err
		}
	}
	o := &observer{prog: prog, weights: map[int]int{}}
	if err := o.planAll(cfg, req.Runs, T, n); err != nil {
		return nil, err
	}
	if err := o.statesArePure(req, devType); err != nil {
		return nil, err
	}
	if len(o.stopsNs) > 0 {
		o.h = newHamiltonian(prog, nil)
		req.EvalTimes, req.Observe = o.stopsNs, o.observe
	}
	req.compiled = prog
	res, err := Run(ctx, req, progress)
	if err != nil {
		return nil, err
	}
	res.AtomOrder = append([]string(nil), prog.QubitIDs...)
	res.TotalDuration = T
	return res, o.collect(res, req.Seed)
}

// planAll resolves every observable's times and maps them to stops (ns).
func (o *observer) planAll(cfg *emulationconfig.Config, runs, T, n int) error {
	defaults := cfg.DefaultTimes
	if cfg.FullDefault {
		if T+1 > emulationconfig.MaxEvaluationTimes {
			return &InputError{Path: "backend_configuration.default_evaluation_times", Msg: fmt.Sprintf("\"Full\" means one evaluation per ns: %d, more than %d", T+1, emulationconfig.MaxEvaluationTimes)}
		}
		defaults = make([]float64, T+1)
		for k := range defaults {
			defaults[k] = float64(k) / float64(T)
		}
	}
	stopOf := map[int]int{}
	var nsList []int
	amps := 0 // StateResult amplitudes so far
	for i, ob := range cfg.Observables {
		field := fmt.Sprintf("backend_configuration.observables[%d]", i)
		p := &plannedObs{obs: ob, times: ob.Times, index: i}
		if p.times == nil {
			p.times = defaults
		}
		switch ob.Kind {
		case emulationconfig.BitStrings:
			p.shots = runs
			if ob.NumShots > 0 {
				p.shots = ob.NumShots
			} else if cfg.DefaultNumShots > 0 {
				p.shots = cfg.DefaultNumShots
			}
			p.final = len(p.times) == 1 && p.times[0] == 1 && p.shots == runs
		case emulationconfig.Expectation:
			if ob.Operator.NQudits != n {
				return &InputError{Path: field + ".operator.n_qudits", Msg: fmt.Sprintf("is %d but the register has %d atoms", ob.Operator.NQudits, n)}
			}
			p.op = compileOp(ob.Operator, n)
		case emulationconfig.Fidelity:
			ref, err := stateVector(ob.State, n, field+".state")
			if err != nil {
				return err
			}
			p.ref = ref
		case emulationconfig.Occupation, emulationconfig.CorrelationMatrix, emulationconfig.StateResult,
			emulationconfig.Energy, emulationconfig.EnergyVariance, emulationconfig.EnergySecondMoment:
		default:
			return &InputError{Path: field + ".observable", Msg: fmt.Sprintf("%q is not computed by this emulator", ob.Kind)}
		}
		if len(p.times) == 0 {
			return &InputError{Path: field + ".evaluation_times", Msg: "no evaluation time: give evaluation_times or default_evaluation_times"}
		}
		p.vals = make([][][]float64, len(p.times))
		p.counts = make([][]map[string]int64, len(p.times))
		p.states = make([][][]complex128, len(p.times))
		if ob.Kind == emulationconfig.StateResult {
			if amps += len(p.times) << n; amps > emulationconfig.MaxStateAmplitudes {
				return &InputError{Path: field, Msg: fmt.Sprintf("StateResult values hold 2^%d amplitudes per evaluation time; %d in all is more than the cap of %d (ask for fewer evaluation times or a smaller register)", n, amps, emulationconfig.MaxStateAmplitudes)}
			}
		}
		if !p.final {
			for _, t := range p.times {
				ns := int(math.Round(t * float64(T)))
				if _, ok := stopOf[ns]; !ok {
					stopOf[ns] = -1
					nsList = append(nsList, ns)
				}
			}
		}
		o.plan = append(o.plan, p)
	}
	sort.Ints(nsList)
	if len(nsList) > emulationconfig.MaxEvaluationTimes {
		return &InputError{Path: "backend_configuration.observables", Msg: fmt.Sprintf("%d distinct evaluation times (ns), more than %d", len(nsList), emulationconfig.MaxEvaluationTimes)}
	}
	for k, ns := range nsList {
		stopOf[ns] = k
	}
	o.stopsNs = nsList
	o.byStop = make([][]int, len(nsList))
	for pi, p := range o.plan {
		if p.final {
			continue
		}
		p.stops = make([]int, len(p.times))
		for ti, t := range p.times {
			k := stopOf[int(math.Round(t*float64(T)))]
			p.stops[ti] = k
			o.byStop[k] = append(o.byStop[k], pi)
		}
	}
	return nil
}

// statesArePure refuses a StateResult when the noise the run will use
// (the device's when preferred) draws several trajectories, whose states
// differ and which Pulser does not aggregate (SKIP_WARN). It is checked
// before the run; emulationconfig.Parse already refuses what the
// configuration alone shows.
func (o *observer) statesArePure(req Request, devType string) error {
	for _, p := range o.plan {
		if p.obs.Kind != emulationconfig.StateResult {
			continue
		}
		nm, err := resolveNoise(req, o.prog, devType)
		if err != nil {
			return err
		}
		e, err := newNoisyEngine(req, o.prog, nm)
		if err != nil {
			return err
		}
		if e.nTraj > 1 && (e.pert.ShotToShot() || len(e.ops) > 0 || (nm.Has(NoiseSPAM) && nm.StatePrepError > 0)) {
			return &InputError{Path: fmt.Sprintf("backend_configuration.observables[%d]", p.index),
				Msg: fmt.Sprintf("a StateResult is one pure state, and %d noise trajectories make different states that Pulser does not aggregate (SKIP_WARN): ask for it with n_trajectories 1 or without noise", e.nTraj)}
		}
		return nil
	}
	return nil
}

// observe computes the observables due at a snapshot's stop. Values are
// kept per group and combined in group order by collect, so the outcome
// does not depend on which goroutine ran first.
func (o *observer) observe(s *Snapshot) error {
	type item struct {
		p      *plannedObs
		ti     int
		vals   []float64
		counts map[string]int64
		state  []complex128
	}
	var out []item
	var hpsi []complex128
	var mom *moments
	n := len(o.prog.QubitIDs)
	t := min(o.stopsNs[s.Stop], o.prog.Duration-1)
	// One pass over the state for every occupation, correlation and
	// energy due here.
	needCorr, needMom := false, false
	for _, pi := range o.byStop[s.Stop] {
		switch o.plan[pi].obs.Kind {
		case emulationconfig.CorrelationMatrix:
			needCorr, needMom = true, true
		case emulationconfig.Occupation, emulationconfig.Energy:
			needMom = true
		}
	}
	if needMom {
		mom = stateMoments(s.Psi, n, needCorr, o.h.inter)
	}
	for _, pi := range o.byStop[s.Stop] {
		p := o.plan[pi]
		for ti, k := range p.stops {
			if k != s.Stop {
				continue
			}
			it := item{p: p, ti: ti}
			switch p.obs.Kind {
			case emulationconfig.BitStrings:
				it.counts = s.Sample(p.shots)
			case emulationconfig.Occupation:
				it.vals = mom.occupation(n)
			case emulationconfig.CorrelationMatrix:
				it.vals = mom.correlation(n)
			case emulationconfig.Energy:
				it.vals = []float64{o.energy(s.Psi, mom, t)}
			case emulationconfig.EnergyVariance, emulationconfig.EnergySecondMoment:
				if hpsi == nil {
					hpsi = o.applyH(s.Psi, t)
				}
				e := real(dot(s.Psi, hpsi))
				e2 := real(dot(hpsi, hpsi))
				switch p.obs.Kind {
				case emulationconfig.EnergySecondMoment:
					it.vals = []float64{e2}
				default:
					it.vals = []float64{e2 - e*e}
				}
			case emulationconfig.Expectation:
				v := dot(s.Psi, p.op.apply(s.Psi))
				it.vals = []float64{real(v), imag(v)}
			case emulationconfig.Fidelity:
				it.vals = []float64{math.Pow(cmplx.Abs(dot(p.ref, s.Psi)), 2)}
			case emulationconfig.StateResult:
				it.state = append([]complex128(nil), s.Psi...)
			}
			out = append(out, it)
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.weights[s.Group] = s.Weight
	o.groups = s.Groups
	for _, it := range out {
		switch {
		case it.state != nil:
			grow(&it.p.states[it.ti], s.Groups)[s.Group] = it.state
		case it.counts != nil:
			grow(&it.p.counts[it.ti], s.Groups)[s.Group] = it.counts
		default:
			grow(&it.p.vals[it.ti], s.Groups)[s.Group] = it.vals
		}
	}
	return nil
}

func grow[T any](s *[]T, n int) []T {
	if len(*s) < n {
		*s = append(*s, make([]T, n-len(*s))...)
	}
	return *s
}

// collect turns the per-group values into the result's observables.
func (o *observer) collect(res *Result, seed int64) error {
	total := 0
	for g := 0; g < o.groups; g++ {
		total += o.weights[g]
	}
	rng := newRNG(seed ^ 0x5eed)
	for _, p := range o.plan {
		ob := observed(p)
		for ti := range p.times {
			var v any
			switch {
			case p.final:
				v = res.Counter
			case p.obs.Kind == emulationconfig.StateResult:
				// One group: statesArePure refused several.
				v = stateRepr(p.states[ti][0], len(o.prog.QubitIDs))
			case p.obs.Kind == emulationconfig.BitStrings:
				v = shots.Merge(p.counts[ti], o.weights, total, p.shots, rng)
			default:
				v = o.mean(p, p.vals[ti], total)
			}
			raw, err := json.Marshal(v)
			if err != nil {
				return err
			}
			ob.Values = append(ob.Values, raw)
		}
		res.Observables = append(res.Observables, ob)
	}
	return nil
}

// observed starts the result entry of a planned observable.
func observed(p *plannedObs) engine.Observed {
	id := p.obs.UUID
	if id == "" {
		id = uuid.NewString()
	}
	agg := defaultAggregation[p.obs.Kind]
	if p.obs.Aggregation != nil {
		agg = *p.obs.Aggregation
	}
	return engine.Observed{Tag: p.obs.Tag(), UUID: id, Aggregation: agg, Times: append([]float64(nil), p.times...)}
}

// mean is the weighted mean over groups, shaped as Pulser serialises the observable.
func (o *observer) mean(p *plannedObs, perGroup [][]float64, total int) any {
	var acc []float64
	for g, v := range perGroup {
		if acc == nil {
			acc = make([]float64, len(v))
		}
		w := float64(o.weights[g]) / float64(total)
		for i := range v {
			acc[i] += w * v[i]
		}
	}
	n := len(o.prog.QubitIDs)
	switch p.obs.Kind {
	case emulationconfig.Occupation:
		return acc
	case emulationconfig.CorrelationMatrix:
		m := make([][]float64, n)
		for i := range m {
			m[i] = acc[i*n : (i+1)*n]
		}
		return m
	case emulationconfig.Expectation:
		if p.op.hermitian || acc[1] == 0 {
			return acc[0]
		}
		return map[string]float64{"real": acc[0], "imag": acc[1]}
	default:
		return acc[0]
	}
}

func dot(a, b []complex128) complex128 {
	var s complex128
	for i := range a {
		s += cmplx.Conj(a[i]) * b[i]
	}
	return s
}

// moments are what the due observables need of one state, computed in
// one pass over its amplitudes: the occupation and correlations by bit
// position and the interaction energy Σ_s |ψ_s|²·U(s).
//
// The pass splits a basis state s into its high and low halves (h, l) and
// sums the probabilities per low half (col) and per high half (row), which
// give ⟨nᵢ⟩ and ⟨nᵢnⱼ⟩ for bits in the same half at the cost of 2^(n/2)
// patterns; for a high bit i and a low bit j, ⟨nᵢnⱼ⟩ = Σ_h bᵢ(h)·m_h[j],
// m_h[j] the probability within row h that bit j is set. So the pass costs
// about 2 + (n/2)/2 additions per amplitude (plus the low bits of l for
// correlations), where summing pairs per basis state cost (n/2)²/2.
type moments struct {
	occ   []float64 // by bit position
	corr  []float64 // by bit position, n×n, upper triangle and diagonal
	inter float64
}

func stateMoments(psi []complex128, n int, corr bool, inter []float64) *moments {
	lo := n / 2
	hi := n - lo
	col := make([]float64, 1<<lo)
	row := make([]float64, 1<<hi)
	var m []float64 // per row, per low bit
	if corr {
		m = make([]float64, (1<<hi)*lo)
	}
	ie := 0.0
	for h := range row {
		base := h << lo
		seg := psi[base : base+len(col)]
		r := 0.0
		var mh []float64
		if corr {
			mh = m[h*lo : (h+1)*lo]
		}
		for l, a := range seg {
			p := real(a)*real(a) + imag(a)*imag(a)
			col[l] += p
			r += p
			if inter != nil {
				ie += p * inter[base+l]
			}
			if corr {
				for b := uint(l); b != 0; b &= b - 1 {
					mh[bits.TrailingZeros(b)] += p
				}
			}
		}
		row[h] = r
	}
	out := &moments{occ: make([]float64, n), inter: ie}
	// Within a half: ⟨nᵢnⱼ⟩ from its marginal (i = j gives ⟨nᵢ⟩).
	half := func(marg []float64, shift int, pairs bool) {
		for pat, p := range marg {
			if p == 0 {
				continue
			}
			for b := uint(pat); b != 0; b &= b - 1 {
				x := bits.TrailingZeros(b)
				out.occ[x+shift] += p
				if !pairs {
					continue
				}
				for c := b & (b - 1); c != 0; c &= c - 1 {
					out.corr[(x+shift)*n+bits.TrailingZeros(c)+shift] += p
				}
			}
		}
	}
	if corr {
		out.corr = make([]float64, n*n)
	}
	half(col, 0, corr)
	half(row, lo, corr)
	if corr {
		for x := 0; x < n; x++ {
			out.corr[x*n+x] = out.occ[x]
		}
		for h := range row {
			mh := m[h*lo : (h+1)*lo]
			for b := uint(h); b != 0; b &= b - 1 {
				x := bits.TrailingZeros(b) + lo
				for y, v := range mh {
					out.corr[y*n+x] += v
				}
			}
		}
	}
	return out
}

// occupation is ⟨nᵢ⟩ in register order.
func (m *moments) occupation(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = m.occ[bitOf(n, i)]
	}
	return out
}

// correlation is ⟨nᵢnⱼ⟩ in register order, row-major.
func (m *moments) correlation(n int) []float64 {
	out := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			bi, bj := int(bitOf(n, i)), int(bitOf(n, j))
			v := m.corr[min(bi, bj)*n+max(bi, bj)]
			out[i*n+j], out[j*n+i] = v, v
		}
	}
	return out
}

// energy is ⟨H(t)⟩ for the noiseless Hamiltonian at ns t, from the
// moments (interaction and detuning terms) and, per driven atom i,
// 2·Re(cᵢ·Σ_{s: bit clear} ψ*_{s|m} ψ_s), cᵢ = ⟨r|H|g⟩ᵢ.
func (o *observer) energy(psi []complex128, m *moments, t int) float64 {
	n := len(o.prog.QubitIDs)
	e := m.inter
	for i := 0; i < n; i++ {
		e -= o.prog.Det[i][t] * m.occ[bitOf(n, i)]
		c := o.prog.Drive[i][t] / 2
		if c == 0 {
			continue
		}
		mask := 1 << bitOf(n, i)
		var x complex128
		for hi := 0; hi < len(psi); hi += 2 * mask {
			g, r := psi[hi:hi+mask], psi[hi+mask:hi+2*mask]
			for k, a := range g {
				b := r[k]
				x += complex(real(b)*real(a)+imag(b)*imag(a), real(b)*imag(a)-imag(b)*real(a))
			}
		}
		e += 2 * real(c*x)
	}
	return e
}

// applyH returns H(t)ψ for the noiseless Hamiltonian at ns t: the diagonal
// from the interaction table and per-half detuning tables, then each
// driven atom's pair of amplitudes.
func (o *observer) applyH(psi []complex128, t int) []complex128 {
	n := len(o.prog.QubitIDs)
	lo := n / 2
	detLo, detHi := make([]float64, 1<<lo), make([]float64, 1<<(n-lo))
	for i := 0; i < n; i++ {
		b, d := int(bitOf(n, i)), o.prog.Det[i][t]
		tab, bit := detLo, b
		if b >= lo {
			tab, bit = detHi, b-lo
		}
		for pat := range tab {
			if pat>>bit&1 == 1 {
				tab[pat] -= d
			}
		}
	}
	out := make([]complex128, len(psi))
	for h, dh := range detHi {
		base := h << lo
		for l, dl := range detLo {
			s := base + l
			out[s] = complex(o.h.inter[s]+dh+dl, 0) * psi[s]
		}
	}
	for i := 0; i < n; i++ {
		c := o.prog.Drive[i][t] / 2 // ⟨r|H|g⟩ on atom i
		if c == 0 {
			continue
		}
		cc := cmplx.Conj(c)
		mask := 1 << bitOf(n, i)
		for hi := 0; hi < len(psi); hi += 2 * mask {
			g, r := psi[hi:hi+mask], psi[hi+mask:hi+2*mask]
			og, or := out[hi:hi+mask], out[hi+mask:hi+2*mask]
			for k := range g {
				or[k] += c * g[k]
				og[k] += cc * r[k]
			}
		}
	}
	return out
}

// stateRepr is Pulser's abstract repr of a state (State._to_abstract_repr):
// the eigenstates ["r", "g"] and the amplitude of each basis state spelled
// with them, character i for atom i, as {"real", "imag"}. Basis states of
// amplitude exactly 0 are left out, as from_state_amplitudes allows.
func stateRepr(psi []complex128, n int) any {
	type cplx struct {
		Real float64 `json:"real"`
		Imag float64 `json:"imag"`
	}
	amps := make(map[string]cplx, len(psi))
	word := make([]byte, n)
	for s, a := range psi {
		if a == 0 {
			continue
		}
		for i := 0; i < n; i++ {
			word[i] = 'g'
			if s>>bitOf(n, i)&1 == 1 {
				word[i] = 'r'
			}
		}
		amps[string(word)] = cplx{real(a), imag(a)}
	}
	return struct {
		Eigenstates []string        `json:"eigenstates"`
		Amplitudes  map[string]cplx `json:"amplitudes"`
	}{[]string{"r", "g"}, amps}
}

// excited reports whether an eigenstate letter is the excited (Rydberg) one.
func excited(c byte) bool { return c == 'r' || c == '1' }

// stateVector turns a state abstract repr into amplitudes in this engine's
// basis (character i of a basis state is atom i), normalised.
func stateVector(st *emulationconfig.State, n int, field string) ([]complex128, error) {
	psi := make([]complex128, 1<<n)
	norm := 0.0
	for k, a := range st.Amplitudes {
		if len(k) != n {
			return nil, &InputError{Path: field + ".amplitudes", Msg: fmt.Sprintf("basis state %q has %d qudits but the register has %d atoms", k, len(k), n)}
		}
		s := 0
		for i := 0; i < n; i++ {
			if excited(k[i]) {
				s |= 1 << bitOf(n, i)
			}
		}
		psi[s] += a
	}
	for _, a := range psi {
		norm += real(a)*real(a) + imag(a)*imag(a)
	}
	if norm == 0 {
		return nil, &InputError{Path: field + ".amplitudes", Msg: "the state has norm 0"}
	}
	f := complex(1/math.Sqrt(norm), 0)
	for i := range psi {
		psi[i] *= f
	}
	return psi, nil
}

// compiledOp is an operator abstract repr as terms of one-atom operators.
type compiledOp struct {
	terms     []opTerm
	hermitian bool
}

type opTerm struct {
	coeff complex128
	ops   []struct {
		bit int
		m   localOp
	}
}

func compileOp(op *emulationconfig.Operator, n int) *compiledOp {
	c := &compiledOp{}
	for _, t := range op.Terms {
		ot := opTerm{coeff: t.Coeff}
		for _, f := range t.Factors {
			var m localOp
			for key, v := range f.Elements {
				r, col := 0, 0
				if excited(key[0]) {
					r = 1
				}
				if excited(key[1]) {
					col = 1
				}
				m[r][col] += v
			}
			for _, q := range f.Targets {
				ot.ops = append(ot.ops, struct {
					bit int
					m   localOp
				}{int(bitOf(n, q)), m})
			}
		}
		c.terms = append(c.terms, ot)
	}
	c.hermitian = c.isHermitian(n)
	return c
}

// isHermitian compares ⟨x|A|y⟩ with conj⟨y|A|x⟩ on random vectors.
func (c *compiledOp) isHermitian(n int) bool {
	if n > 12 {
		return false
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x, y := make([]complex128, 1<<n), make([]complex128, 1<<n)
	for i := range x {
		x[i] = complex(rng.NormFloat64(), rng.NormFloat64())
		y[i] = complex(rng.NormFloat64(), rng.NormFloat64())
	}
	a, b := dot(x, c.apply(y)), cmplx.Conj(dot(y, c.apply(x)))
	return cmplx.Abs(a-b) <= 1e-9*(1+cmplx.Abs(a))
}

func (c *compiledOp) apply(psi []complex128) []complex128 {
	out := make([]complex128, len(psi))
	tmp := make([]complex128, len(psi))
	for _, t := range c.terms {
		copy(tmp, psi)
		for _, f := range t.ops {
			applyLocal(tmp, f.bit, f.m)
		}
		for i := range out {
			out[i] += t.coeff * tmp[i]
		}
	}
	return out
}
