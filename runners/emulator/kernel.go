package emulator

import (
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// parallelMin is the state size from which sweeps are split across cores;
// below it a second core costs more than it saves. On the two-core
// development VM (docs/emulator-measurements.md, 2 December) the ring took
// 1.3–1.7× longer on two cores than on one at N = 14–16 and 0.9–1.6× as
// long at N = 17, in both precisions: the cores contend for the caches
// rather than share the work. From N = 18 two cores gave 0.8–1.5× the
// speed of one, a gain on balance in `normal` and none clear in `low`.
// A variable so that tests can split small registers.
var parallelMin = 1 << 18

// sweepChunks is how many pieces a parallel sweep is cut into: the workers
// take pieces as they free up, so a core that another process holds back
// delays the sweep by one piece, not by half the vector.
const sweepChunks = 16

// sweep runs fn over [0, dim) split across the available cores. The pieces
// are multiples of 4 long (dim is a power of two).
func sweep(dim int, fn func(lo, hi int)) {
	sweepPieces(dim, sweepSplit(dim), fn)
}

// sweepSplit is the number of pieces sweep cuts [0, dim) into: one below
// parallelMin or on one core, else sweepChunks.
func sweepSplit(dim int) int {
	if dim < parallelMin || runtime.GOMAXPROCS(0) == 1 {
		return 1
	}
	return sweepChunks
}

// mul sets out = scale·H·in for the loaded step's Hamiltonian and returns
// Re⟨in, out⟩: mul32 in complex128, the AVX2 kernel in one pass (mode 4)
// with a global real drive, else the Go loop and a second pass.
func (h *hamiltonian) mul(in, out []complex128, scale float64) float64 {
	if len(in) != h.dim || len(out) != h.dim {
		panic("emulator: mul outside the state vector")
	}
	if !useAVX2 || !h.realGlobal() || h.dim < 8 {
		sweep(h.dim, func(lo, hi int) { h.chebGeneral(in, out, nil, lo, hi, 0, scale, true, 0, 0) })
		return sweepSum(h.dim, func(lo, hi int) float64 { return dot128(in[lo:hi], out[lo:hi]) })
	}
	return sweepReduce(h.dim, func(lo, hi int) float64 {
		k := h.chebConsts(0, scale, true, 0, 0)
		k.mode = 4
		var buf [1 << tileBits]float64
		for t0 := lo; t0 < hi; {
			t1 := min(hi, (t0>>tileBits+1)<<tileBits)
			inter := buf[:t1-t0]
			h.inter.tile(inter, t0)
			chebRealAVX2(&in[0], &out[0], nil, &inter[0], t0, t1, h.n, &k)
			t0 = t1
		}
		return k.dot
	})
}

// dot128 returns Re⟨x, y⟩.
func dot128(x, y []complex128) float64 {
	y = y[:len(x)]
	s := 0.0
	for i, a := range x {
		s += real(a)*real(y[i]) + imag(a)*imag(y[i])
	}
	return s
}

// sweepReduce is sweep for a reduction: the sum of fn over the pieces
// (whose bounds, unlike sweepSum's, are multiples of dim/sweepChunks).
func sweepReduce(dim int, fn func(lo, hi int) float64) float64 {
	pieces := sweepSplit(dim)
	if pieces == 1 {
		return fn(0, dim)
	}
	var parts [sweepChunks]float64
	chunk := dim / pieces
	sweepPieces(dim, pieces, func(lo, hi int) { parts[lo/chunk] = fn(lo, hi) })
	total := 0.0
	for _, p := range parts[:pieces] {
		total += p
	}
	return total
}

// sweepPieces is sweep with the number of pieces given (a power of two);
// piece k is [k·dim/pieces, (k+1)·dim/pieces).
func sweepPieces(dim, pieces int, fn func(lo, hi int)) {
	if pieces == 1 {
		fn(0, dim)
		return
	}
	workers := runtime.GOMAXPROCS(0)
	chunk := dim / pieces
	var next atomic.Int64
	work := func() {
		for {
			lo := int(next.Add(int64(chunk))) - chunk
			if lo >= dim {
				return
			}
			fn(lo, lo+chunk)
		}
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work()
	wg.Wait()
}

// chebStep is one Chebyshev sweep with X = (H - center)/half:
//
//	first: out = X·in,                   acc = c0·in + c1·out
//	next:  out = 2X·in - out (in place), acc += c0·in + c1·out
//
// A next step with c0 = c1 = 0 leaves acc alone (and does not read it):
// expStep adds the terms of two steps in one sweep, saving half the
// sweeps' traffic on acc.
func (h *hamiltonian) chebStep(in, out, acc []complex128, center, half float64, first bool, c0, c1 complex128) {
	scale := 2 / half
	if first {
		scale = 1 / half
	}
	if useAVX2 && h.n >= max(splitFrom, 4) && h.realGlobal() {
		h.chebSplit(in, out, acc, center, scale, first, c0, c1)
		return
	}
	if sweepSplit(h.dim) == 1 {
		// No closure: one escapes to the heap, and small registers
		// (noise trajectories) make thousands of these sweeps.
		h.chebRange(in, out, acc, 0, h.dim, center, scale, first, c0, c1)
		return
	}
	sweep(h.dim, func(lo, hi int) { h.chebRange(in, out, acc, lo, hi, center, scale, first, c0, c1) })
}

// realGlobal reports whether every atom has the same real drive and the
// same detuning: chebReal's case.
func (h *hamiltonian) realGlobal() bool {
	return h.global && h.uniformDet && h.driven == uint64(h.dim-1) && imag(h.gDrive) == 0 && h.dim >= 4
}

// chebSplit is chebStep in two passes (see splitFrom) for a global real
// drive, with the AVX2 kernels: chebRealAVX2 on the flips of the low bits
// and the diagonal, then chebHighAVX2 on the high bits.
func (h *hamiltonian) chebSplit(in, out, acc []complex128, center, scale float64, first bool, c0, c1 complex128) {
	if len(in) != h.dim || len(out) != h.dim || len(acc) != h.dim {
		panic("emulator: chebSplit outside the state vector")
	}
	k := splitAt(h.n)
	if h.split == nil {
		h.split = new(splitConsts)
	}
	consts, low := &h.split.high, &h.split.low
	*consts = h.chebConsts(center, scale, first, c0, c1)
	*low = *consts
	low.mode = 0 // out only
	if first {
		low.mode = 3
	}
	sweep(h.dim, func(lo, hi int) {
		var buf [1 << tileBits]float64
		for t0 := lo; t0 < hi; {
			t1 := min(hi, (t0>>tileBits+1)<<tileBits)
			inter := buf[:t1-t0]
			h.inter.tile(inter, t0)
			chebRealAVX2(&in[0], &out[0], &acc[0], &inter[0], t0, t1, k, low)
			t0 = t1
		}
	})
	h.splitColumns(func(lo, hi int) { chebHighAVX2(&in[0], &out[0], &acc[0], lo, hi, k, h.n, consts) })
}

// splitConsts hold a split sweep's kernel constants, kept with the
// Hamiltonian so that a sweep does not allocate them: the first pass's
// (low) and the second's (high), in each precision.
type splitConsts struct {
	low, high     chebConsts
	low32, high32 cheb32Consts
}

// splitAt is the first bit of a split sweep's second pass on n atoms.
func splitAt(n int) int {
	k := max(n-splitHigh, min(splitLow, n-1), 3)
	if n <= k || n < 4 {
		panic("emulator: split sweep on a register without high bits")
	}
	return k
}

// splitColumns runs high, the second pass of a split sweep, on column
// ranges of splitColumn / 2^(n-k) amplitudes (every row of a range at
// once), the ranges shared across the cores.
func (h *hamiltonian) splitColumns(high func(lo, hi int)) {
	k := splitAt(h.n)
	cols := 1 << k
	width := min(cols, max(8, splitColumn>>(h.n-k)))
	sweepPieces(cols, min(sweepSplit(h.dim), cols/width), func(lo, hi int) {
		for c := lo; c < hi; c += width {
			high(c, min(hi, c+width))
		}
	})
}

// chebConsts returns the constants of chebRealAVX2 and chebHighAVX2 for
// one sweep.
func (h *hamiltonian) chebConsts(center, scale float64, first bool, c0, c1 complex128) chebConsts {
	det := h.gDet
	k := chebConsts{
		diag:  [4]float64{center, det + center, det + center, 2*det + center},
		diagB: [4]float64{det + center, 2*det + center, 2*det + center, 3*det + center},
		c0re:  [4]float64{real(c0), real(c0), real(c0), real(c0)},
		c0im:  [4]float64{-imag(c0), imag(c0), -imag(c0), imag(c0)},
		c1re:  [4]float64{real(c1), real(c1), real(c1), real(c1)},
		c1im:  [4]float64{-imag(c1), imag(c1), -imag(c1), imag(c1)},
		scale: scale, det: det, drive: real(h.gDrive) * scale,
	}
	switch {
	case first:
		k.mode = 2
	case c0 != 0 || c1 != 0:
		k.mode = 1
	}
	return k
}

// chebRange is chebStep on amplitudes [lo, hi), with its kernel chosen.
func (h *hamiltonian) chebRange(in, out, acc []complex128, lo, hi int, center, scale float64, first bool, c0, c1 complex128) {
	switch {
	case h.realGlobal():
		h.chebReal(in, out, acc, lo, hi, center, scale, first, c0, c1)
	case h.global && h.uniformDet:
		h.chebGlobal(in, out, acc, lo, hi, center, scale, first, c0, c1)
	default:
		h.chebGeneral(in, out, acc, lo, hi, center, scale, first, c0, c1)
	}
}

// chebReal is chebStep's kernel when every atom has the same real drive
// Ω/2 (phase 0) and the same detuning: H·v is Ω/2 times the sum over all
// single-bit flips plus the diagonal. It works on aligned quads s..s+3: the
// flips of bits 0 and 1 stay inside the quad, and for every higher bit the
// four partners are again a contiguous quad, so each bit costs one bounds
// check and four independent complex adds. lo and hi are multiples of 4.
// With AVX2 the loop runs in assembly on aligned octets (chebRealAVX2:
// two complex amplitudes per register, bit 2 swaps the octet's quads, and
// every higher bit costs one address and four vector adds per eight
// amplitudes); otherwise the flips are summed with SSE2 on amd64
// (quadFlipsSSE2), in Go elsewhere.
func (h *hamiltonian) chebReal(in, out, acc []complex128, lo, hi int, center, scale float64, first bool, c0, c1 complex128) {
	out = out[:len(in)]
	acc = acc[:len(in)]
	n := bits.Len(uint(len(in) - 1))
	if len(in) != 1<<n || n < 2 || lo&3 != 0 || hi&3 != 0 || lo < 0 || hi > len(in) {
		panic("emulator: chebReal outside the state vector")
	}
	var k chebConsts
	if useAVX2 && n >= 3 {
		k = h.chebConsts(center, scale, first, c0, c1)
	}
	// One tile of the interaction diagonal at a time (interTables.tile).
	var buf [1 << tileBits]float64
	for t0 := lo; t0 < hi; {
		t1 := min(hi, (t0>>tileBits+1)<<tileBits)
		inter := buf[:t1-t0]
		h.inter.tile(inter, t0)
		if rest := h.chebRealTile(in, out, acc, inter, t0, t1, n, &k, center, scale, first, c0, c1); rest < t1 {
			h.chebRealGo(in, out, acc, inter[rest-t0:], rest, t1, center, scale, first, c0, c1)
		}
		t0 = t1
	}
}

// chebRealTile runs the assembly kernel on the whole octets of [lo, hi)
// (inter holds their interaction energies from lo), a quad before them, if
// any, in Go, and returns where the octets end: the caller runs the rest.
func (h *hamiltonian) chebRealTile(in, out, acc []complex128, inter []float64, lo, hi, n int, k *chebConsts, center, scale float64, first bool, c0, c1 complex128) int {
	if !useAVX2 || n < 3 {
		return lo
	}
	a, b := (lo+7)&^7, hi&^7
	if a >= b {
		return lo
	}
	chebRealAVX2(&in[0], &out[0], &acc[0], &inter[a-lo], a, b, n, k)
	if lo < a {
		h.chebRealGo(in, out, acc, inter, lo, a, center, scale, first, c0, c1)
	}
	return b
}

// chebRealGo is chebReal's loop in Go over the quads of [lo, hi), inter
// holding their interaction energies from lo; chebReal has checked the
// bounds that quadFlips relies on.
func (h *hamiltonian) chebRealGo(in, out, acc []complex128, inter []float64, lo, hi int, center, scale float64, first bool, c0, c1 complex128) {
	inter = inter[:hi-lo]
	out = out[:len(in)]
	acc = acc[:len(in)]
	drive := real(h.gDrive) * scale
	det := h.gDet
	n := bits.Len(uint(len(in) - 1))
	addAcc := c0 != 0 || c1 != 0
	for s := lo; s < hi; s += 4 {
		q := in[s : s+4 : s+4]
		v0, v1, v2, v3 := q[0], q[1], q[2], q[3]
		f0, f1, f2, f3 := flipQuad(in, s, n, v1+v2, v0+v3)
		base := det * float64(bits.OnesCount64(uint64(s)))
		e := inter[s-lo : s-lo+4 : s-lo+4]
		// Bits 0 and 1 add 0, 1, 1, 2 excitations to the quad's base.
		d0 := (e[0] - base - center) * scale
		d1 := (e[1] - base - det - center) * scale
		d2 := (e[2] - base - det - center) * scale
		d3 := (e[3] - base - 2*det - center) * scale
		x0 := complex(d0*real(v0)+drive*real(f0), d0*imag(v0)+drive*imag(f0))
		x1 := complex(d1*real(v1)+drive*real(f1), d1*imag(v1)+drive*imag(f1))
		x2 := complex(d2*real(v2)+drive*real(f2), d2*imag(v2)+drive*imag(f2))
		x3 := complex(d3*real(v3)+drive*real(f3), d3*imag(v3)+drive*imag(f3))
		o := out[s : s+4 : s+4]
		a := acc[s : s+4 : s+4]
		if first {
			o[0], o[1], o[2], o[3] = x0, x1, x2, x3
			a[0] = c0*v0 + c1*x0
			a[1] = c0*v1 + c1*x1
			a[2] = c0*v2 + c1*x2
			a[3] = c0*v3 + c1*x3
		} else {
			x0 -= o[0]
			x1 -= o[1]
			x2 -= o[2]
			x3 -= o[3]
			o[0], o[1], o[2], o[3] = x0, x1, x2, x3
			if addAcc {
				a[0] += c0*v0 + c1*x0
				a[1] += c0*v1 + c1*x1
				a[2] += c0*v2 + c1*x2
				a[3] += c0*v3 + c1*x3
			}
		}
	}
}

// quadFlips returns, for the aligned quad s..s+3, the sums over the flips of
// bits 2..n-1 added to the in-quad flip sums f0 = v1+v2 and f1 = v0+v3 (the
// quad's elements 3 and 2 share them). Kept out of chebReal so that the
// four complex accumulators stay in registers. The partner quad s^(1<<b)
// lies inside in because len(in) is a power of two above s (chebReal checks
// it) and s is a multiple of 4, so the loop reads it through a pointer
// without bounds checks.
//
//go:noinline
func quadFlips(in []complex128, s, n int, f0, f1 complex128) (complex128, complex128, complex128, complex128) {
	f2, f3 := f1, f0
	base := unsafe.Pointer(unsafe.SliceData(in))
	off := uintptr(s) << 4 // bytes
	for bit := uintptr(4) << 4; bit < uintptr(len(in))<<4; bit <<= 1 {
		p := (*[4]complex128)(unsafe.Add(base, off^bit))
		f0 += p[0]
		f1 += p[1]
		f2 += p[2]
		f3 += p[3]
	}
	return f0, f1, f2, f3
}

// chebConsts are chebReal's constants for one sweep, laid out for
// chebRealAVX2 (kernel_amd64.s reads them by the offsets in go_asm.h):
// vectors of four doubles, i.e. two complex lanes.
type chebConsts struct {
	diag  [4]float64 // center + det·(0, 1, 1, 2): the quad's own excitations
	diagB [4]float64 // center + det·(1, 2, 2, 3): the octet's second quad
	c0re  [4]float64 // real(c0) in every lane
	c0im  [4]float64 // (-imag(c0), imag(c0)) per lane: multiplies (im, re)
	c1re  [4]float64
	c1im  [4]float64
	scale float64
	det   float64
	drive float64 // real drive times scale
	mode  int64   // 2 on the first step, 1 on a next step that adds to acc, 0 on one that does not; 3 on a first step that writes out only, 4 that also adds Re⟨in, out⟩ to dot
	dot   float64
}

// flipQuad is the flip summation of chebReal's Go loop: quadFlipsSSE2
// where there is one, else quadFlips.
func flipQuad(in []complex128, s, n int, f0, f1 complex128) (complex128, complex128, complex128, complex128) {
	if useSSE2 {
		return quadFlipsSSE2(&in[0], s, n, f0, f1)
	}
	return quadFlips(in, s, n, f0, f1)
}

// chebGlobal is chebStep's kernel when every atom has the same drive and
// detuning: flips need no per-atom coefficient and the detuning is a
// popcount.
func (h *hamiltonian) chebGlobal(in, out, acc []complex128, lo, hi int, center, scale float64, first bool, c0, c1 complex128) {
	out = out[:len(in)]
	acc = acc[:len(in)]
	driven := h.driven
	c := h.gDrive
	cc := complex(real(c), -imag(c))
	det := h.gDet
	sc := complex(scale, 0)
	allDriven := driven == uint64(len(in)-1)
	addAcc := c0 != 0 || c1 != 0
	realDrive := imag(c) == 0
	n := bits.Len(uint(len(in) - 1))
	for s := lo; s < hi; s++ {
		var f complex128
		if realDrive && allDriven {
			// Ω·cos φ σx only: every flip has the same real element. Four
			// accumulators break the floating-point add dependency chain.
			var s0, s1, s2, s3 complex128
			b := 0
			for ; b+4 <= n; b += 4 {
				s0 += in[s^(1<<b)]
				s1 += in[s^(2<<b)]
				s2 += in[s^(4<<b)]
				s3 += in[s^(8<<b)]
			}
			for ; b < n; b++ {
				s0 += in[s^(1<<b)]
			}
			f = c * ((s0 + s1) + (s2 + s3))
		} else {
			var d0, d1, u0, u1 complex128
			r := uint64(s) & driven
			for ; r&(r-1) != 0; r &= r - 1 {
				d0 += in[s^int(r&-r)]
				r &= r - 1
				d1 += in[s^int(r&-r)]
			}
			if r != 0 {
				d0 += in[s^int(r)]
			}
			r = ^uint64(s) & driven
			for ; r&(r-1) != 0; r &= r - 1 {
				u0 += in[s^int(r&-r)]
				r &= r - 1
				u1 += in[s^int(r&-r)]
			}
			if r != 0 {
				u0 += in[s^int(r)]
			}
			f = c*(d0+d1) + cc*(u0+u1)
		}
		d := h.inter.at(s) - det*float64(bits.OnesCount64(uint64(s))) - center
		x := sc * (complex(d, 0)*in[s] + f)
		if first {
			out[s] = x
			acc[s] = c0*in[s] + c1*x
		} else {
			x -= out[s]
			out[s] = x
			if addAcc {
				acc[s] += c0*in[s] + c1*x
			}
		}
	}
}

func (h *hamiltonian) chebGeneral(in, out, acc []complex128, lo, hi int, center, scale float64, first bool, c0, c1 complex128) {
	out = out[:len(in)]
	if acc != nil {
		acc = acc[:len(in)]
	}
	driven := h.driven
	coef := h.driveAtBit
	sc := complex(scale, 0)
	addAcc := c0 != 0 || c1 != 0
	for s := lo; s < hi; s++ {
		var f complex128
		for r := uint64(s) & driven; r != 0; r &= r - 1 {
			b := bits.TrailingZeros64(r)
			f += coef[b] * in[s^(1<<b)]
		}
		for r := ^uint64(s) & driven; r != 0; r &= r - 1 {
			b := bits.TrailingZeros64(r)
			k := coef[b]
			f += complex(real(k), -imag(k)) * in[s^(1<<b)]
		}
		x := sc * (complex(h.diag(s)-center, 0)*in[s] + f)
		if first {
			out[s] = x
			if acc != nil {
				acc[s] = c0*in[s] + c1*x
			}
		} else {
			x -= out[s]
			out[s] = x
			if addAcc {
				acc[s] += c0*in[s] + c1*x
			}
		}
	}
}
