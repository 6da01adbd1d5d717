package mps

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// State is a final MPS: site 0 carries the norm, sites 1..N-1 are
// right-canonical. Results are in the register's atom order.
type State struct {
	sites []*site
	order []int // order[site] = register index
	h     *hamiltonianMPO
	// memLimit bounds what Energy may allocate (0: 3/4 of the available memory).
	memLimit uint64
}

// Order returns the MPS order: Order()[site] is the register index.
func (s *State) Order() []int { return append([]int(nil), s.order...) }

// BondDims returns the N-1 bond dimensions in MPS order.
func (s *State) BondDims() []int {
	out := make([]int, len(s.sites)-1)
	for i := range out {
		out[i] = s.sites[i].dr
	}
	return out
}

func oneOp(op op2) *mpoSite {
	return &mpoSite{wl: 1, wr: 1, terms: []term{{0, 0, op}}}
}

func (e *env) scalar() float64 { return real(e.e[0]) }

func (e *env) trace() float64 {
	t := 0.0
	for i := 0; i < e.d; i++ {
		t += real(e.e[i*e.d+i])
	}
	return t
}

// Norm returns ⟨ψ|ψ⟩.
func (s *State) Norm() float64 {
	return extendLeft(nil, trivialEnv(), s.sites[0], oneOp(opId)).trace()
}

// Occupation returns ⟨nₐ⟩ per atom (register order).
func (s *State) Occupation() []float64 {
	out := make([]float64, len(s.sites))
	e := trivialEnv()
	for i, a := range s.sites {
		out[s.order[i]] = extendLeft(nil, e, a, oneOp(opN)).trace()
		e = extendLeft(nil, e, a, oneOp(opId))
	}
	return out
}

// Correlation returns ⟨nₐn_b⟩ (register order); the diagonal is ⟨nₐ⟩.
func (s *State) Correlation() [][]float64 {
	n := len(s.sites)
	out := make([][]float64, n)
	for i := range out {
		out[i] = make([]float64, n)
	}
	e := trivialEnv()
	for i, a := range s.sites {
		f := extendLeft(nil, e, a, oneOp(opN))
		out[s.order[i]][s.order[i]] = f.trace()
		for j := i + 1; j < n; j++ {
			c := extendLeft(nil, f, s.sites[j], oneOp(opN)).trace()
			out[s.order[i]][s.order[j]], out[s.order[j]][s.order[i]] = c, c
			f = extendLeft(nil, f, s.sites[j], oneOp(opId))
		}
		e = extendLeft(nil, e, a, oneOp(opId))
	}
	return out
}

// Energy returns ⟨H⟩ and ⟨H²⟩ (rad/µs and its square) for the
// Hamiltonian at the state's time (the sequence's last ns sample for the
// final state), contracted through the MPO and its square. The square's
// bond dimension is the MPO's squared, so its environments take
// w²·χ² amplitudes: when that exceeds the run's MemoryLimit (default 3/4
// of the available memory) the
// second moment is refused with a *MemoryError and only the mean is
// returned.
func (s *State) Energy() (mean, second float64, err error) {
	mean = s.expect(s.h.w)
	sq := s.h.w.squared()
	limit := s.memLimit
	if limit == 0 {
		limit = uint64(0.75 * float64(availableMemory()))
	}
	if need := s.envBytes(sq); limit > 0 && need > limit {
		return mean, 0, &MemoryError{Atoms: len(s.sites), MaxBondDim: slices.Max(append(s.BondDims(), 1)), Estimate: need, Limit: limit, What: "energy_second_moment"}
	}
	return mean, s.expect(sq), nil
}

// envBytes bounds the memory of contracting w through the state: the
// environment and the two intermediates of extendLeft at the widest bond.
func (s *State) envBytes(w mpo) uint64 {
	var peak uint64
	for i, a := range s.sites {
		b := uint64(16) * (uint64(w[i].wl)*uint64(a.dl*a.dl) + 2*uint64(max(w[i].wl, w[i].wr))*uint64(2*a.dl*a.dr) + uint64(w[i].wr)*uint64(a.dr*a.dr))
		peak = max(peak, b)
	}
	return peak
}

func (s *State) expect(w mpo) float64 {
	e := trivialEnv()
	for i, a := range s.sites {
		e = extendLeft(nil, e, a, &w[i])
	}
	return e.scalar()
}

