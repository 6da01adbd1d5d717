package mps

import (
	"fmt"
	"math"
)

// engine evolves an MPS under the Hamiltonian MPO with second-order
// two-site TDVP (step), or one-site TDVP (stepOne) once the bonds can grow
// no more. Between steps the orthogonality centre is site 0: sites
// 1..N-1 are right-canonical.
type engine struct {
	n       int
	sites   []*site
	h       *hamiltonianMPO
	l, r    []*env // l[i] left of site i, r[i] right of site i
	stale   bool   // the MPO changed since r was built
	maxBond int    // max_bond_dim
	prec    float64
	ktol    float64
	kdim    int

	work, kvecs *vecPool // scratch of the effective Hamiltonians and the Lanczos vectors

	// per-step accumulators
	discarded float64
	krylov    int
}

func newEngine(h *hamiltonianMPO, cfg Config) *engine {
	e := &engine{n: h.n, h: h, maxBond: cfg.MaxBondDim, prec: cfg.Precision,
		ktol: cfg.Precision * cfg.ExtraKrylovTolerance, kdim: cfg.MaxKrylovDim, stale: true,
		work: &vecPool{}, kvecs: &vecPool{}}
	e.sites = make([]*site, e.n)
	for i := range e.sites {
		e.sites[i] = &site{dl: 1, dr: 1, a: []complex128{1, 0}} // |g⟩
	}
	e.l = make([]*env, e.n)
	e.r = make([]*env, e.n)
	e.l[0] = trivialEnv()
	e.r[e.n-1] = trivialEnv()
	return e
}

// bondDims returns the current bond dimensions (N-1 of them).
func (e *engine) bondDims() []int {
	out := make([]int, e.n-1)
	for i := range out {
		out[i] = e.sites[i].dr
	}
	return out
}

// step advances the state by dt µs under the loaded Hamiltonian:
// a left-to-right sweep over dt/2 then a right-to-left sweep over dt/2
// (the two half-steps of the last bond are merged into one of dt).
func (e *engine) step(dt float64) error {
	e.discarded, e.krylov = 0, 0
	n := e.n
	if n == 1 {
		return e.evolveOne(0, dt)
	}
	if e.stale {
		for i := n - 1; i > 0; i-- {
			e.r[i-1] = extendRight(e.work, e.r[i], e.sites[i], &e.h.w[i])
		}
		e.stale = false
	}
	tau := dt / 2
	for i := 0; i < n-2; i++ {
		th := e.merge(i)
		if err := e.evolveTwo(i, th, tau); err != nil {
			return err
		}
		if err := e.split(i, th, true); err != nil {
			return err
		}
		e.l[i+1] = extendLeft(e.work, e.l[i], e.sites[i], &e.h.w[i])
		if err := e.evolveOne(i+1, -tau); err != nil {
			return err
		}
	}
	for i := n - 2; i >= 0; i-- {
		th := e.merge(i)
		t := tau
		if i == n-2 {
			t = dt
		}
		if err := e.evolveTwo(i, th, t); err != nil {
			return err
		}
		if err := e.split(i, th, false); err != nil {
			return err
		}
		e.r[i] = extendRight(e.work, e.r[i+1], e.sites[i+1], &e.h.w[i+1])
		if i > 0 {
			if err := e.evolveOne(i, -tau); err != nil {
				return err
			}
		}
	}
	return nil
}

// saturated reports whether every bond has reached its cap, the smaller
// of max_bond_dim and the largest Schmidt rank the bond can have: a
// two-site step could then only truncate, and a one-site step loses
// nothing.
func (e *engine) saturated() bool {
	for k, c := range bondCaps(e.n, e.maxBond) {
		if e.sites[k].dr < c {
			return false
		}
	}
	return e.n > 1
}

// stepOne advances the state by dt µs with second-order one-site TDVP: a
// left-to-right sweep over dt/2 (each site forward, then the bond matrix
// left by its QR backward) and a right-to-left sweep over dt/2 (the two
// half-steps of the last site merged into one of dt). Bond dimensions do
// not change and nothing is truncated.
func (e *engine) stepOne(dt float64) error {
	e.discarded, e.krylov = 0, 0
	n := e.n
	if e.stale {
		for i := n - 1; i > 0; i-- {
			e.r[i-1] = extendRight(e.work, e.r[i], e.sites[i], &e.h.w[i])
		}
		e.stale = false
	}
	tau := dt / 2
	for i := 0; i < n-1; i++ {
		if err := e.evolveOne(i, tau); err != nil {
			return err
		}
		a := e.sites[i]
		q, c := qrOf(a.a, 2*a.dl, a.dr) // dr ≤ 2·dl: the bond is at its cap
		e.sites[i] = &site{dl: a.dl, dr: a.dr, a: q}
		e.l[i+1] = extendLeft(e.work, e.l[i], e.sites[i], &e.h.w[i])
		if err := e.evolveBond(c, e.l[i+1], e.r[i], -tau); err != nil {
			return err
		}
		b := e.sites[i+1]
		nb := make([]complex128, len(b.a))
		matMul(nb, c, b.a, a.dr, a.dr, 2*b.dr)
		b.a = nb
	}
	for i := n - 1; i >= 0; i-- {
		t := tau
		if i == n-1 {
			t = dt
		}
		if err := e.evolveOne(i, t); err != nil {
			return err
		}
		if i == 0 {
			break
		}
		var c []complex128
		e.sites[i], c = splitLQ(e.sites[i])
		e.r[i-1] = extendRight(e.work, e.r[i], e.sites[i], &e.h.w[i])
		if err := e.evolveBond(c, e.l[i], e.r[i-1], -tau); err != nil {
			return err
		}
		b := e.sites[i-1]
		nb := make([]complex128, len(b.a))
		matMul(nb, b.a, c, 2*b.dl, b.dr, b.dr)
		b.a = nb
	}
	return nil
}

