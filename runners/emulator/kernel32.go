package emulator

import (
	"math"
	"math/bits"
)

// Single-precision Chebyshev sweeps (precision "low"): the recurrence
// vectors T_k(X)ψ are complex64, the sum Σ c_k T_k ψ accumulates into the
// complex128 state in place. Memory: the state and two complex64 vectors,
// 32 bytes per amplitude (2 state vectors) instead of 48.

// cheb32Step is chebStep on complex64 vectors with acc the complex128
// state:
//
//	first: out = X·in,                   acc = c0·acc + c1·out
//	next:  out = 2X·in - out (in place), acc += c0·in + c1·out
//
// A next step with c0 = c1 = 0 leaves acc alone. On the first step in
// holds the state rounded to complex64 and acc the state itself, so the
// c0 term keeps full precision. A first step with acc nil writes out only
// (mul32, where the assembly kernels do not apply).
func (h *hamiltonian) cheb32Step(in, out []complex64, acc []complex128, center, half float64, first bool, c0, c1 complex128) {
	scale := 2 / half
	if first {
		scale = 1 / half
	}
	if len(in) != h.dim || len(out) != h.dim || len(acc) != h.dim && (acc != nil || !first) {
		panic("emulator: cheb32Step outside the state vector")
	}
	realGlobal := h.global && h.uniformDet && h.driven == uint64(h.dim-1) && imag(h.gDrive) == 0 && h.dim >= 8
	if realGlobal && useAVX2 && h.n >= max(splitFrom+1, 4) {
		h.cheb32Split(in, out, acc, center, scale, first, c0, c1)
		return
	}
	if sweepSplit(h.dim) == 1 { // no closure on the heap (see chebStep)
		h.cheb32Range(realGlobal, in, out, acc, 0, h.dim, center, scale, first, c0, c1)
		return
	}
	sweep(h.dim, func(lo, hi int) { h.cheb32Range(realGlobal, in, out, acc, lo, hi, center, scale, first, c0, c1) })
}

// splitFrom is the register size from which chebStep applies the flips
// of a global real drive in two passes, and cheb32Step from splitFrom+1
// (complex64 vectors are half as long in memory); a variable so that tests
// can split small registers. In one pass every bit whose partners lie
// beyond the cache's reach (about 2^14 amplitudes with the other streams
// of a sweep) adds a stream of partner reads from memory. Split, the first
// pass (the one-pass kernel on the low bits and the diagonal) reads in and
// out once, and the second (the high bits, at most splitHigh of them)
// takes the vector column range by column range, every row of a range at
// once, so that it reads in, out and acc once. Measured per sweep
// (docs/emulator-measurements.md, load 6): at N = 20 split and one pass
// are level in complex128 and the split is 10% slower in complex64; at
// N = 22 the split saves 15% of the CPU time in complex128 and 3% in
// complex64.
var splitFrom = 21

// The first pass of a split sweep applies the flips of bits 0..k-1 with
// k = max(splitLow, n - splitHigh): 2^14 amplitudes (128 KiB of in in
// complex64, 256 KiB in complex128) keep their partners in L2 while out
// and acc stream past. The second applies the rest, at most splitHigh
// bits (2^8 rows), on column ranges of splitColumn amplitudes summed over
// the rows: 256 KiB of in in complex64, in L2 with the lines of out and
// acc passing through (docs/emulator-measurements.md has the figures).
const (
	splitHigh   = 8
	splitLow    = 14
	splitColumn = 1 << 15
)

// cheb32Split is cheb32Step in two passes (see splitFrom) for a global
// real drive, with the AVX2 kernels: cheb32RealAVX2 on the flips of the
// low bits and the diagonal, then cheb32HighAVX2 on the high bits.
func (h *hamiltonian) cheb32Split(in, out []complex64, acc []complex128, center, scale float64, first bool, c0, c1 complex128) {
	k := splitAt(h.n)
	if h.split == nil {
		h.split = new(splitConsts)
	}
	consts, low := &h.split.high32, &h.split.low32
	*consts = h.cheb32Consts(center, scale, first, c0, c1)
	*low = *consts
	low.mode = 0 // out only
	if first {
		low.mode = 3
	}
	sweep(h.dim, func(lo, hi int) { h.cheb32Tiles(in, out, acc, lo, hi, k, low) })
	h.splitColumns(func(lo, hi int) { cheb32HighAVX2(&in[0], &out[0], &acc[0], lo, hi, k, h.n, consts) })
}

