package mps

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
	"slices"
)

// Jumps makes Run evolve one quantum-jump (Monte Carlo wave-function)
// trajectory of a Lindblad master equation, as the state-vector engine's
// noisy trajectories (runners/emulator/noisy.go): between jumps the state
// evolves under H − (i/2)Σ L†L, the non-Hermitian part applied as
// exp(−ΣL†L·τ/4) on every site before and after each TDVP step of τ (a
// symmetric splitting) and the state left unnormalised; when its squared
// norm falls below a uniform threshold, one jump L on one atom is applied,
// chosen with probability ∝ ‖Lψ‖², the state is renormalised and a new
// threshold drawn. Steps are shortened so that a jump is unlikely (≤ 1 %)
// within one. Observables see the normalised state.
type Jumps struct {
	// Ops are the collapse operators, the same on every atom present;
	// index 0 = |g⟩, 1 = |r⟩ (emulator.NoiseModel.JumpOperators).
	Ops [][2][2]complex128
	// Rng draws the thresholds and the jumps.
	Rng *rand.Rand
}

// Time resolution of the jumps, as the state-vector engine's: a step is
// at most maxJumpStep ns, and short enough that n atoms jump within it
// with probability ≤ jumpPerStep.
const (
	jumpPerStep = 0.01
	maxJumpStep = 10
)

type jumper struct {
	ops       []op2
	norms     []op2 // L†L per operator
	decay     [2][2]complex128
	rng       *rand.Rand
	threshold float64
	maxStep   int // ns
	half      map[int]op2
	count     int
}

func newJumper(j *Jumps, n int) *jumper {
	jp := &jumper{rng: j.Rng, maxStep: maxJumpStep, half: map[int]op2{}}
	for _, L := range j.Ops {
		jp.ops = append(jp.ops, op2{L[0][0], L[0][1], L[1][0], L[1][1]})
		var m op2
		for a := 0; a < 2; a++ {
			for b := 0; b < 2; b++ {
				for k := 0; k < 2; k++ {
					m[a*2+b] += cmplx.Conj(L[k][a]) * L[k][b]
				}
			}
		}
		jp.norms = append(jp.norms, m)
		for a := 0; a < 2; a++ {
			for b := 0; b < 2; b++ {
				jp.decay[a][b] += m[a*2+b]
			}
		}
	}
	a, d := real(jp.decay[0][0]), real(jp.decay[1][1])
	lmax := (a+d)/2 + math.Hypot((a-d)/2, cmplx.Abs(jp.decay[0][1]))
	if rate := float64(n) * lmax * 1e-3; rate > 0 { // jump probability per ns
		jp.maxStep = max(1, min(maxJumpStep, int(jumpPerStep/rate)))
	}
	jp.threshold = jp.rng.Float64()
	return jp
}

// halfDecay returns exp(−M·τ/4) for a step of ns ns (τ in µs), M = ΣL†L
// Hermitian: with M = m·I + K, K traceless with eigenvalues ±r,
// exp(−xM) = e^{−xm}(cosh(xr)·I − sinh(xr)/r·K).
func (jp *jumper) halfDecay(ns int) op2 {
	if g, ok := jp.half[ns]; ok {
		return g
	}
	x := float64(ns) * 1e-3 / 4
	M := jp.decay
	a, d, c := real(M[0][0]), real(M[1][1]), M[0][1]
	m, h := (a+d)/2, (a-d)/2
	r := math.Hypot(h, cmplx.Abs(c))
	em := math.Exp(-x * m)
	g := op2{complex(em, 0), 0, 0, complex(em, 0)}
	if r > 0 {
		ch, sh := math.Cosh(x*r)*em, math.Sinh(x*r)/r*em
		g = op2{complex(ch-sh*h, 0), -complex(sh, 0) * c, -complex(sh, 0) * cmplx.Conj(c), complex(ch+sh*h, 0)}
	}
	jp.half[ns] = g
	return g
}

