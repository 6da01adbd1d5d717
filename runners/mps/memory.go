package mps

import (
	"fmt"

	"github.com/tweezer-dev/tweezer/internal/sysmem"
)

// MemoryError refuses a run (or, with What set, one computation) whose
// estimated peak exceeds the budget.
type MemoryError struct {
	Atoms, MaxBondDim int
	Estimate, Limit   uint64
	Fits              int    // largest max_bond_dim that fits, 0 if none
	What              string // the computation refused; "" for the run
}

func (e *MemoryError) Error() string {
	if e.What != "" {
		return fmt.Sprintf("%s: on %d atoms at bond dimension %d it needs %.1f MiB, more than the %.1f MiB available",
			e.What, e.Atoms, e.MaxBondDim, mib(e.Estimate), mib(e.Limit))
	}
	msg := fmt.Sprintf("max_bond_dim: an MPS of %d atoms at max_bond_dim %d needs up to %.1f MiB, more than the %.1f MiB available",
		e.Atoms, e.MaxBondDim, mib(e.Estimate), mib(e.Limit))
	if e.Fits > 0 {
		msg += fmt.Sprintf("; max_bond_dim %d or less fits", e.Fits)
	}
	return msg
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func availableMemory() uint64 { return sysmem.Available() }

// bondCaps returns the largest bond dimension each of the N-1 bonds can
// reach: min(maxBond, 2^min(k+1, N-k-1)).
func bondCaps(n, maxBond int) []int {
	caps := make([]int, max(n-1, 0))
	for k := range caps {
		e := min(k+1, n-k-1)
		c := maxBond
		if e < 30 && 1<<e < c {
			c = 1 << e
		}
		caps[k] = c
	}
	return caps
}

// EstimateMemory bounds the peak bytes of a run on the MPO w when every
// bond reaches its cap (max_bond_dim or the exact Schmidt rank): the MPS,
// the left and right environments (w_k·χ_k² each), and at the costliest
// bond the two-site work: θ and its Krylov basis, the three intermediates
// of the effective Hamiltonian, and the SVD's copies. All of it is
// counted twice: Go's collector lets the heap reach twice the live data
// (GOGC 100), and the MPS, the environments and the work buffers are
// reallocated every step, their previous copies garbage in the same heap.
// (Doubling the work buffers alone, as before, was exceeded by the 6×6
// AFM grid at χ 64: peak heap 145.7 MiB against 129.2 MiB estimated.)
func estimateMemory(w mpo, maxBond, krylovDim int) uint64 {
	n := len(w)
	caps := bondCaps(n, maxBond)
	chi := func(k int) uint64 { // bond k between sites k and k+1; boundaries 1
		if k < 0 || k >= n-1 {
			return 1
		}
		return uint64(caps[k])
	}
	const c = 16 // bytes per complex128
	var state, work uint64
	for i := 0; i < n; i++ {
		dl, dr := chi(i-1), chi(i)
		state += c * 2 * dl * dr
		state += c * (uint64(w[i].wl)*dl*dl + uint64(w[i].wr)*dr*dr)
		if i < n-1 {
			dr2 := chi(i + 1)
			th := c * 4 * dl * dr2
			wl, w1, w2 := uint64(w[i].wl), uint64(w[i].wr), uint64(w[i+1].wr)
			ws := th*uint64(krylovDim+2) + th*(wl+w1+max(w2, wl)) + 4*th
			work = max(work, ws)
		}
	}
	return 2 * (state + work)
}

// largestFittingBond halves max_bond_dim until the estimate fits.
func largestFittingBond(w mpo, maxBond, krylovDim int, limit uint64) int {
	for b := maxBond / 2; b >= 1; b /= 2 {
		if estimateMemory(w, b, krylovDim) <= limit {
			return b
		}
	}
	return 0
}
