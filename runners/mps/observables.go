package mps

import (
	"fmt"
	"math"
	"math/cmplx"
	"math/rand/v2"

	"github.com/tweezer-dev/tweezer/internal/emulationconfig"
	jobs "github.com/tweezer-dev/tweezer/runners/engine"
	"github.com/tweezer-dev/tweezer/runners/shots"
)

// Observables of an EmulationConfig on the MPS, with the state-vector
// engine's semantics (runners/emulator/observables.go): each is computed
// on the state of each trajectory group at its evaluation times, and the
// groups' values are averaged by weight (Pulser's MEAN); BitStrings are
// the union of shots drawn in proportion to the groups (BAG_UNION).

// planned is one observable with its evaluation times and, per time and
// group, its values.
type planned struct {
	obs   emulationconfig.Observable
	times []float64 // relative
	ns    []int     // per time, the ns it is evaluated at
	shots int       // BitStrings
	final bool      // BitStrings read from the job's final shots
	terms []ProductTerm
	herm  bool                 // Expectation: the operator is Hermitian
	ref   []basisAmp           // Fidelity: the reference state, normalised
	vals  [][][]float64        // [time][group]
	count [][]map[string]int64 // BitStrings: [time][group]
}

// basisAmp is one amplitude of a state given by its basis states.
type basisAmp struct {
	x []bool // register order, true = |r⟩
	a complex128
}

func planObservables(em *emulationconfig.Config, runs, T, n, nGroups int) ([]*planned, error) {
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
		field := fmt.Sprintf("backend_configuration.observables[%d]", i)
		p := &planned{obs: ob, times: ob.Times}
		if p.times == nil {
			p.times = defaults
		}
		if len(p.times) == 0 {
			return nil, &jobs.InputError{Path: field + ".evaluation_times", Msg: "no evaluation time: give evaluation_times or default_evaluation_times"}
		}
		switch ob.Kind {
		case emulationconfig.BitStrings:
			p.shots = runs
			if ob.NumShots > 0 {
				p.shots = ob.NumShots
			} else if em.DefaultNumShots > 0 {
				p.shots = em.DefaultNumShots
			}
			p.final = len(p.times) == 1 && p.times[0] == 1 && p.shots == runs
		case emulationconfig.Expectation:
			if ob.Operator.NQudits != n {
				return nil, &jobs.InputError{Path: field + ".operator.n_qudits", Msg: fmt.Sprintf("is %d but the register has %d atoms", ob.Operator.NQudits, n)}
			}
			p.terms = productTerms(ob.Operator)
			p.herm = hermitian(p.terms, n)
		case emulationconfig.Fidelity:
			ref, err := basisAmps(ob.State, n, field+".state")
			if err != nil {
				return nil, err
			}
			p.ref = ref
		case emulationconfig.Occupation, emulationconfig.CorrelationMatrix,
			emulationconfig.Energy, emulationconfig.EnergyVariance, emulationconfig.EnergySecondMoment:
		default:
			return nil, &jobs.InputError{Path: field + ".observable",
				Msg: fmt.Sprintf("%q is not computed by the MPS engine (it computes bitstrings, occupation, correlation_matrix, energy, energy_second_moment, energy_variance, expectation, fidelity)", ob.Kind)}
		}
		for _, t := range p.times {
			p.ns = append(p.ns, int(math.Round(t*float64(T))))
		}
		p.vals = make([][][]float64, len(p.times))
		p.count = make([][]map[string]int64, len(p.times))
		for ti := range p.times {
			p.vals[ti] = make([][]float64, nGroups)
			p.count[ti] = make([]map[string]int64, nGroups)
		}
		out = append(out, p)
	}
	return out, nil
}

// observe computes the observable at time index ti on group g's state.
func (p *planned) observe(ti, g int, st *State, energy func() (float64, float64, error), sampleFn func(int) map[string]int64) error {
	var v []float64
	switch p.obs.Kind {
	case emulationconfig.BitStrings:
		p.count[ti][g] = sampleFn(p.shots)
		return nil
	case emulationconfig.Occupation:
		v = st.Occupation()
	case emulationconfig.CorrelationMatrix:
		for _, row := range st.Correlation() {
			v = append(v, row...)
		}
	case emulationconfig.Expectation:
		c := st.Expect(p.terms)
		v = []float64{real(c), imag(c)}
	case emulationconfig.Fidelity:
		var ov complex128
		for _, r := range p.ref {
			ov += cmplx.Conj(r.a) * st.Amplitude(r.x)
		}
		v = []float64{real(ov)*real(ov) + imag(ov)*imag(ov)}
	default:
		e, e2, err := energy()
		if err != nil {
			return err
		}
		switch p.obs.Kind {
		case emulationconfig.Energy:
			v = []float64{e}
		case emulationconfig.EnergySecondMoment:
			v = []float64{e2}
		default:
			v = []float64{e2 - e*e}
		}
	}
	p.vals[ti][g] = v
	return nil
}

