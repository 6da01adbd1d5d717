package emulator

import (
	"context"
	"math"
	"unsafe"
)

// A Lanczos (Krylov) exponential, used from krylovMinAtoms where memory
// allows a basis of at least krylovMinBasis vectors (complex64 in
// precision "low", complex128 otherwise). The Chebyshev expansion needs
// about half-width·τ terms, and the half-width of a Rydberg Hamiltonian is
// set by configurations the state never reaches (every atom excited, each
// pair at the blockade energy). Lanczos builds its basis from the state
// itself, H^k·ψ, and converges once it has resolved the energies the state
// actually visits: on the ring it needs 2.5–4× fewer matrix-vector
// products than Chebyshev at 20–40 ns (docs/emulator-measurements.md),
// and its cost hardly grows with the register while Chebyshev's grows with
// the half-width.
//
// The error bound is a posteriori and rigorous. With V the basis, T the
// tridiagonal Lanczos matrix and β the last off-diagonal, the recurrence
// gives H·V = V·T + β·v·e_mᵀ, so u(s) = ‖ψ‖·V·e^{-isT}·e₁ solves
// u' = -iH·u + iβ·‖ψ‖·v·[e^{-isT}]_{m1}, and the error of u(τ) against
// e^{-iτH}ψ is at most ‖ψ‖·β·∫₀^τ |[e^{-isT}]_{m1}| ds (H is Hermitian,
// its propagator keeps norms). The relation holds to rounding whether or
// not the basis stays orthogonal; the rounding of the vectors is bounded
// on its own (krylovRounding).

// krylovMaxBasis is the most basis vectors a Lanczos step builds; a step
// that does not converge within them evolves as far as they allow and
// starts again from there.
const krylovMaxBasis = 16

// krylovMinAtoms is the smallest register given a Lanczos basis: below it
// a sweep costs microseconds and the small eigenproblems of each Lanczos
// step weigh as much. Measured on the ring (docs/emulator-measurements.md):
// at N = 12 the Lanczos run took 1.2× the Chebyshev run's time, at N = 16
// 0.90–0.95×. A variable so that tests can give every register a basis.
var krylovMinAtoms = 16

// krylovMinBasis is the fewest basis vectors worth a Lanczos step: with
// fewer the blocks of the ring's plateau (8–9 products) would restart, and
// the run keeps the Chebyshev expansion.
const krylovMinBasis = 8

// krylovMaxBytes is the most memory the basis adds to the engine's own
// vectors. It keeps a runner within its pod's default memory request
// (1 GiB) wherever its state does, and leaves the largest registers (N = 24
// in "low", 22 in "normal" and above, where a product costs as much as a
// Chebyshev sweep and the basis would triple the memory) at the engine's
// 2 or 3 state vectors.
const krylovMaxBytes = 512 << 20

// krylovBasis is the number of basis vectors of 2^n amplitudes, vec
// bytes per amplitude, that fit in spare bytes (and krylovMaxBytes)
// besides the have vectors the engine already keeps (the work vectors, and
// in precision "normal" the state: they become the first ones), at most
// krylovMaxBasis; 0 when fewer than krylovMinBasis fit.
func krylovBasis(n int, spare uint64, vec, have int) int {
	m := min(uint64(krylovMaxBasis), uint64(have)+min(spare, krylovMaxBytes)/(uint64(vec)<<n))
	if m < krylovMinBasis {
		return 0
	}
	return int(m)
}

// lanczos is the state of the Lanczos steps of one evolution: the stored
// vectors, v_j = sigma[j]·basis[j] (complex64 in precision "low", where
// the first two are w2 and w1; complex128 in "normal", where the first
// three are psi, work1 and work2, whichever vectors those are at the
// step), and the tridiagonal matrix.
type lanczos struct {
	slots       int
	basis       [][]complex64
	basis128    [][]complex128
	sigma       []float64
	alpha, beta []float64
	eig         tridiagEigen
	coef        []complex128
	// combine's arguments for the AVX2 kernels
	ptrs    []*complex64
	ptrs128 []*complex128
	lanes   [][2][4]float64
}