// Sample draws shots bitstrings ("1" = Rydberg, first atom leftmost) by
// perfect sampling: site by site, each outcome drawn from its probability
// conditioned on the outcomes drawn so far (exact because the sites to the
// right are right-canonical).
func (s *State) Sample(shots int, rng *rand.Rand) []string {
	n := len(s.sites)
	out := make([]string, shots)
	buf := make([]byte, n)
	v := make([]complex128, 0, 1024)
	w := [2][]complex128{}
	for k := 0; k < shots; k++ {
		v = append(v[:0], 1)
		for i, a := range s.sites {
			for b := 0; b < 2; b++ {
				w[b] = grow(w[b], a.dr)
				clear(w[b])
			}
			for l, x := range v {
				if x == 0 {
					continue
				}
				row := a.a[l*2*a.dr : (l+1)*2*a.dr]
				axpy(w[0], row[:a.dr], x)
				axpy(w[1], row[a.dr:], x)
			}
			p0, p1 := norm2(w[0]), norm2(w[1])
			bit := 0
			if rng.Float64()*(p0+p1) >= p0 {
				bit = 1
			}
			buf[s.order[i]] = '0' + byte(bit)
			scale := complex(1/math.Sqrt(math.Max([2]float64{p0, p1}[bit], 1e-300)), 0)
			v = grow(v, a.dr)
			for r := range v {
				v[r] = w[bit][r] * scale
			}
		}
		out[k] = string(buf)
	}
	return out
}

func grow(x []complex128, n int) []complex128 {
	if cap(x) < n {
		return make([]complex128, n)
	}
	return x[:n]
}

// MaxProbabilityAtoms bounds Probabilities: it lists up to 2^N bitstrings.
const MaxProbabilityAtoms = 20

// Probabilities returns the exact distribution of bitstrings (register
// order), leaving out those below minP, for at most MaxProbabilityAtoms
// atoms: each amplitude is contracted from the left, depth first.
func (s *State) Probabilities(minP float64) (map[string]float64, error) {
	n := len(s.sites)
	if n > MaxProbabilityAtoms {
		return nil, fmt.Errorf("mps: listing all bitstrings of %d atoms is not supported (at most %d)", n, MaxProbabilityAtoms)
	}
	out := map[string]float64{}
	buf := make([]byte, n)
	var walk func(i int, v []complex128)
	walk = func(i int, v []complex128) {
		if i == n {
			if p := norm2(v); p >= minP && p > 0 {
				out[string(buf)] = p
			}
			return
		}
		a := s.sites[i]
		for b := 0; b < 2; b++ {
			w := make([]complex128, a.dr)
			for l, x := range v {
				axpy(w, a.a[(l*2+b)*a.dr:(l*2+b+1)*a.dr], x)
			}
			if norm2(w) == 0 {
				continue
			}
			buf[s.order[i]] = '0' + byte(b)
			walk(i+1, w)
		}
	}
	walk(0, []complex128{1})
	return out, nil
}

// Amplitude returns ⟨x|ψ⟩ for a basis state x given per atom in register
// order (true = |r⟩).
func (s *State) Amplitude(x []bool) complex128 {
	v := []complex128{1}
	for i, a := range s.sites {
		b := 0
		if x[s.order[i]] {
			b = 1
		}
		w := make([]complex128, a.dr)
		for l, c := range v {
			axpy(w, a.a[(l*2+b)*a.dr:(l*2+b+1)*a.dr], c)
		}
		v = w
	}
	return v[0]
}

// ProductTerm is Coeff times a tensor product of one-atom operators: Ops
// maps a register index to its 2×2 matrix ⟨s'|O|s⟩ (index 0 = |g⟩, 1 =
// |r⟩); atoms not listed carry the identity.
type ProductTerm struct {
	Coeff complex128
	Ops   map[int][2][2]complex128
}

// Expect returns ⟨ψ|A|ψ⟩ for A the sum of the terms, each contracted
// through the state as a bond-dimension-1 MPO.
func (s *State) Expect(terms []ProductTerm) complex128 {
	var sum complex128
	for _, t := range terms {
		e := trivialEnv()
		for i, a := range s.sites {
			op := opId
			if m, ok := t.Ops[s.order[i]]; ok {
				op = op2{m[0][0], m[0][1], m[1][0], m[1][1]}
			}
			e = extendLeft(nil, e, a, oneOp(op))
		}
		sum += t.Coeff * e.e[0]
	}
	return sum
}
