package emulator

import (
	"context"
	"math"
	"math/bits"
	"runtime"
	"sync"
	"unsafe"

	"github.com/tweezer-dev/tweezer/runners/sequence"
)

// dtMicros is the sampling step: one ns, in µs.
const dtMicros = 1e-3

// Tolerances of the propagator. The Hamiltonian is piecewise constant per
// ns (Pulser's sampling). Consecutive ns are grouped into blocks evolved
// with the block-averaged Hamiltonian (the first Magnus term, exact for the
// piecewise-constant drive); the neglected second Magnus term is estimated
// on the current state before each block, and blocks are sized so that the
// estimates sum to at most magnusTol over the whole sequence (plateau.go:
// a fourth-order step where the drive is constant). Each block's
// exponential is a Lanczos expansion to chebTol where the evolution has a
// basis (krylov.go: from krylovMinAtoms, memory allowing), else a
// Chebyshev expansion truncated where the Bessel tail bound drops below
// chebTol.
//
// The truncation tolerance of a block is chebTol, or chebShare of the
// block's Magnus estimate if that is larger: the truncation errors then
// add at most chebShare·magnusTol to the bound, short blocks (a few ns,
// where the expansion needs ~10 terms for 1e-8) save a term or two, and
// blocks without a Magnus error (constant samples) stay at chebTol.
const (
	defaultMagnusTol = 5e-3
	chebTol          = 1e-8
	chebShare        = 0.02
	maxBlock         = 2000 // ns; keeps progress and cancellation responsive
)

// evolution integrates the Schrödinger equation for one program.
type evolution struct {
	prog *sequence.Program
	h    *hamiltonian
	// state and the two Chebyshev work vectors (3 state vectors in all);
	// with single set the work vectors are w1, w2 in complex64 instead
	// (precision "low": 2 state vectors). Between blocks a work vector
	// holds the interaction diagonal (interView).
	psi, work1, work2 []complex128
	single            bool
	w1, w2            []complex64
	// rounded: w2 holds psi rounded to complex64. globalBlock rounds the
	// state before its Gram sweep, which then reads half the bytes, and
	// the Chebyshev sum that follows starts from that copy; anything that
	// changes psi in between clears it.
	rounded bool
	// krylov, when set (precision "low" with memory to spare), evolves
	// each block with Lanczos steps instead of the Chebyshev expansion.
	krylov *lanczos

	runEnd []int // end of the run of identical samples starting at t
	// weights[t] is the share of the Magnus budget the ns before t may
	// take, in units: 1 per ns of a constant global drive (the plateau
	// step), midpointWeight per other ns.
	weights   []float64
	avgDrive  []complex128
	avgDet    []float64
	magnusTol float64
	// Measured error bounds (2-norm of the state error).
	MagnusErr, ChebErr float64
	Blocks, MatVecs    int
	gramParts          [sweepChunks][5][5]float64 // gram's partial sums, one per piece
	bessel             []float64                  // expStep's coefficients, reused block to block
	uBuf               []float64                  // plateauBlock's detuning samples, reused
	phases             [65]complex128             // rotate's e^{iφk}, k = 0..n

	// Optional controls (zero values: plain evolution). blockCap bounds
	// every block in ns; stops are ascending times (ns) at which a block
	// must end, and atStop is called with the index of each stop reached
	// (a stop at 0 before the first block). beforeBlock and afterBlock
	// are called around each block [t, t+b).
	blockCap    int
	stops       []int
	atStop      func(k int) error
	beforeBlock func(t, b int)
	afterBlock  func(t, b int) error
}

func newEvolution(p *sequence.Program, magnusTol float64) *evolution {
	return newEvolutionWith(p, newHamiltonian(p, nil), magnusTol, false)
}