// value is the observable at time index ti over the groups, shaped as
// Pulser serialises it.
func (p *planned) value(ti int, gs []*group, total int, final map[string]int64, rng *rand.Rand) any {
	switch {
	case p.final:
		return final
	case p.obs.Kind == emulationconfig.BitStrings:
		weights := map[int]int{}
		for g, gr := range gs {
			weights[g] = gr.weight
		}
		return shots.Merge(p.count[ti], weights, total, p.shots, rng)
	}
	var acc []float64
	for g, v := range p.vals[ti] {
		if acc == nil {
			acc = make([]float64, len(v))
		}
		w := float64(gs[g].weight) / float64(total)
		for i := range v {
			acc[i] += w * v[i]
		}
	}
	switch p.obs.Kind {
	case emulationconfig.Occupation:
		return acc
	case emulationconfig.CorrelationMatrix:
		n := int(math.Round(math.Sqrt(float64(len(acc)))))
		m := make([][]float64, n)
		for i := range m {
			m[i] = acc[i*n : (i+1)*n]
		}
		return m
	case emulationconfig.Expectation:
		if p.herm || acc[1] == 0 {
			return acc[0]
		}
		return map[string]float64{"real": acc[0], "imag": acc[1]}
	}
	return acc[0]
}

// excited reports whether an eigenstate letter is the Rydberg one.
func excited(c byte) bool { return c == 'r' || c == '1' }

// basisAmps reads a state abstract repr (character i of a basis state is
// atom i), summing repeated basis states and normalising.
func basisAmps(st *emulationconfig.State, n int, field string) ([]basisAmp, error) {
	idx := map[string]int{}
	var out []basisAmp
	norm := 0.0
	for k, a := range st.Amplitudes {
		if len(k) != n {
			return nil, &jobs.InputError{Path: field + ".amplitudes", Msg: fmt.Sprintf("basis state %q has %d qudits but the register has %d atoms", k, len(k), n)}
		}
		x := make([]bool, n)
		key := make([]byte, n)
		for i := 0; i < n; i++ {
			x[i] = excited(k[i])
			key[i] = '0'
			if x[i] {
				key[i] = '1'
			}
		}
		if j, ok := idx[string(key)]; ok {
			out[j].a += a
			continue
		}
		idx[string(key)] = len(out)
		out = append(out, basisAmp{x: x, a: a})
	}
	for _, b := range out {
		norm += real(b.a)*real(b.a) + imag(b.a)*imag(b.a)
	}
	if !(norm > 0) || math.IsInf(norm, 0) {
		return nil, &jobs.InputError{Path: field + ".amplitudes", Msg: "the state has zero or non-finite norm"}
	}
	f := complex(1/math.Sqrt(norm), 0)
	for i := range out {
		out[i].a *= f
	}
	return out, nil
}

