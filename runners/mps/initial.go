package mps

import (
	"fmt"
	"math"
)

// An entangled initial state arrives as a sum of basis states with
// amplitudes (Pulser's state abstract repr). Each term is a product MPS of
// bond dimension 1; their direct sum is an exact MPS of bond dimension
// the number of terms, which a compressing sweep brings down to the
// state's Schmidt ranks. Terms are summed in batches, compressing after
// each, so the intermediate bond stays below rank + initialBatch.

// initialBatch is the number of terms added between two compressions.
const initialBatch = 64

// initialPrecision is the truncation of the compressing sweep: singular
// values whose squared weight is below initialPrecision² of the total are
// rounding noise of an exact decomposition.
const initialPrecision = 1e-12

// basisMPS builds the MPS (sites in the given order: order[site] is the
// atom's register index) of Σ_k amps[k]·|x_k⟩, x_k a bitstring in
// register order ('1' = |r⟩), normalised, with sites 1..N-1
// right-canonical and the norm on site 0 (the engine's form). No bond
// exceeds maxBond; the relative weight dropped to respect it is returned
// (0 when the state fits).
func basisMPS(amps []basisAmp, order []int, maxBond int) ([]*site, float64, error) {
	n := len(order)
	if len(amps) == 0 {
		return nil, 0, fmt.Errorf("the state has no basis state")
	}
	var acc []*site
	discarded := 0.0
	for start := 0; start < len(amps); start += initialBatch {
		for _, b := range amps[start:min(start+initialBatch, len(amps))] {
			term := make([]*site, n)
			for i, a := range order {
				t := &site{dl: 1, dr: 1, a: make([]complex128, 2)}
				s := 0
				if b.x[a] {
					s = 1
				}
				t.a[s] = 1
				if i == 0 {
					t.a[s] = b.a
				}
				term[i] = t
			}
			if acc == nil {
				acc = term
			} else {
				acc = directSum(acc, term)
			}
		}
		d, err := compress(acc, initialPrecision, maxBond)
		if err != nil {
			return nil, 0, err
		}
		discarded += d
	}
	nrm := math.Sqrt(norm2(acc[0].a))
	if !(nrm > 0) || math.IsInf(nrm, 0) {
		return nil, 0, fmt.Errorf("the state has zero or non-finite norm")
	}
	for k := range acc[0].a {
		acc[0].a[k] /= complex(nrm, 0)
	}
	return acc, discarded, nil
}

// directSum returns the MPS of |a⟩ + |b⟩: block-diagonal sites, the first
// site's blocks side by side and the last's stacked.
func directSum(a, b []*site) []*site {
	n := len(a)
	out := make([]*site, n)
	for i := range out {
		x, y := a[i], b[i]
		dl, dr := x.dl+y.dl, x.dr+y.dr
		lo, ro := x.dl, x.dr // offsets of y's block
		if i == 0 {
			dl, lo = 1, 0
		}
		if i == n-1 {
			dr, ro = 1, 0
		}
		s := &site{dl: dl, dr: dr, a: make([]complex128, dl*2*dr)}
		put := func(src *site, l0, r0 int) {
			for l := 0; l < src.dl; l++ {
				for p := 0; p < 2; p++ {
					for r := 0; r < src.dr; r++ {
						s.a[((l0+l)*2+p)*dr+r0+r] += src.a[(l*2+p)*src.dr+r]
					}
				}
			}
		}
		put(x, 0, 0)
		put(y, lo, ro)
		out[i] = s
	}
	return out
}

// compress brings an MPS to the engine's form in place: a left-to-right
// sweep of SVDs keeps the numerically non-zero singular values (the exact
// left ranks, sites left-canonical), then a right-to-left sweep truncates
// by precision and maxBond (truncation) and leaves sites 1..N-1
// right-canonical, the norm on site 0. It returns the relative weight
// the right-to-left sweep dropped.
func compress(sites []*site, precision float64, maxBond int) (float64, error) {
	n := len(sites)
	for i := 0; i < n-1; i++ {
		a := sites[i]
		s, err := svdOf(a.a, 2*a.dl, a.dr)
		if err != nil {
			return 0, fmt.Errorf("bond %d: %w", i, err)
		}
		k, _ := truncation(s.S, initialPrecision*1e-2, s.k)
		u := make([]complex128, 2*a.dl*k)
		for row := 0; row < 2*a.dl; row++ {
			copy(u[row*k:(row+1)*k], s.U[row*s.k:row*s.k+k])
		}
		sv := make([]complex128, k*a.dr) // S·V†, k×dr
		for j := 0; j < k; j++ {
			for c := 0; c < a.dr; c++ {
				sv[j*a.dr+c] = complex(s.S[j], 0) * s.Vh[j*a.dr+c]
			}
		}
		b := sites[i+1]
		nb := make([]complex128, k*2*b.dr)
		matMul(nb, sv, b.a, k, a.dr, 2*b.dr)
		sites[i] = &site{dl: a.dl, dr: k, a: u}
		sites[i+1] = &site{dl: k, dr: b.dr, a: nb}
	}
	discarded := 0.0
	for i := n - 1; i > 0; i-- {
		a := sites[i]
		s, err := svdOf(a.a, a.dl, 2*a.dr)
		if err != nil {
			return 0, fmt.Errorf("bond %d: %w", i-1, err)
		}
		k, d := truncation(s.S, precision, maxBond)
		discarded += d
		us := make([]complex128, a.dl*k) // U·S, dl×k
		for row := 0; row < a.dl; row++ {
			for j := 0; j < k; j++ {
				us[row*k+j] = s.U[row*s.k+j] * complex(s.S[j], 0)
			}
		}
		b := sites[i-1]
		nb := make([]complex128, 2*b.dl*k)
		matMul(nb, b.a, us, 2*b.dl, b.dr, k)
		sites[i] = &site{dl: k, dr: a.dr, a: append([]complex128(nil), s.Vh[:k*2*a.dr]...)}
		sites[i-1] = &site{dl: b.dl, dr: k, a: nb}
	}
	return discarded, nil
}