// newEvolutionWith is newEvolution with the Hamiltonian given and, with
// single, the Chebyshev recurrence in complex64 (precision "low").
func newEvolutionWith(p *sequence.Program, h *hamiltonian, magnusTol float64, single bool) *evolution {
	e := &evolution{
		prog: p, h: h,
		psi:       make([]complex128, h.dim),
		single:    single,
		avgDrive:  make([]complex128, h.n),
		avgDet:    make([]float64, h.n),
		magnusTol: magnusTol,
	}
	if single {
		e.w1, e.w2 = make([]complex64, h.dim), make([]complex64, h.dim)
	} else {
		e.work1, e.work2 = make([]complex128, h.dim), make([]complex128, h.dim)
	}
	e.psi[0] = 1 // all atoms in |g⟩
	T := p.Duration
	e.runEnd = make([]int, T)
	for t := T - 1; t >= 0; t-- {
		if t == T-1 || e.changes(t+1) {
			e.runEnd[t] = t + 1
		} else {
			e.runEnd[t] = e.runEnd[t+1]
		}
	}
	e.weights = make([]float64, T+1)
	drive := p.Drive[0]
	for t := range T {
		w := float64(midpointWeight)
		if (t+1 < T && drive[t+1] == drive[t] || t > 0 && drive[t-1] == drive[t]) && e.globalFrom(t, 1) {
			w = 1
		}
		e.weights[t+1] = e.weights[t] + w
	}
	return e
}

// midpointWeight is the budget a ns evolved by the midpoint step gets per
// ns of the plateau step's. The midpoint step's error grows as b³ and the
// plateau step's as b⁵, so a block that the budget shortens costs the
// midpoint step more sweeps per ns: moving budget from the plateau to the
// ramps saves sweeps until both pay the same at the margin. Measured on
// the ring (docs/emulator-measurements.md): 1 → 3 saves 7–8% of the sweeps
// and 15% of the blocks (each with a Gram sweep) at N = 7–16; 4 and 6 save
// no more. A program without a constant global drive weighs every ns the
// same, as before.
const midpointWeight = 3

// weight returns the budget units of the ns [t, t+b).
func (e *evolution) weight(t, b int) float64 { return e.weights[t+b] - e.weights[t] }

// changes reports whether any atom's drive or detuning differs between
// ns t-1 and t.
func (e *evolution) changes(t int) bool {
	for a := range e.prog.Drive {
		if e.prog.Drive[a][t] != e.prog.Drive[a][t-1] || e.prog.Det[a][t] != e.prog.Det[a][t-1] {
			return true
		}
	}
	return false
}

// run evolves the state over the whole program.
func (e *evolution) run(ctx context.Context, progress func(int)) error {
	T := e.prog.Duration
	guess := 8
	plateauGuess := 32 // the last plateau block's length (ns)
	last := -1
	stop := 0
	reached := func(t int) error {
		for ; stop < len(e.stops) && e.stops[stop] <= t; stop++ {
			if err := e.atStop(stop); err != nil {
				return err
			}
		}
		return nil
	}
	if err := reached(0); err != nil {
		return err
	}
	for t := 0; t < T; {
		if err := ctx.Err(); err != nil {
			return err
		}
		limit := min(T-t, maxBlock)
		if e.blockCap > 0 {
			limit = min(limit, e.blockCap)
		}
		if stop < len(e.stops) {
			limit = min(limit, e.stops[stop]-t)
		}
		var b int
		var est, c2 float64
		plateau := false
		// The Magnus budget per unit of weight: what the blocks so far
		// left of magnusTol, spread over the time still to go.
		rate := max(0, e.magnusTol-e.MagnusErr) / e.weight(t, T-t)
		if run := e.runEnd[t] - t; run >= 2 {
			b = min(run, limit)
		} else if pb, pest, pc2 := e.plateauBlock(t, min(plateauGuess*4, limit), rate); pb > 0 && pb >= guess {
			// The drive is constant: the fourth-order step, when its
			// block is no shorter than the midpoint step's last one.
			b, est, c2, plateau = pb, pest, pc2, true
			plateauGuess = max(b, 8)
			e.MagnusErr += est
		} else if e.globalFrom(t, min(guess*4, limit)) {
			b, est = e.globalBlock(t, min(guess*4, limit), rate)
			guess = b
			e.MagnusErr += est
		} else {
			b = min(guess, limit)
			for {
				est = e.magnusEstimate(t, b)
				budget := rate * e.weight(t, b)
				if est <= budget || b == 1 {
					break
				}
				b = max(1, min(b-1, int(float64(b)*0.9*math.Cbrt(budget/est))))
			}
			budget := rate * e.weight(t, b)
			if est > 0 {
				guess = max(1, min(2*b, int(float64(b)*0.9*math.Cbrt(budget/est))))
			} else {
				guess = 2 * b
			}
			e.MagnusErr += est
		}
		e.loadAverage(t, b)
		if e.beforeBlock != nil {
			e.beforeBlock(t, b)
			e.rounded = false // the hook may change psi
		}
		tol := max(chebTol, chebShare*est)
		var err error
		if plateau {
			err = e.plateauStep(ctx, b, c2, tol)
		} else {
			err = e.expStep(ctx, float64(b)*dtMicros, tol)
		}
		if err != nil {
			return err
		}
		if e.afterBlock != nil {
			if err := e.afterBlock(t, b); err != nil {
				return err
			}
		}
		e.Blocks++
		t += b
		if err := reached(t); err != nil {
			return err
		}
		if progress != nil {
			if pc := 100 * t / T; pc != last {
				last = pc
				progress(pc)
			}
		}
	}
	return nil
}