// cheb32Range is cheb32Step on amplitudes [lo, hi), with its kernel chosen.
func (h *hamiltonian) cheb32Range(realGlobal bool, in, out []complex64, acc []complex128, lo, hi int, center, scale float64, first bool, c0, c1 complex128) {
	if realGlobal {
		h.cheb32Real(in, out, acc, lo, hi, center, scale, first, c0, c1)
	} else {
		h.cheb32General(in, out, acc, lo, hi, center, scale, first, c0, c1)
	}
}

// cheb32Real is cheb32Step's kernel for a real drive shared by every atom
// and a uniform detuning (chebReal's case): the assembly kernel on whole
// octets where there is one, else the Go loop.
func (h *hamiltonian) cheb32Real(in, out []complex64, acc []complex128, lo, hi int, center, scale float64, first bool, c0, c1 complex128) {
	a, b := (lo+7)&^7, hi&^7
	if !useAVX2 || a >= b {
		h.cheb32General(in, out, acc, lo, hi, center, scale, first, c0, c1)
		return
	}
	if lo < a {
		h.cheb32General(in, out, acc, lo, a, center, scale, first, c0, c1)
	}
	k := h.cheb32Consts(center, scale, first, c0, c1)
	h.cheb32Tiles(in, out, acc, a, b, h.n, &k)
	if b < hi {
		h.cheb32General(in, out, acc, b, hi, center, scale, first, c0, c1)
	}
}

// cheb32Consts returns the constants of cheb32RealAVX2 and cheb32HighAVX2
// for one sweep.
func (h *hamiltonian) cheb32Consts(center, scale float64, first bool, c0, c1 complex128) cheb32Consts {
	det := h.gDet
	k := cheb32Consts{
		diagA: [4]float64{center, det + center, det + center, 2*det + center},
		diagB: [4]float64{det + center, 2*det + center, 2*det + center, 3*det + center},
		c0re:  [4]float64{real(c0), real(c0), real(c0), real(c0)},
		c0im:  [4]float64{-imag(c0), imag(c0), -imag(c0), imag(c0)},
		c1re:  [4]float64{real(c1), real(c1), real(c1), real(c1)},
		c1im:  [4]float64{-imag(c1), imag(c1), -imag(c1), imag(c1)},
		scale: scale, det: det, drive: float32(real(h.gDrive) * scale),
	}
	switch {
	case first:
		k.mode = 2
	case c0 != 0 || c1 != 0:
		k.mode = 1
	}
	return k
}

// cheb32Tiles runs cheb32RealAVX2 on the octets of [lo, hi) (multiples of
// 8) with the flips of bits 0..flipBits-1, one tile of the interaction
// diagonal at a time (interTables.tile).
func (h *hamiltonian) cheb32Tiles(in, out []complex64, acc []complex128, lo, hi, flipBits int, k *cheb32Consts) {
	if lo&7 != 0 || hi&7 != 0 || lo < 0 || hi > len(in) || len(in) != h.dim || len(out) != h.dim || len(acc) != h.dim && k.mode < 3 || flipBits > h.n || h.dim < 8 {
		panic("emulator: cheb32Tiles outside the state vector")
	}
	var buf [1 << tileBits]float64
	for t0 := lo; t0 < hi; {
		t1 := min(hi, (t0>>tileBits+1)<<tileBits)
		inter := buf[:t1-t0]
		h.inter.tile(inter, t0)
		cheb32RealAVX2(&in[0], &out[0], accPtr(acc), &inter[0], t0, t1, flipBits, k)
		t0 = t1
	}
}

// cheb32Consts are cheb32RealAVX2's constants for one sweep (the
// assembly reads them by the offsets in go_asm.h), laid out as chebConsts:
// the diagonal's per-lane offsets and c0, c1 for complex128 arithmetic on
// two amplitudes per register.
type cheb32Consts struct {
	diagA, diagB [4]float64 // center + det·(0, 1, 1, 2) and det·(1, 2, 2, 3)
	c0re, c0im   [4]float64 // real part in every lane; (-imag, imag) pairs
	c1re, c1im   [4]float64
	scale, det   float64
	drive        float32 // real drive times scale
	mode         int64   // 2 on the first step, 1 on a next step that adds to acc, 0 on one that does not; 3 on a first step that writes out only, 4 that also adds Re⟨in, out⟩ to dot
	dot          float64
}