// productState factors a state abstract repr into one (|g⟩, |r⟩) pair per
// atom, or refuses it as entangled: the MPS engine starts from product
// states. The factors are read off the largest amplitude x₀ and its
// one-atom flips, then every basis state is checked against their product
// (and the support must be the whole Cartesian product).
func productState(st *emulationconfig.State, n int, field string) ([][2]complex128, error) {
	amps, err := basisAmps(st, n, field)
	if err != nil {
		return nil, err
	}
	byKey := map[string]complex128{}
	key := func(x []bool) string {
		b := make([]byte, len(x))
		for i, v := range x {
			b[i] = '0'
			if v {
				b[i] = '1'
			}
		}
		return string(b)
	}
	ref, big := 0, 0.0
	for i, b := range amps {
		byKey[key(b.x)] = b.a
		if a := cmplx.Abs(b.a); a > big {
			ref, big = i, a
		}
	}
	x0, a0 := amps[ref].x, amps[ref].a
	out := make([][2]complex128, n)
	support := 1
	for i := 0; i < n; i++ {
		flip := append([]bool(nil), x0...)
		flip[i] = !flip[i]
		own := 0
		if x0[i] {
			own = 1
		}
		out[i][own] = 1
		if a, ok := byKey[key(flip)]; ok && a != 0 {
			out[i][1-own] = a / a0
			support *= 2
		}
	}
	nonzero := 0
	for _, b := range amps {
		if b.a == 0 {
			continue
		}
		nonzero++
		want := a0
		for i, v := range b.x {
			bi := 0
			if v {
				bi = 1
			}
			want *= out[i][bi]
		}
		if cmplx.Abs(b.a-want) > 1e-9*big {
			return nil, &jobs.InputError{Path: field, Msg: fmt.Sprintf("the MPS engine starts from product states only, and this state is entangled (the amplitude of %q is not the product of the atoms' amplitudes)", key(b.x))}
		}
	}
	if nonzero != support {
		return nil, &jobs.InputError{Path: field, Msg: "the MPS engine starts from product states only, and this state is entangled (its basis states do not form a product of per-atom choices)"}
	}
	for i := range out {
		nv := math.Sqrt(real(out[i][0])*real(out[i][0]) + imag(out[i][0])*imag(out[i][0]) + real(out[i][1])*real(out[i][1]) + imag(out[i][1])*imag(out[i][1]))
		out[i][0] /= complex(nv, 0)
		out[i][1] /= complex(nv, 0)
	}
	// The global phase of x₀'s amplitude.
	ph := a0 / complex(cmplx.Abs(a0), 0)
	out[0][0] *= ph
	out[0][1] *= ph
	return out, nil
}

// productTerms turns an operator abstract repr into product terms; factors
// on the same atom compose in the order given (a later factor acts after).
func productTerms(op *emulationconfig.Operator) []ProductTerm {
	var out []ProductTerm
	for _, t := range op.Terms {
		pt := ProductTerm{Coeff: t.Coeff, Ops: map[int][2][2]complex128{}}
		for _, f := range t.Factors {
			var m [2][2]complex128
			for k, v := range f.Elements {
				r, c := 0, 0
				if excited(k[0]) {
					r = 1
				}
				if excited(k[1]) {
					c = 1
				}
				m[r][c] += v
			}
			for _, q := range f.Targets {
				if prev, ok := pt.Ops[q]; ok {
					pt.Ops[q] = mul2(m, prev)
				} else {
					pt.Ops[q] = m
				}
			}
		}
		out = append(out, pt)
	}
	return out
}

func mul2(a, b [2][2]complex128) [2][2]complex128 {
	var c [2][2]complex128
	for i := 0; i < 2; i++ {
		for j := 0; j < 2; j++ {
			c[i][j] = a[i][0]*b[0][j] + a[i][1]*b[1][j]
		}
	}
	return c
}

// hermitian compares ⟨x|A|y⟩ with conj⟨y|A|x⟩ on random product vectors
// x, y of unit norm: A - A† ≠ 0 is a non-zero multilinear form in the
// atoms' vectors, so it vanishes on random ones only by accident.
func hermitian(terms []ProductTerm, n int) bool {
	rng := rand.New(rand.NewPCG(1, 2))
	vec := func() [][2]complex128 {
		v := make([][2]complex128, n)
		for i := range v {
			a, b := complex(rng.NormFloat64(), rng.NormFloat64()), complex(rng.NormFloat64(), rng.NormFloat64())
			nv := complex(math.Hypot(cmplx.Abs(a), cmplx.Abs(b)), 0)
			v[i] = [2]complex128{a / nv, b / nv}
		}
		return v
	}
	form := func(x, y [][2]complex128) (complex128, float64) {
		var s complex128
		scale := 0.0
		for _, t := range terms {
			p := t.Coeff
			for i := 0; i < n; i++ {
				m, ok := t.Ops[i]
				if !ok {
					m = [2][2]complex128{{1, 0}, {0, 1}}
				}
				var e complex128
				for r := 0; r < 2; r++ {
					for c := 0; c < 2; c++ {
						e += cmplx.Conj(x[i][r]) * m[r][c] * y[i][c]
					}
				}
				p *= e
			}
			s += p
			scale += cmplx.Abs(p)
		}
		return s, scale
	}
	for k := 0; k < 3; k++ {
		x, y := vec(), vec()
		a, sa := form(x, y)
		b, sb := form(y, x)
		if cmplx.Abs(a-cmplx.Conj(b)) > 1e-9*(1e-300+sa+sb) {
			return false
		}
	}
	return true
}