func (e *evolution) loadAverage(t, b int) {
	inv := 1 / float64(b)
	for a := range e.prog.Drive {
		var c complex128
		d := 0.0
		for k := t; k < t+b; k++ {
			c += e.prog.Drive[a][k]
			d += e.prog.Det[a][k]
		}
		e.avgDrive[a] = c * complex(inv, 0)
		e.avgDet[a] = d * inv
	}
	e.h.setStep(e.avgDrive, e.avgDet)
}

// expStep applies exp(-iHτ) to psi with a Chebyshev expansion truncated
// at tol. A long step checks ctx every few sweeps; once cancelled the state
// is abandoned.
func (e *evolution) expStep(ctx context.Context, tau, tol float64) error {
	if e.krylov != nil {
		left, err := e.krylovStep(ctx, tau, tol)
		if err != nil || left == 0 {
			return err
		}
		// A Lanczos step that could not advance: the rest by Chebyshev.
		tol *= left / tau
		tau = left
	}
	lo, hi := e.h.spectrum(e.avgDet)
	center, half := (hi+lo)/2, (hi-lo)/2+1e-9
	x := half * tau
	j, tail := besselSeries(x, tol, e.bessel)
	e.bessel = j
	phase := complex(math.Cos(center*tau), -math.Sin(center*tau))
	coef := func(k int) complex128 {
		// (2-δ_k0)(-i)^k J_k(x) e^{-i·center·τ}
		c := complex(j[k], 0)
		if k > 0 {
			c *= 2
		}
		switch k % 4 {
		case 1:
			c *= -1i
		case 2:
			c *= -1
		case 3:
			c *= 1i
		}
		return c * phase
	}
	sum := e.chebSum
	if e.single {
		sum = e.chebSum32
		tail += e.roundingBound(len(j) - 1)
	}
	if err := sum(ctx, center, half, len(j)-1, coef); err != nil {
		return err
	}
	e.ChebErr += tail
	return nil
}

// chebSum32 is chebSum with the recurrence in complex64 (w1, w2) and the
// sum accumulated into psi in place: the first sweep reads the state
// rounded to complex64 (w2) and scales psi by coef(0) in full precision.
func (e *evolution) chebSum32(ctx context.Context, center, half float64, K int, coef func(int) complex128) error {
	if !e.rounded {
		toSingle(e.w2, e.psi)
	}
	e.rounded = false // the first sweep overwrites acc = psi
	prev, cur := e.w2, e.w1
	e.h.cheb32Step(prev, cur, e.psi, center, half, true, coef(0), coef(1))
	e.MatVecs++
	deferred := func(k int) bool { return k >= 2 && (K-k)%2 == 1 }
	for k := 2; k <= K; k++ {
		if k%16 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		var c0, c1 complex128
		if !deferred(k) {
			c1 = coef(k)
			if deferred(k - 1) {
				c0 = coef(k - 1)
			}
		}
		e.h.cheb32Step(cur, prev, e.psi, center, half, false, c0, c1)
		prev, cur = cur, prev
		e.MatVecs++
	}
	return nil
}