// useKrylov gives the evolution a Lanczos basis of m vectors (m from
// krylovBasis; 0 keeps Chebyshev).
func (e *evolution) useKrylov(m int) {
	if m == 0 {
		return
	}
	k := &lanczos{slots: m}
	if e.single {
		k.basis = [][]complex64{e.w2, e.w1}
		for len(k.basis) < m {
			k.basis = append(k.basis, make([]complex64, e.h.dim))
		}
	} else {
		k.basis128 = [][]complex128{e.psi, e.work1, e.work2}
		for len(k.basis128) < m {
			k.basis128 = append(k.basis128, make([]complex128, e.h.dim))
		}
	}
	e.krylov = k
}

// krylovStep sets psi to e^{-iτH}·psi for the loaded Hamiltonian with
// Lanczos steps of at most slots-1 vectors (the last slot holds the
// residual), each ending where its bound reaches its share of tol, and
// adds the bounds to ChebErr. It returns the time it could not cover
// (0 but when a step would not advance at all); the caller evolves that
// with the Chebyshev expansion.
func (e *evolution) krylovStep(ctx context.Context, tau, tol float64) (float64, error) {
	k := e.krylov
	for done := 0.0; done < tau; {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		left := tau - done
		nu := e.startBasis()
		m, step, bound := 0, 0.0, 0.0
		lead := nu // ν·Π β_i·left^m/m!: the bound's leading term
		for {
			beta := e.lanczosStep(m)
			m++
			lead *= beta * left / float64(m)
			if min(lead, nu*beta*left) > 1e3*tol*left/tau && m+1 < k.slots {
				// Far from converged: no eigendecomposition yet. (A
				// wrong guess costs a product; the bound is always
				// computed before a step is taken.)
				continue
			}
			k.eig.decompose(k.alpha, k.beta[:m-1])
			bound = nu * beta * k.eig.lastFirstIntegral(left)
			if bound <= tol*left/tau {
				step = left
				break
			}
			if m+1 == k.slots {
				// Out of vectors: go as far as the bound allows.
				step, bound = k.eig.reach(nu*beta, tol/tau, left)
				break
			}
		}
		if step == 0 {
			return left, nil
		}
		e.combine(m, nu, step)
		e.ChebErr += bound + e.krylovRounding(step)
		done += step
		if rest := tau - done; step < left && rest > 0 && e.chebCheaper(rest, tol*rest/tau, float64(m)*rest/step) {
			return rest, nil
		}
	}
	return 0, nil
}

// lanczosCost is a Lanczos product's cost in Chebyshev sweeps, for the
// hand-over of long blocks: a product (which sums its dot product as it
// writes) and its three-term update move about 48 bytes per amplitude in
// "low", a Chebyshev sweep about 40 (twice both in complex128), the partner
// reads costing both alike; the rest covers the combination and each
// restart's start. An estimate: it decides only which of two bounded
// expansions evolves the rest of a block.
const lanczosCost = 1.6

// chebCheaper reports whether the Chebyshev expansion would evolve the
// loaded Hamiltonian over tau at tol in fewer sweeps than the products a
// Lanczos run is expected to take (a long block, beyond a basis's reach,
// costs Lanczos a restart every few ns).
func (e *evolution) chebCheaper(tau, tol, products float64) bool {
	lo, hi := e.h.spectrum(e.avgDet)
	j, _ := besselSeries((hi-lo)/2*tau, tol, e.bessel)
	e.bessel = j
	return float64(len(j)-1) < lanczosCost*products
}