// applyPhys returns the site with op applied to its physical index.
func applyPhys(a *site, op op2) *site {
	out := &site{dl: a.dl, dr: a.dr, a: make([]complex128, len(a.a))}
	axpyOp(out.a, a.a, op, a.dl, a.dr)
	return out
}

// splitLQ writes a site as C·Q with Q right-canonical (dl×2dr) and C
// dl×dl, from the QR of its conjugate transpose (needs dl ≤ 2dr, true of
// every bond an SVD produced).
func splitLQ(a *site) (*site, []complex128) {
	q, r := qrOf(conjTranspose(a.a, a.dl, 2*a.dr), 2*a.dr, a.dl)
	return &site{dl: a.dl, dr: a.dr, a: conjTranspose(q, 2*a.dr, a.dl)}, conjTranspose(r, a.dl, a.dl)
}

// canonicaliseFrom makes sites 1..i right-canonical again (sites right of
// i are), leaving the norm on site 0, and marks the environments stale.
func (e *engine) canonicaliseFrom(i int) {
	for ; i > 0; i-- {
		q, c := splitLQ(e.sites[i])
		e.sites[i] = q
		b := e.sites[i-1]
		nb := make([]complex128, len(b.a))
		matMul(nb, b.a, c, 2*b.dl, b.dr, b.dr)
		e.sites[i-1] = &site{dl: b.dl, dr: b.dr, a: nb}
	}
	e.stale = true
}

// decayAll applies g to every site and restores the canonical form (a
// multiple of the identity, as under depolarizing noise alone, only
// scales the norm on site 0).
func (e *engine) decayAll(g op2) {
	if g[1] == 0 && g[2] == 0 && g[0] == g[3] {
		s := cmplx.Pow(g[0], complex(float64(e.n), 0))
		a := e.sites[0]
		e.sites[0] = &site{dl: a.dl, dr: a.dr, a: make([]complex128, len(a.a))}
		for k, v := range a.a {
			e.sites[0].a[k] = v * s
		}
		return
	}
	for i := range e.sites {
		e.sites[i] = applyPhys(e.sites[i], g)
	}
	e.canonicaliseFrom(e.n - 1)
}

// normSquared is ⟨ψ|ψ⟩, carried by site 0.
func (e *engine) normSquared() float64 { return norm2(e.sites[0].a) }

// maybeJump jumps when the squared norm has fallen below the threshold:
// the weights ‖L_k,i ψ‖² = ⟨L_k†L_k⟩ at site i are contracted from the
// left, one (atom, k) is drawn, applied, and the state renormalised. The
// weights are listed by atom from the last of the register to the first
// (order[site] is the atom), as the state-vector engine lists its bits,
// so that one random stream picks the same atom on both engines.
func (jp *jumper) maybeJump(e *engine, order []int) {
	if e.normSquared() > jp.threshold {
		return
	}
	k := len(jp.ops)
	bySite := make([]float64, e.n*k)
	total := 0.0
	left := trivialEnv()
	for i, a := range e.sites {
		for j, m := range jp.norms {
			w := math.Max(0, extendLeft(nil, left, a, oneOp(m)).trace())
			bySite[i*k+j] = w
			total += w
		}
		left = extendLeft(nil, left, a, oneOp(opId))
	}
	sites := make([]int, e.n) // sites by descending atom
	for i := range sites {
		sites[i] = i
	}
	slices.SortFunc(sites, func(x, y int) int { return order[y] - order[x] })
	weights := make([]float64, 0, e.n*k)
	for _, i := range sites {
		weights = append(weights, bySite[i*k:(i+1)*k]...)
	}
	if total > 0 {
		u := jp.rng.Float64() * total
		pick := len(weights) - 1
		for k, w := range weights {
			if u < w {
				pick = k
				break
			}
			u -= w
		}
		i := sites[pick/k]
		e.sites[i] = applyPhys(e.sites[i], jp.ops[pick%k])
		e.canonicaliseFrom(i)
		jp.count++
	}
	s := complex(1/math.Sqrt(e.normSquared()), 0)
	for k := range e.sites[0].a {
		e.sites[0].a[k] *= s
	}
	jp.threshold = jp.rng.Float64()
}