// chebSum sets psi to Σ_{k<=K} coef(k)·T_k(X)ψ with X = (H-center)/half
// (K >= 1), in K sweeps over psi and the two work vectors.
func (e *evolution) chebSum(ctx context.Context, center, half float64, K int, coef func(int) complex128) error {
	prev, cur, acc := e.psi, e.work1, e.work2
	e.h.chebStep(prev, cur, acc, center, half, true, coef(0), coef(1))
	e.MatVecs++
	// Steps 2..K in pairs counted from the last: the first of a pair
	// leaves acc alone, the second adds both terms (its in is the first's
	// out), so acc is read and written every other sweep.
	deferred := func(k int) bool { return k >= 2 && (K-k)%2 == 1 }
	for k := 2; k <= K; k++ {
		if k%16 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		var c0, c1 complex128
		if !deferred(k) {
			c1 = coef(k)
			if deferred(k - 1) {
				c0 = coef(k - 1)
			}
		}
		e.h.chebStep(cur, prev, acc, center, half, false, c0, c1)
		prev, cur = cur, prev
		e.MatVecs++
	}
	// acc is the new state; the two others become work vectors.
	e.psi, e.work1, e.work2 = acc, prev, cur
	return nil
}

// besselSeries returns J_0(x)..J_K(x) with K the first order past x at
// which the tail bound 2·Σ_{k>K}|J_k(x)| is below tol, and that bound.
// Miller's backward recurrence, normalised by J0 + 2ΣJ_2k = 1. The series
// is written into buf when it has the room (noisy runs evolve thousands of
// short blocks; allocating each one's series kept the garbage collector
// busy enough to stop trajectories from scaling with cores).
func besselSeries(x, tol float64, buf []float64) ([]float64, float64) {
	if x < 1e-12 {
		return append(buf[:0], 1, x/2), x * x / 4
	}
	m := int(x+20*math.Cbrt(x)+40) &^ 1
	j := buf[:0]
	if cap(j) < m+2 {
		j = make([]float64, m+2)
	}
	j = j[:m+2]
	clear(j)
	j[m] = 1e-300
	for k := m; k > 0; k-- {
		j[k-1] = 2*float64(k)/x*j[k] - j[k+1]
		if math.Abs(j[k-1]) > 1e250 {
			for i := k - 1; i <= m; i++ {
				j[i] *= 1e-250
			}
		}
	}
	norm := j[0]
	for k := 2; k <= m; k += 2 {
		norm += 2 * j[k]
	}
	for k := range j {
		j[k] /= norm
	}
	// tail(K) = 2Σ_{i>K}|J_i|, from K = ⌈x⌉ on, shrunk as K grows.
	K := max(1, int(math.Ceil(x)))
	tail := 0.0
	for i := m; i > K; i-- {
		tail += 2 * math.Abs(j[i])
	}
	for K < m && tail > tol {
		K++
		tail -= 2 * math.Abs(j[K])
	}
	tail = 0 // summed again, from the smallest terms up: the bound reported
	for i := m; i > K; i-- {
		tail += 2 * math.Abs(j[i])
	}
	return j[:K+1], tail
}