// evolveBond evolves a bond matrix C (d×d) under the zero-site effective
// Hamiltonian of the environments either side of it:
// (H C)[l',r'] = Σ_b L[b][l',l] C[l,r] R[b][r',r].
func (e *engine) evolveBond(c []complex128, l, r *env, tau float64) error {
	d := l.d
	apply := func(dst, src []complex128) {
		x := e.work.get(0, d*d)
		clear(dst)
		for b := 0; b < l.w; b++ {
			matMul(x, l.block(b), src, d, d, d)
			matMulBTAdd(dst, x, r.block(b), d, d, d)
		}
	}
	res, err := expKrylov(e.kvecs, apply, c, tau, e.ktol, e.kdim)
	e.krylov = max(e.krylov, res.Dim)
	return err
}

// merge returns θ = A_i·A_{i+1} (dl×2×2×dr).
func (e *engine) merge(i int) []complex128 {
	a, b := e.sites[i], e.sites[i+1]
	th := make([]complex128, a.dl*2*2*b.dr)
	matMul(th, a.a, b.a, 2*a.dl, a.dr, 2*b.dr)
	return th
}

func (e *engine) evolveTwo(i int, th []complex128, tau float64) error {
	l, r := e.l[i], e.r[i+1]
	w1, w2 := &e.h.w[i], &e.h.w[i+1]
	res, err := expKrylov(e.kvecs, func(dst, src []complex128) { applyTwo(e.work, dst, src, l, w1, w2, r) }, th, tau, e.ktol, e.kdim)
	e.krylov = max(e.krylov, res.Dim)
	return err
}

func (e *engine) evolveOne(i int, tau float64) error {
	s := e.sites[i]
	l, r := e.l[i], e.r[i]
	res, err := expKrylov(e.kvecs, func(dst, src []complex128) { applyOne(e.work, dst, src, l, &e.h.w[i], r) }, s.a, tau, e.ktol, e.kdim)
	e.krylov = max(e.krylov, res.Dim)
	return err
}

// split factorises θ at bond i by a truncated SVD. Moving right, site i
// gets U (left-canonical) and site i+1 gets S·V†; moving left, site i+1
// gets V† (right-canonical) and site i gets U·S. The kept singular values
// are rescaled to the norm of θ.
func (e *engine) split(i int, th []complex128, right bool) error {
	dl, dr := e.sites[i].dl, e.sites[i+1].dr
	s, err := svdOf(th, 2*dl, 2*dr)
	if err != nil {
		return fmt.Errorf("bond %d: %w", i, err)
	}
	k, disc := truncation(s.S, e.prec, e.maxBond)
	e.discarded += disc
	total, kept := 0.0, 0.0
	for j, v := range s.S {
		total += v * v
		if j < k {
			kept += v * v
		}
	}
	scale := 1.0
	if kept > 0 {
		scale = math.Sqrt(total / kept)
	}
	u := make([]complex128, 2*dl*k)
	for row := 0; row < 2*dl; row++ {
		copy(u[row*k:(row+1)*k], s.U[row*s.k:row*s.k+k])
	}
	vh := s.Vh[:k*2*dr]
	if right {
		for j := 0; j < k; j++ {
			c := complex(s.S[j]*scale, 0)
			row := vh[j*2*dr : (j+1)*2*dr]
			for x := range row {
				row[x] *= c
			}
		}
	} else {
		for row := 0; row < 2*dl; row++ {
			for j := 0; j < k; j++ {
				u[row*k+j] *= complex(s.S[j]*scale, 0)
			}
		}
	}
	e.sites[i] = &site{dl: dl, dr: k, a: u}
	e.sites[i+1] = &site{dl: k, dr: dr, a: append([]complex128(nil), vh...)}
	return nil
}

// truncation returns how many singular values (descending) to keep: the
// fewest whose discarded squared weight, relative to the total, is at most
// precision² (as emu-mps: the truncated state is within distance
// precision of the untruncated one), and no more than maxBond; and the
// discarded relative weight.
func truncation(s []float64, precision float64, maxBond int) (int, float64) {
	total := 0.0
	for _, v := range s {
		total += v * v
	}
	if total == 0 {
		return 1, 0
	}
	k := len(s)
	dropped := 0.0
	for k > 1 && dropped+s[k-1]*s[k-1] <= precision*precision*total {
		dropped += s[k-1] * s[k-1]
		k--
	}
	for k > maxBond {
		dropped += s[k-1] * s[k-1]
		k--
	}
	return k, dropped / total
}
