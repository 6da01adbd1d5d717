package emulator

import (
	"math"
	"math/bits"

	"github.com/tweezer-dev/tweezer/runners/sequence"
)

// hamiltonian holds what does not change during a run: the van der Waals
// diagonal Σ_{i<j} C6/r⁶ nᵢnⱼ for every basis state, and its range.
//
// Basis: state s has atom a in |r⟩ iff bit (n-1-a) of s is set, so the
// binary spelling of s is the measured bitstring (first atom leftmost).
type hamiltonian struct {
	n          int
	dim        int
	inter      []float64 // interaction energy per basis state (rad/µs)
	interMin   []float64 // per number of excitations k: min and max of inter
	interMax   []float64
	loBits     int // detuning table split: low bits
	hiBits     int
	detLo      []float64 // Σ over low-bit atoms of -δ, per low pattern
	detHi      []float64
	driveAtBit []complex128 // per bit position: ⟨r|H|g⟩ = Ω/2·e^{iφ}
	driven     uint64       // bit positions with a non-zero drive
	global     bool         // every driven bit has the same drive
	gDrive     complex128
	uniformDet bool    // every atom has the same detuning
	gDet       float64 // that detuning
}

func bitOf(n, atom int) uint { return uint(n - 1 - atom) }

// newHamiltonian builds the tables of p; atoms marked in absent (may be
// nil) do not interact.
func newHamiltonian(p *sequence.Program, absent []bool) *hamiltonian {
	n := len(p.QubitIDs)
	h := &hamiltonian{n: n, dim: 1 << n}
	// Pairwise couplings indexed by bit position.
	u := make([][]float64, n)
	for i := range u {
		u[i] = make([]float64, n)
	}
	for a := 0; a < n; a++ {
		for b := 0; b < a; b++ {
			if absent != nil && (absent[a] || absent[b]) {
				continue
			}
			var c float64
			if p.Interactions != nil {
				c = p.Interactions[a][b]
			} else {
				d := 0.0
				for k := 0; k < 3; k++ {
					x := p.Positions[a][k] - p.Positions[b][k]
					d += x * x
				}
				c = p.C6 / (d * d * d)
			}
			ia, ib := bitOf(n, a), bitOf(n, b)
			u[ia][ib], u[ib][ia] = c, c
		}
	}
	h.inter = make([]float64, h.dim)
	h.interMin, h.interMax = make([]float64, n+1), make([]float64, n+1)
	for k := range h.interMin {
		h.interMin[k], h.interMax[k] = math.Inf(1), math.Inf(-1)
	}
	h.interMin[0], h.interMax[0] = 0, 0
	for s := 1; s < h.dim; s++ {
		i := bits.TrailingZeros(uint(s))
		rest := s & (s - 1)
		e := h.inter[rest]
		for r := uint(rest); r != 0; r &= r - 1 {
			e += u[i][bits.TrailingZeros(r)]
		}
		h.inter[s] = e
		k := bits.OnesCount(uint(s))
		h.interMin[k] = math.Min(h.interMin[k], e)
		h.interMax[k] = math.Max(h.interMax[k], e)
	}
	h.loBits = n / 2
	h.hiBits = n - h.loBits
	h.detLo = make([]float64, 1<<h.loBits)
	h.detHi = make([]float64, 1<<h.hiBits)
	h.driveAtBit = make([]complex128, n)
	return h
}

// setStep loads a (block-averaged) drive: per-atom Ω·e^{iφ} and δ.
func (h *hamiltonian) setStep(drive []complex128, det []float64) {
	h.driven = 0
	h.global = true
	first := true
	for a := 0; a < h.n; a++ {
		c := drive[a] / 2
		b := bitOf(h.n, a)
		h.driveAtBit[b] = c
		if c != 0 {
			h.driven |= 1 << b
			if first {
				h.gDrive, first = c, false
			} else if c != h.gDrive {
				h.global = false
			}
		}
	}
	h.uniformDet, h.gDet = true, det[0]
	for _, d := range det {
		if d != h.gDet {
			h.uniformDet = false
		}
	}
	fill := func(tab []float64, offset int) {
		for pat := range tab {
			e := 0.0
			for r := uint(pat); r != 0; r &= r - 1 {
				b := bits.TrailingZeros(r) + offset
				e -= det[h.n-1-b]
			}
			tab[pat] = e
		}
	}
	fill(h.detLo, 0)
	fill(h.detHi, h.loBits)
}

// spectrum bounds the spectrum of the loaded Hamiltonian (Gershgorin: the
// range of the diagonal widened by the largest off-diagonal row sum). With
// a uniform detuning δ the diagonal of a state with k excitations is its
// interaction minus kδ, so the range is exact per k; otherwise each atom's
// -δ widens the interaction range on its own side.
func (h *hamiltonian) spectrum(det []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	if h.uniformDet {
		for k := range h.interMin {
			lo = math.Min(lo, h.interMin[k]-h.gDet*float64(k))
			hi = math.Max(hi, h.interMax[k]-h.gDet*float64(k))
		}
	} else {
		for k := range h.interMin {
			lo, hi = math.Min(lo, h.interMin[k]), math.Max(hi, h.interMax[k])
		}
		for a := 0; a < h.n; a++ {
			lo += math.Min(0, -det[a])
			hi += math.Max(0, -det[a])
		}
	}
	r := 0.0
	for _, c := range h.driveAtBit {
		r += math.Hypot(real(c), imag(c))
	}
	return lo - r, hi + r
}

func (h *hamiltonian) diag(s int) float64 {
	if h.uniformDet {
		return h.inter[s] - h.gDet*float64(bits.OnesCount64(uint64(s)))
	}
	return h.inter[s] + h.detLo[s&(len(h.detLo)-1)] + h.detHi[s>>h.loBits]
}