// magnusEstimate returns ‖Ω₂ψ‖ for the block [t, t+b): the norm of the
// second Magnus term -(dt²/2)Σ_{j<k}[H_k,H_j] applied to the current state.
// With H_k = D_k + Σ_a (c_ak σ⁺_a + h.c.), the commutators reduce to flips
// weighted by interaction differences and to single-atom σz terms.
func (e *evolution) magnusEstimate(t, b int) float64 {
	if b < 2 {
		return 0
	}
	h := e.h
	n := h.n
	aB := make([]complex128, n) // per bit: Σ_{j<k}(c_j - c_k)
	bB := make([]complex128, n) // per bit: Σ_{j<k}(δ_k c_j - δ_j c_k)
	zB := make([]float64, n)    // per bit: Σ_{j<k} 2 Im(c_k c_j*)
	var active uint64
	for a := 0; a < n; a++ {
		var sc, av, bv complex128
		sd, zv := 0.0, 0.0
		for k := 0; k < b; k++ {
			c := e.prog.Drive[a][t+k] / 2
			d := e.prog.Det[a][t+k]
			av += sc - complex(float64(k), 0)*c
			bv += complex(d, 0)*sc - c*complex(sd, 0)
			zv += 2 * imag(c*complex(real(sc), -imag(sc)))
			sc += c
			sd += d
		}
		bit := bitOf(n, a)
		aB[bit], bB[bit], zB[bit] = av, bv, zv
		if av != 0 || bv != 0 || zv != 0 {
			active |= 1 << bit
		}
	}
	if active == 0 {
		return 0
	}
	psi, inter := e.psi, e.interView()
	norm2 := sweepSum(h.dim, func(lo, hi int) float64 {
		sum := 0.0
		for s := lo; s < hi; s++ {
			var acc complex128
			var diag float64
			for r := active; r != 0; r &= r - 1 {
				bit := bits.TrailingZeros64(r)
				p := s ^ (1 << bit)
				dC := inter[s] - inter[p]
				av, bv := aB[bit], bB[bit]
				sigma := 1.0
				if s&(1<<bit) == 0 {
					av, bv = complex(real(av), -imag(av)), complex(real(bv), -imag(bv))
					sigma = -1
				}
				acc += (complex(dC, 0)*av - complex(sigma, 0)*bv) * psi[p]
				diag += zB[bit] * sigma
			}
			acc += complex(0, diag) * psi[s]
			sum += real(acc)*real(acc) + imag(acc)*imag(acc)
		}
		return sum
	})
	e.MatVecs++
	return dtMicros * dtMicros / 2 * math.Sqrt(norm2)
}

// sweepSum is sweep for a reduction.
func sweepSum(dim int, fn func(lo, hi int) float64) float64 {
	if sweepSplit(dim) == 1 {
		return fn(0, dim)
	}
	workers := runtime.GOMAXPROCS(0)
	parts := make([]float64, workers)
	var wg sync.WaitGroup
	chunk := (dim + workers - 1) / workers
	for w := 1; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, dim)
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func(w, lo, hi int) {
			defer wg.Done()
			parts[w] = fn(lo, hi)
		}(w, lo, hi)
	}
	parts[0] = fn(0, min(chunk, dim))
	wg.Wait()
	total := 0.0
	for _, p := range parts {
		total += p
	}
	return total
}

// flipSums returns, for basis state s, the sums of ψ_j and of C_j·ψ_j over
// the partners j = s^(1<<b) of the bits b set in s (r, rw) and of the bits
// clear in s (u, uw), for the bits in full = len(psi)-1. The caller ensures
// s < len(psi) = len(inter), a power of two, so every partner lies inside
// both slices and the loop reads them through pointers without bounds
// checks. Kept out of gramRange so that the accumulators stay in registers.
//
//go:noinline
func flipSums(psi []complex128, inter []float64, s int, full uint64) (r, rw, u, uw complex128) {
	pp := unsafe.Pointer(unsafe.SliceData(psi))
	pc := unsafe.Pointer(unsafe.SliceData(inter))
	us := uintptr(s)
	for m := uint64(s) & full; m != 0; m &= m - 1 {
		j := us ^ uintptr(m&-m)
		v := *(*complex128)(unsafe.Add(pp, j<<4))
		c := *(*float64)(unsafe.Add(pc, j<<3))
		r += v
		rw += complex(c*real(v), c*imag(v))
	}
	for m := ^uint64(s) & full; m != 0; m &= m - 1 {
		j := us ^ uintptr(m&-m)
		v := *(*complex128)(unsafe.Add(pp, j<<4))
		c := *(*float64)(unsafe.Add(pc, j<<3))
		u += v
		uw += complex(c*real(v), c*imag(v))
	}
	return r, rw, u, uw
}