// accPtr is the address of acc's first amplitude for the assembly
// kernel, nil without acc (mul32: mode 4 never reads it).
func accPtr(acc []complex128) *complex128 {
	if acc == nil {
		return nil
	}
	return &acc[0]
}

// mul32 sets out = scale·H·in for the loaded step's Hamiltonian (a first
// Chebyshev sweep with center 0, half-width 1/scale and no sum) and returns
// Re⟨in, out⟩. With a global real drive the AVX2 kernel sums the product
// as it writes out (mode 4, in one pass: without acc to stream, the split
// sweep saves nothing), else a second pass does.
func (h *hamiltonian) mul32(in, out []complex64, scale float64) float64 {
	if len(in) != h.dim || len(out) != h.dim {
		panic("emulator: mul32 outside the state vector")
	}
	if !useAVX2 || !h.global || !h.uniformDet || h.driven != uint64(h.dim-1) || imag(h.gDrive) != 0 || h.dim < 8 {
		h.cheb32Step(in, out, nil, 0, 1/scale, true, 0, 0)
		return sweepSum(h.dim, func(lo, hi int) float64 { return dot32(in[lo:hi], out[lo:hi]) })
	}
	return sweepReduce(h.dim, func(lo, hi int) float64 {
		k := h.cheb32Consts(0, scale, true, 0, 0)
		k.mode = 4
		h.cheb32Tiles(in, out, nil, lo, hi, h.n, &k)
		return k.dot
	})
}

// cheb32General is cheb32Step's kernel for any drive, in Go: flips
// summed in single precision, the diagonal in double and rounded.
func (h *hamiltonian) cheb32General(in, out []complex64, acc []complex128, lo, hi int, center, scale float64, first bool, c0, c1 complex128) {
	in = in[:h.dim]
	out = out[:h.dim]
	if acc != nil {
		acc = acc[:h.dim]
	}
	driven := h.driven
	var coef, conj [64]complex64
	for b := range h.n {
		c := h.driveAtBit[b] * complex(scale, 0)
		coef[b] = complex64(c)
		conj[b] = complex64(complex(real(c), -imag(c)))
	}
	addAcc := c0 != 0 || c1 != 0
	for s := lo; s < hi; s++ {
		var f complex64
		for r := uint64(s) & driven; r != 0; r &= r - 1 {
			b := bits.TrailingZeros64(r)
			f += coef[b] * in[s^(1<<b)]
		}
		for r := ^uint64(s) & driven; r != 0; r &= r - 1 {
			b := bits.TrailingZeros64(r)
			f += conj[b] * in[s^(1<<b)]
		}
		d := float32((h.diag(s) - center) * scale)
		x := complex(d, 0)*in[s] + f
		if first {
			out[s] = x
			if acc != nil {
				acc[s] = c0*acc[s] + c1*complex128(x)
			}
		} else {
			x -= out[s]
			out[s] = x
			if addAcc {
				acc[s] += c0*complex128(in[s]) + c1*complex128(x)
			}
		}
	}
}

// toSingle sets dst to src rounded to complex64.
func toSingle(dst []complex64, src []complex128) {
	dst = dst[:len(src)]
	sweep(len(src), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] = complex64(src[i])
		}
	})
}

// roundingBound is the error the single-precision recurrence may add to a
// K-term expansion of a state of norm ≤ 1. Each sweep rounds a sum of n+1
// flips and the diagonal term (about √(n+3) units of 2⁻²⁴ relative to the
// vector, the roundings being independent) and the recurrence carries an
// error made at one sweep into the later terms with a factor at most linear
// in K; with the state's own rounding that is u·(K·√(n+3) + 1) per block. It
// is an estimate, not a worst case: at N ≤ 11 the measured difference to
// the complex128 run stays 140–900× below it (TestSinglePrecisionErrorBound
// requires 100×).
func (e *evolution) roundingBound(K int) float64 {
	const u = 1.0 / (1 << 24)
	return u * (float64(K)*math.Sqrt(float64(e.h.n+3)) + 1)
}
