package emulator

import (
	"math/bits"
	"runtime"
	"sync"
)

// parallelMin is the state size from which sweeps are split across cores;
// below it goroutine hand-offs cost more than they save.
const parallelMin = 1 << 12

// sweep runs fn over [0, dim) split across the available cores.
func sweep(dim int, fn func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if dim < parallelMin || workers == 1 {
		fn(0, dim)
		return
	}
	var wg sync.WaitGroup
	chunk := (dim + workers - 1) / workers
	for lo := 0; lo < dim; lo += chunk {
		hi := min(lo+chunk, dim)
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, hi)
	}
	wg.Wait()
}

// flipSum returns Σ_a ⟨s|H_drive|s^m_a⟩ v[s^m_a] for the loaded drive.
func (h *hamiltonian) flipSum(v []complex128, s int) complex128 {
	if h.global {
		var up, down complex128
		for r := uint64(s) & h.driven; r != 0; r &= r - 1 {
			down += v[s^int(r&-r)]
		}
		for r := ^uint64(s) & h.driven; r != 0; r &= r - 1 {
			up += v[s^int(r&-r)]
		}
		// s has atom a in |r⟩: the partner is |g⟩ and the element ⟨r|H|g⟩ = c.
		c := h.gDrive
		return c*down + complex(real(c), -imag(c))*up
	}
	var acc complex128
	for r := uint64(s) & h.driven; r != 0; r &= r - 1 {
		b := bits.TrailingZeros64(r)
		acc += h.driveAtBit[b] * v[s^(1<<b)]
	}
	for r := ^uint64(s) & h.driven; r != 0; r &= r - 1 {
		b := bits.TrailingZeros64(r)
		c := h.driveAtBit[b]
		acc += complex(real(c), -imag(c)) * v[s^(1<<b)]
	}
	return acc
}

// chebFirst computes t1 = X·t0 with X = (H - center)/half and starts the
// sum acc = c0·t0 + c1·t1.
func (h *hamiltonian) chebFirst(t0, t1, acc []complex128, center, half float64, c0, c1 complex128) {
	inv := 1 / half
	sweep(h.dim, func(lo, hi int) {
		for s := lo; s < hi; s++ {
			x := complex(inv, 0) * (complex(h.diag(s)-center, 0)*t0[s] + h.flipSum(t0, s))
			t1[s] = x
			acc[s] = c0*t0[s] + c1*x
		}
	})
}

// chebNext computes prev ← 2X·cur − prev in place and adds coef·prev to acc.
func (h *hamiltonian) chebNext(cur, prev, acc []complex128, center, half float64, coef complex128) {
	two := 2 / half
	sweep(h.dim, func(lo, hi int) {
		for s := lo; s < hi; s++ {
			x := complex(two, 0)*(complex(h.diag(s)-center, 0)*cur[s]+h.flipSum(cur, s)) - prev[s]
			prev[s] = x
			acc[s] += coef * x
		}
	})
}