// globalFrom reports whether every atom has the same drive and detuning
// over [t, t+b): then the second Magnus term is a combination of five
// fixed operators and one sweep gives its norm for every block length.
func (e *evolution) globalFrom(t, b int) bool {
	d0, x0 := e.prog.Drive[0][t:t+b], e.prog.Det[0][t:t+b]
	for a := 1; a < len(e.prog.Drive); a++ {
		d, x := e.prog.Drive[a][t:t+b], e.prog.Det[a][t:t+b]
		for k := range d0 {
			if d[k] != d0[k] || x[k] != x0[k] {
				return false
			}
		}
	}
	return true
}

// globalBlock picks the longest block [t, t+b), b <= bmax, whose second
// Magnus term estimate fits the error budget (rate per unit of weight),
// for a drive shared by all atoms. With per-ns drive c_k = Ω/2·e^{iφ} and detuning δ_k,
//
//	Σ_{j<k}[H_k,H_j] = Re(A)·X1 + Im(A)·X2 + Re(B)·X3 + Im(B)·X4 + z·X5
//
// where A = Σ_{j<k}(c_j-c_k), B = Σ_{j<k}(δ_k c_j-δ_j c_k),
// z = Σ_{j<k}2·Im(c_k c_j*), and X1..X5 are fixed operators (flips weighted
// by interaction differences ΔC, by σ=±1, and Σσ on the diagonal). The Gram
// matrix of X_iψ, computed in one sweep, gives ‖Ω₂ψ‖ for any b exactly.
//
// While the drive stays constant (the usual plateau of Ω, with δ swept),
// A and z vanish: only X3 and X4, plain and signed flips, remain, and the
// AVX2 path sums only those (gramFlipsAVX2: no interaction energies).
//
// In single precision the state is rounded to complex64 first, into w2,
// where the next Chebyshev sum would round it anyway: the Gram sweep reads
// that copy, half the bytes of psi (the estimate changes by a relative
// 10⁻⁷, far inside its use as a budget).
func (e *evolution) globalBlock(t, bmax int, rate float64) (int, float64) {
	constant := true
	for _, c := range e.prog.Drive[0][t : t+bmax] {
		constant = constant && c == e.prog.Drive[0][t]
	}
	if e.single && useAVX2 && e.h.dim >= 4 {
		toSingle(e.w2, e.psi)
		e.rounded = true
	}
	var g [5][5]float64
	if constant && useAVX2 && e.h.dim >= 4 {
		g = e.gram(nil)
	} else {
		g = e.gram(e.interView())
	}
	e.MatVecs++
	var sc, av, bv complex128
	sd, zv := 0.0, 0.0
	best, bestEst := 1, 0.0
	for k := 0; k < bmax; k++ {
		c := e.prog.Drive[0][t+k] / 2
		d := e.prog.Det[0][t+k]
		av += sc - complex(float64(k), 0)*c
		bv += complex(d, 0)*sc - c*complex(sd, 0)
		zv += 2 * imag(c*complex(real(sc), -imag(sc)))
		sc += c
		sd += d
		b := k + 1
		coef := [5]float64{real(av), imag(av), real(bv), imag(bv), zv}
		if constant {
			coef[0], coef[1], coef[4] = 0, 0, 0 // zero but for rounding
		}
		n2 := 0.0
		for i := range coef {
			for j := range coef {
				n2 += coef[i] * coef[j] * g[i][j]
			}
		}
		est := dtMicros * dtMicros / 2 * math.Sqrt(math.Max(n2, 0))
		if b > 1 && est > rate*e.weight(t, b) {
			break
		}
		best, bestEst = b, est
	}
	return best, bestEst
}

