package emulator

import (
	"math"
	"math/bits"

	"github.com/tweezer-dev/tweezer/runners/sequence"
)

// hamiltonian holds what does not change during a run: the van der Waals
// interaction Σ_{i<j} C6/r⁶ nᵢnⱼ of every basis state, as small tables
// (interTables, a fraction of a percent of the state vector), and its range.
//
// Basis: state s has atom a in |r⟩ iff bit (n-1-a) of s is set, so the
// binary spelling of s is the measured bitstring (first atom leftmost).
type hamiltonian struct {
	n          int
	dim        int
	inter      interTables // interaction energy per basis state (rad/µs)
	interMin   []float64   // per number of excitations k: min and max of inter
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
	split      *splitConsts
	// kappa1 = Σ_a κ_a and kappa2 = Σ_a κ_a², κ_a = Σ_b |U_ab|: the most a
	// flip of atom a can change the interaction energy (plateauBound).
	kappa1, kappa2 float64
}

// tileBits is the size of a tile of the interaction diagonal: the
// Chebyshev kernels form it per tile of 2^tileBits amplitudes (8 KiB of
// float64, in L1 next to the vectors' lines) instead of reading a stored
// diagonal of the state vector's length.
const tileBits = 10

// interTables hold the interaction energy E(s) = Σ_{i<j} U_ij s_i s_j of
// every basis state split by bit groups: the low t bits of s (a, the
// position inside a tile), the next m bits (b) and the rest (c). Then
//
//	E(s) = top[b,c] + mid[b][a] + high[c][a]
//
// where top holds the energy among the b and c atoms, mid the energy among
// the a atoms plus their couplings to the b atoms, and high the couplings
// of the a atoms to the c atoms. At N = 24 that is 2^14 + 2·2^17 doubles
// (2.1 MiB) against 128 MiB for a stored diagonal; tile forms 2^t
// consecutive energies with two adds each.
type interTables struct {
	t, m      int
	top       []float64
	mid, high []float64 // row b (or c) of 2^t entries
}

// newInterTables builds the tables of n atoms with couplings u[i][j]
// (symmetric, indexed by bit position).
func newInterTables(n int, u [][]float64) interTables {
	t := min(n, tileBits)
	m := (n - t) / 2
	it := interTables{t: t, m: m}
	// subsetSums returns, for every pattern x of the bits lo..lo+k-1, the
	// energy Σ w(i) over its set bits plus the pairs among them.
	subsetSums := func(lo, k int, w func(i int) float64) []float64 {
		out := make([]float64, 1<<k)
		for x := 1; x < len(out); x++ {
			i := bits.TrailingZeros(uint(x))
			rest := x & (x - 1)
			e := out[rest] + w(lo+i)
			for r := uint(rest); r != 0; r &= r - 1 {
				e += u[lo+i][lo+bits.TrailingZeros(r)]
			}
			out[x] = e
		}
		return out
	}
	none := func(int) float64 { return 0 }
	low := subsetSums(0, t, none)
	it.top = subsetSums(t, n-t, none)
	// cross returns the coupling table between the a bits and the k bits
	// from lo: row x, column a = Σ_{i in x, j in a} u[i][j].
	cross := func(lo, k int) []float64 {
		out := make([]float64, (1<<k)<<t)
		for x := 1; x < 1<<k; x++ {
			i := lo + bits.TrailingZeros(uint(x))
			prev := out[(x&(x-1))<<t : (x&(x-1)+1)<<t]
			row := out[x<<t : (x+1)<<t]
			for a := 1; a < len(row); a++ {
				j := bits.TrailingZeros(uint(a))
				row[a] = row[a&(a-1)] + u[i][j]
			}
			for a := range row {
				row[a] += prev[a]
			}
		}
		return out
	}
	it.mid = cross(t, m)
	for r := 0; r < len(it.mid); r += len(low) {
		for a, e := range low {
			it.mid[r+a] += e
		}
	}
	it.high = cross(t+m, n-t-m)
	return it
}

// at is E(s).
func (it *interTables) at(s int) float64 {
	a := s & (1<<it.t - 1)
	hi := s >> it.t
	b, c := hi&(1<<it.m-1), hi>>it.m
	return it.top[hi] + it.mid[b<<it.t|a] + it.high[c<<it.t|a]
}

// tile sets dst[i] = E(lo+i) for the amplitudes [lo, lo+len(dst)), which
// lie in one tile (lo and lo+len(dst)-1 agree above bit t).
func (it *interTables) tile(dst []float64, lo int) {
	a := lo & (1<<it.t - 1)
	hi := lo >> it.t
	b, c := hi&(1<<it.m-1), hi>>it.m
	k := it.top[hi]
	mid := it.mid[b<<it.t|a : b<<it.t|a+len(dst)]
	high := it.high[c<<it.t|a : c<<it.t|a+len(dst)]
	i := 0
	if useAVX2 && len(dst) >= 4 {
		i = len(dst) &^ 3
		tileAVX2(&dst[0], &mid[0], &high[0], k, i)
	}
	for ; i < len(dst); i++ {
		dst[i] = k + mid[i] + high[i]
	}
}

// fill sets dst[s] = E(s) for every basis state (len(dst) = 2^n), across
// the cores.
func (it *interTables) fill(dst []float64) {
	sweep(len(dst), func(lo, hi int) {
		for s := lo; s < hi; {
			e := min(hi, (s>>it.t+1)<<it.t)
			it.tile(dst[s:e], s)
			s = e
		}
	})
}

// bytes is the memory the tables take.
func (it *interTables) bytes() int {
	return 8 * (len(it.top) + len(it.mid) + len(it.high))
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
	h.inter = newInterTables(n, u)
	h.kappa1, h.kappa2 = couplingSums(u)
	h.interMin, h.interMax = make([]float64, n+1), make([]float64, n+1)
	for k := range h.interMin {
		h.interMin[k], h.interMax[k] = math.Inf(1), math.Inf(-1)
	}
	var buf [1 << tileBits]float64
	for lo := 0; lo < h.dim; lo += len(buf) {
		tile := buf[:min(len(buf), h.dim-lo)]
		h.inter.tile(tile, lo)
		for i, e := range tile {
			k := bits.OnesCount(uint(lo + i))
			h.interMin[k] = math.Min(h.interMin[k], e)
			h.interMax[k] = math.Max(h.interMax[k], e)
		}
	}
	h.loBits = n / 2
	h.hiBits = n - h.loBits
	h.detLo = make([]float64, 1<<h.loBits)
	h.detHi = make([]float64, 1<<h.hiBits)
	h.driveAtBit = make([]complex128, n)
	return h
}

// couplingSums returns κ₁ = Σ_a κ_a and κ₂ = Σ_a κ_a² with κ_a = Σ_b |u_ab|,
// the most an excitation of atom a can change the interaction energy.
func couplingSums(u [][]float64) (k1, k2 float64) {
	for _, row := range u {
		k := 0.0
		for _, c := range row {
			k += math.Abs(c)
		}
		k1 += k
		k2 += k * k
	}
	return k1, k2
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
		return h.inter.at(s) - h.gDet*float64(bits.OnesCount64(uint64(s)))
	}
	return h.inter.at(s) + h.detLo[s&(len(h.detLo)-1)] + h.detHi[s>>h.loBits]
}