// startBasis makes the state the first basis vector (rounded into w2 in
// precision "low", unless w2 already holds it) and returns its norm.
func (e *evolution) startBasis() float64 {
	k := e.krylov
	var nu float64
	if e.single {
		k.basis[0], k.basis[1] = e.w2, e.w1
		if !e.rounded {
			toSingle(e.w2, e.psi)
		}
		e.rounded = false // combine overwrites psi; the basis then is stale
		b0 := k.basis[0]
		nu = math.Sqrt(sweepSum(len(b0), func(lo, hi int) float64 { return dot32(b0[lo:hi], b0[lo:hi]) }))
	} else {
		k.basis128[0], k.basis128[1], k.basis128[2] = e.psi, e.work1, e.work2
		psi := e.psi
		nu = math.Sqrt(sweepSum(len(psi), func(lo, hi int) float64 { return dot128(psi[lo:hi], psi[lo:hi]) }))
	}
	k.sigma = append(k.sigma[:0], 1/nu)
	k.alpha, k.beta = k.alpha[:0], k.beta[:0]
	return nu
}

// lanczosStep extends the basis from v_j = σ_j·b_j: it stores the
// residual w = H·v_j − α_j·v_j − β_{j−1}·v_{j−1} in basis[j+1] and returns
// β_j = ‖w‖, so that v_{j+1} = w/β_j. Every stored vector is a residual of
// norm β ≤ ‖H‖ (or the state), far from complex64's range whatever the
// number of steps.
func (e *evolution) lanczosStep(j int) float64 {
	k := e.krylov
	sj := k.sigma[j]
	g := 0.0
	if j > 0 {
		g = k.beta[j-1] * k.sigma[j-1]
	}
	var alpha, norm2 float64
	if e.single {
		cur, out, prev := k.basis[j], k.basis[j+1], k.basis[max(j-1, 0)]
		alpha = sj * e.h.mul32(cur, out, sj) // out = H·v_j
		a := float32(alpha * sj)
		norm2 = sweepSum(len(cur), func(lo, hi int) float64 {
			return lanczosUpdate(out[lo:hi], cur[lo:hi], prev[lo:hi], a, float32(g))
		})
	} else {
		cur, out, prev := k.basis128[j], k.basis128[j+1], k.basis128[max(j-1, 0)]
		alpha = sj * e.h.mul(cur, out, sj)
		a := alpha * sj
		norm2 = sweepSum(len(cur), func(lo, hi int) float64 {
			return lanczosUpdate128(out[lo:hi], cur[lo:hi], prev[lo:hi], a, g)
		})
	}
	e.MatVecs++
	beta := math.Sqrt(norm2)
	k.alpha = append(k.alpha, alpha)
	k.beta = append(k.beta, beta)
	k.sigma = append(k.sigma, 1/beta)
	return beta
}

// dot32 returns Re⟨x, y⟩ in float64.
func dot32(x, y []complex64) float64 {
	y = y[:len(x)]
	n := 0
	s := 0.0
	if useAVX2 {
		n = len(x) &^ 3
		if n > 0 {
			s = dot32AVX2(&real32(x)[0], &real32(y)[0], 2*n)
		}
	}
	for i := n; i < len(x); i++ {
		s += float64(real(x[i]))*float64(real(y[i])) + float64(imag(x[i]))*float64(imag(y[i]))
	}
	return s
}

// lanczosUpdate sets out -= a·cur + g·prev (a and g real) and returns
// ‖out‖² in float64: the AVX2 kernel on whole quads, updateTail on the rest.
func lanczosUpdate(out, cur, prev []complex64, a, g float32) float64 {
	cur, prev = cur[:len(out)], prev[:len(out)]
	n, s := 0, 0.0
	if useAVX2 && len(out) >= 4 {
		n = len(out) &^ 3
		s = lanczosUpdateAVX2(&real32(out)[0], &real32(cur)[0], &real32(prev)[0], 2*n, a, g)
	}
	return s + updateTail(out[n:], cur[n:], prev[n:], complex(a, 0), complex(g, 0))
}