// interView returns the interaction energy of every basis state, formed
// in a work vector: between blocks neither is in use, and one float64 per
// amplitude fits in a complex64 or half a complex128. The next Chebyshev
// sum overwrites it.
func (e *evolution) interView() []float64 {
	var p unsafe.Pointer
	if e.single {
		p = unsafe.Pointer(unsafe.SliceData(e.w1))
	} else {
		p = unsafe.Pointer(unsafe.SliceData(e.work1))
	}
	v := unsafe.Slice((*float64)(p), e.h.dim)
	e.h.inter.fill(v)
	return v
}

// gram returns Re⟨X_iψ, X_jψ⟩ for the five operators of globalBlock
// (real parts suffice: the coefficients are real and the norm is real),
// inter holding the interaction energy of every basis state; with inter
// nil only the entries among X3 and X4 (the others are left zero), which
// needs the AVX2 kernel. With e.rounded the AVX2 kernels read the state's
// complex64 copy in w2. The sweep's pieces are summed in a fixed order, so
// the result does not depend on which core took which piece.
func (e *evolution) gram(inter []float64) [5][5]float64 {
	h, psi := e.h, e.psi
	flipsOnly := inter == nil
	if len(psi) != h.dim || !flipsOnly && len(inter) != h.dim || flipsOnly && !(useAVX2 && h.dim >= 4) ||
		e.rounded && len(e.w2) != h.dim {
		panic("emulator: gram outside the state vector")
	}
	pieces := sweepSplit(h.dim)
	parts := e.gramParts[:pieces]
	piece := h.dim / pieces
	sweepPieces(h.dim, pieces, func(lo, hi int) {
		g := &parts[lo/piece]
		if useAVX2 && h.dim >= 4 {
			var lanes [5][5][4]float64
			switch {
			case e.rounded && flipsOnly:
				gramFlips32AVX2(&e.w2[0], lo, hi, h.n, &lanes)
			case e.rounded:
				gram32AVX2(&e.w2[0], &inter[0], lo, hi, h.n, &lanes)
			case flipsOnly:
				gramFlipsAVX2(&psi[0], lo, hi, h.n, &lanes)
			default:
				gramAVX2(&psi[0], &inter[0], lo, hi, h.n, &lanes)
			}
			for i := range g {
				for j := i; j < 5; j++ {
					l := &lanes[i][j]
					g[i][j] = (l[0] + l[1]) + (l[2] + l[3])
				}
			}
			return
		}
		e.gramRange(inter, lo, hi, g)
	})
	var g [5][5]float64
	for _, p := range parts {
		for i := range g {
			for j := i; j < 5; j++ {
				g[i][j] += p[i][j]
				g[j][i] = g[i][j]
			}
		}
	}
	return g
}

// gramRange is gram's Go kernel: it sets g[i][j], i <= j, to the sum over
// [lo, hi) of Re(x_i·conj(x_j)).
func (e *evolution) gramRange(inter []float64, lo, hi int, out *[5][5]float64) {
	h, psi := e.h, e.psi
	full := uint64(h.dim - 1)
	var g [5][5]float64
	for s := lo; s < hi; s++ {
		// For a set bit (σ=+1) the flip element is ΔC·A - B, for a
		// clear bit (σ=-1) ΔC·Ā + B̄; split into real coefficients.
		// P, Q: ΔC-weighted sums over set and clear bits; R, U: plain
		// sums. ΔC = C_s - C_j, so P = C_s·R - Σ_set C_j·ψ_j.
		cs := inter[s]
		r, rw, u, uw := flipSums(psi, inter, s, full)
		p := complex(cs*real(r)-real(rw), cs*imag(r)-imag(rw))
		q := complex(cs*real(u)-real(uw), cs*imag(u)-imag(uw))
		sigma := float64(2*bits.OnesCount64(uint64(s)) - h.n)
		pq, pmq, ru := p+q, p-q, r+u
		v := psi[s]
		x := [5]complex128{pq, complex(-imag(pmq), real(pmq)), u - r,
			complex(imag(ru), -real(ru)), complex(-sigma*imag(v), sigma*real(v))}
		for i := range x {
			for j := i; j < 5; j++ {
				g[i][j] += real(x[i])*real(x[j]) + imag(x[i])*imag(x[j])
			}
		}
	}
	*out = g
}
