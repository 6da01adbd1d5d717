package emulator

import (
	"math/bits"
	"runtime"
	"sync"
)

// parallelMin is the state size from which sweeps are split across cores;
// below it goroutine hand-offs cost more than they save.
const parallelMin = 1 << 14

// sweep runs fn over [0, dim) split across the available cores.
func sweep(dim int, fn func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if dim < parallelMin || workers == 1 {
		fn(0, dim)
		return
	}
	var wg sync.WaitGroup
	chunk := (dim + workers - 1) / workers
	// The calling goroutine takes the first chunk itself.
	for lo := chunk; lo < dim; lo += chunk {
		hi := min(lo+chunk, dim)
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, hi)
	}
	fn(0, min(chunk, dim))
	wg.Wait()
}

// chebStep is one Chebyshev sweep with X = (H - center)/half:
//
//	first: out = X·in,             acc = c0·in + c1·out
//	next:  out = 2X·in - out (in place), acc += c1·out
func (h *hamiltonian) chebStep(in, out, acc []complex128, center, half float64, first bool, c0, c1 complex128) {
	scale := 2 / half
	if first {
		scale = 1 / half
	}
	sweep(h.dim, func(lo, hi int) {
		if h.global && h.uniformDet {
			h.chebGlobal(in, out, acc, lo, hi, center, scale, first, c0, c1)
		} else {
			h.chebGeneral(in, out, acc, lo, hi, center, scale, first, c0, c1)
		}
	})
}

// chebGlobal is chebStep's kernel when every atom has the same drive and
// detuning: flips need no per-atom coefficient and the detuning is a
// popcount.
func (h *hamiltonian) chebGlobal(in, out, acc []complex128, lo, hi int, center, scale float64, first bool, c0, c1 complex128) {
	inter := h.inter[:len(in)]
	out = out[:len(in)]
	acc = acc[:len(in)]
	driven := h.driven
	c := h.gDrive
	cc := complex(real(c), -imag(c))
	det := h.gDet
	sc := complex(scale, 0)
	allDriven := driven == uint64(len(in)-1)
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
		d := inter[s] - det*float64(bits.OnesCount64(uint64(s))) - center
		x := sc * (complex(d, 0)*in[s] + f)
		if first {
			out[s] = x
			acc[s] = c0*in[s] + c1*x
		} else {
			x -= out[s]
			out[s] = x
			acc[s] += c1 * x
		}
	}
}

func (h *hamiltonian) chebGeneral(in, out, acc []complex128, lo, hi int, center, scale float64, first bool, c0, c1 complex128) {
	out = out[:len(in)]
	acc = acc[:len(in)]
	driven := h.driven
	coef := h.driveAtBit
	sc := complex(scale, 0)
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
			acc[s] = c0*in[s] + c1*x
		} else {
			x -= out[s]
			out[s] = x
			acc[s] += c1 * x
		}
	}
}