// lanczosUpdate128 is lanczosUpdate in complex128.
func lanczosUpdate128(out, cur, prev []complex128, a, g float64) float64 {
	cur, prev = cur[:len(out)], prev[:len(out)]
	n, s := 0, 0.0
	if useAVX2 && len(out) >= 4 {
		n = len(out) &^ 3
		s = lanczosUpdate128AVX2(&real64(out)[0], &real64(cur)[0], &real64(prev)[0], 2*n, a, g)
	}
	return s + updateTail(out[n:], cur[n:], prev[n:], complex(a, 0), complex(g, 0))
}

// updateTail is lanczosUpdate's loop in Go.
func updateTail[T complex64 | complex128](out, cur, prev []T, a, g T) float64 {
	s := 0.0
	for i := range out {
		w := out[i] - a*cur[i] - g*prev[i]
		out[i] = w
		c := complex128(w)
		s += real(c)*real(c) + imag(c)*imag(c)
	}
	return s
}

// real64 views a complex128 vector as its float64 parts.
func real64(v []complex128) []float64 {
	return unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(v))), 2*len(v))
}

// real32 views a complex64 vector as its float32 parts.
func real32(v []complex64) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(v))), 2*len(v))
}

// combine sets psi to ν·Σ_j y_j·v_j over the first m vectors, with
// y = e^{-iτT}·e₁ (the Lanczos approximation of e^{-iτH}·psi). In
// precision "normal" the first vector is psi itself: each amplitude is
// read from every vector before it is written.
func (e *evolution) combine(m int, nu, tau float64) {
	k := e.krylov
	k.coef = k.eig.ExpFirstColumn(tau)
	for j := range m {
		k.coef[j] *= complex(nu*k.sigma[j], 0)
	}
	c, psi := k.coef[:m], e.psi
	if useAVX2 {
		k.lanes = k.lanes[:0]
		for _, cj := range c {
			re, im := real(cj), imag(cj)
			k.lanes = append(k.lanes, [2][4]float64{{re, re, re, re}, {-im, im, -im, im}})
		}
		k.ptrs, k.ptrs128 = k.ptrs[:0], k.ptrs128[:0]
		if e.single {
			for _, b := range k.basis[:m] {
				k.ptrs = append(k.ptrs, &b[0])
			}
		} else {
			for _, b := range k.basis128[:m] {
				k.ptrs128 = append(k.ptrs128, &b[0])
			}
		}
	}
	sweep(len(psi), func(lo, hi int) {
		a := lo
		if useAVX2 && lo&3 == 0 && hi&^3 > lo {
			a = hi &^ 3
			if e.single {
				combineAVX2(&psi[0], &k.ptrs[0], &k.lanes[0], m, lo, a)
			} else {
				combine128AVX2(&psi[0], &k.ptrs128[0], &k.lanes[0], m, lo, a)
			}
		}
		for i := a; i < hi; i++ {
			var x complex128
			for j := range m {
				if e.single {
					x += c[j] * complex128(k.basis[j][i])
				} else {
					x += c[j] * k.basis128[j][i]
				}
			}
			psi[i] = x
		}
	})
}

// krylovRounding bounds what the rounding of the basis adds to a step's
// error (u = 2⁻²⁴ in complex64, 2⁻⁵³ in complex128): the state's rounding
// into the basis (one unit), and the
// recurrence's residual, each product H·v_j rounded over √(n+3) terms
// (as roundingBound) of size ‖H·v_j‖ ≤ √(α_j² + β_j² + β_{j−1}²), a
// source that acts for τ on a combination of norm ≤ √m.
func (e *evolution) krylovRounding(tau float64) float64 {
	u := 0x1p-53
	if e.single {
		u = 0x1p-24
	}
	k := e.krylov
	worst, prev := 0.0, 0.0
	for j, a := range k.alpha {
		worst = max(worst, math.Sqrt(a*a+k.beta[j]*k.beta[j]+prev*prev))
		prev = k.beta[j]
	}
	m := float64(len(k.alpha))
	return u * (1 + tau*math.Sqrt(m)*math.Sqrt(float64(e.h.n+3))*worst)
}
