package mps

import (
	"math"
	"slices"
	"sort"

	"github.com/tweezer-dev/tweezer/runners/sequence"
)

// op2 is a one-site operator ⟨s'|O|s⟩ stored at [s'*2+s], with the local
// basis 0 = |g⟩, 1 = |r⟩ (the bit the atom reads out).
type op2 [4]complex128

var (
	opId = op2{1, 0, 0, 1}
	opN  = op2{0, 0, 0, 1}
)

// term is one non-zero entry W[a,b] = op of a site's MPO tensor.
type term struct {
	a, b int
	op   op2
}

// mpoSite is one site's MPO tensor as a sparse list of operator entries;
// wl and wr are its left and right MPO bond dimensions.
type mpoSite struct {
	wl, wr int
	terms  []term
	local  int // index in terms of the start→end entry (the one-site Hamiltonian)
}

// mpo is H = W_0 W_1 … W_{N-1} (boundary dimensions 1).
type mpo []mpoSite

// maxBond returns the largest MPO bond dimension.
func (w mpo) maxBond() int {
	m := 1
	for _, s := range w {
		m = max(m, s.wr)
	}
	return m
}

// Hamiltonian MPO as a finite-state machine over the sites (in MPS order).
// At every bond two states are "start" (only identities so far) and "end"
// (a whole term placed); the left boundary is "start", the right "end".
// Interactions travel through channels. Left of a switch site m a channel
// is a site j already passed that still has a partner to the right (nⱼ
// placed, the partner l closes with V_jl·n_l); from m on a channel is a
// site l still ahead that some passed site interacts with (Σⱼ V_jl·nⱼ
// accumulated, n_l closes it). At m, left channels turn into right ones
// with the couplings V_jl. m is chosen to minimise the largest bond
// dimension: all-to-all interactions need 2 + min(k+1, N-k-1) at bond k,
// a chain with a cutoff a few.
type hamiltonianMPO struct {
	n     int
	inter [][]float64 // V between sites (MPS order), 0 below the cutoff
	w     mpo
}

// interactions returns V_ij = C6/r⁶ between sites in MPS order, with
// entries below cutoff (rad/µs) set to zero.
func interactions(p *sequence.Program, order []int, cutoff float64) [][]float64 {
	n := len(order)
	v := make([][]float64, n)
	for i := range v {
		v[i] = make([]float64, n)
	}
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			a, b := p.Positions[order[i]], p.Positions[order[j]]
			d := 0.0
			for k := 0; k < 3; k++ {
				x := a[k] - b[k]
				d += x * x
			}
			c := p.C6 / (d * d * d)
			if c < cutoff {
				c = 0
			}
			v[i][j], v[j][i] = c, c
		}
	}
	return v
}

// matrixInteractions reorders a register-order interaction matrix into MPS
// order, with entries below cutoff set to zero.
func matrixInteractions(m [][]float64, order []int, cutoff float64) [][]float64 {
	n := len(order)
	v := make([][]float64, n)
	for i := range v {
		v[i] = make([]float64, n)
		for j := range v[i] {
			if c := m[order[i]][order[j]]; i != j && c != 0 && math.Abs(c) >= cutoff {
				v[i][j] = c
			}
		}
	}
	return v
}

func newHamiltonianMPO(inter [][]float64) *hamiltonianMPO {
	n := len(inter)
	h := &hamiltonianMPO{n: n, inter: inter, w: make(mpo, n)}
	first, last := make([]int, n), make([]int, n) // partners' range per site
	for j := 0; j < n; j++ {
		first[j], last[j] = n, -1
		for l := 0; l < n; l++ {
			if inter[j][l] != 0 {
				first[j], last[j] = min(first[j], l), max(last[j], l)
			}
		}
	}
	// left[k] and right[k]: the channels bond k (0..n-2) would hold in
	// either mode, as an index per site (-1 when absent).
	left, right := make([][]int, n), make([][]int, n)
	nl, nr := make([]int, n), make([]int, n)
	for k := 0; k < n-1; k++ {
		left[k], right[k] = make([]int, n), make([]int, n)
		for j := 0; j < n; j++ {
			left[k][j], right[k][j] = -1, -1
			if j <= k && last[j] > k {
				left[k][j] = 2 + nl[k]
				nl[k]++
			}
			if j > k && first[j] <= k {
				right[k][j] = 2 + nr[k]
				nr[k]++
			}
		}
	}
	m, best := n-1, math.MaxInt
	for cand := 0; cand < n; cand++ {
		w := 0
		for k := 0; k < n-1; k++ {
			if k < cand {
				w = max(w, nl[k])
			} else {
				w = max(w, nr[k])
			}
		}
		if w < best {
			m, best = cand, w
		}
	}
	isLeft := func(k int) bool { return k < m }
	dim := func(k int) int {
		switch {
		case k == -1 || k == n-1:
			return 1
		case isLeft(k):
			return 2 + nl[k]
		}
		return 2 + nr[k]
	}
	// Indices of start and end at bond k (-1 when absent).
	start := func(k int) int {
		if k == n-1 {
			return -1
		}
		return 0
	}
	end := func(k int) int {
		switch k {
		case -1:
			return -1
		case n - 1:
			return 0
		}
		return 1
	}
	for i := 0; i < n; i++ {
		s := mpoSite{wl: dim(i - 1), wr: dim(i)}
		add := func(a, b int, op op2) {
			if a >= 0 && b >= 0 {
				s.terms = append(s.terms, term{a, b, op})
			}
		}
		scaledN := func(v float64) op2 { return op2{0, 0, 0, complex(v, 0)} }
		add(start(i-1), start(i), opId)
		add(end(i-1), end(i), opId)
		s.local = len(s.terms)
		add(start(i-1), end(i), op2{})
		for j := 0; j < n; j++ {
			// Channels entering from the left bond.
			var in int = -1
			if i > 0 && i-1 < n-1 {
				if isLeft(i - 1) {
					in = left[i-1][j]
				} else {
					in = right[i-1][j]
				}
			}
			// Channels leaving on the right bond.
			out := -1
			if i < n-1 {
				if isLeft(i) {
					out = left[i][j]
				} else {
					out = right[i][j]
				}
			}
			switch {
			case i < m: // left → left
				if in >= 0 {
					add(in, out, opId) // j waits on
					if v := inter[j][i]; v != 0 {
						add(in, end(i), scaledN(v))
					}
				}
				if j == i && out >= 0 {
					add(start(i-1), out, opN)
				}
			case i > m: // right → right
				if in >= 0 && j > i {
					add(in, out, opId)
				}
				if in >= 0 && j == i {
					add(in, end(i), opN)
				}
				if j > i && out >= 0 && inter[i][j] != 0 {
					add(start(i-1), out, scaledN(inter[i][j]))
				}
			default: // the switch site: left channels in, right channels out
				if in >= 0 {
					if v := inter[j][i]; v != 0 {
						add(in, end(i), scaledN(v))
					}
					for l := i + 1; l < n && i < n-1; l++ {
						if o := right[i][l]; o >= 0 && inter[j][l] != 0 {
							add(in, o, op2{complex(inter[j][l], 0), 0, 0, complex(inter[j][l], 0)})
						}
					}
				}
				if j > i && out >= 0 && inter[i][j] != 0 {
					add(start(i-1), out, scaledN(inter[i][j]))
				}
			}
		}
		h.w[i] = s
	}
	return h
}

// setDrive loads the one-site terms: drive[i] = Ω·e^{iφ} and det[i] = δ of
// site i (MPS order), h = Ω/2 (cos φ σx − sin φ σy) − δ n, so that
// ⟨r|h|g⟩ = Ω/2·e^{iφ}.
func (h *hamiltonianMPO) setDrive(drive []complex128, det []float64) {
	for i := range h.w {
		c := drive[i] / 2
		h.w[i].terms[h.w[i].local].op = op2{0, complexConj(c), c, complex(-det[i], 0)}
	}
}

// clone returns a copy whose one-site terms can be set independently.
func (h *hamiltonianMPO) clone() *hamiltonianMPO {
	c := &hamiltonianMPO{n: h.n, inter: h.inter, w: make(mpo, len(h.w))}
	for i, s := range h.w {
		s.terms = slices.Clone(s.terms)
		c.w[i] = s
	}
	return c
}

func complexConj(c complex128) complex128 { return complex(real(c), -imag(c)) }

// squared returns the MPO of H² (bond dimensions squared): the entry
// ((a,a'),(b,b')) is W[a,b]·W[a',b'].
func (w mpo) squared() mpo {
	out := make(mpo, len(w))
	for i, s := range w {
		q := mpoSite{wl: s.wl * s.wl, wr: s.wr * s.wr}
		for _, t1 := range s.terms {
			for _, t2 := range s.terms {
				var op op2
				for x := 0; x < 2; x++ {
					for y := 0; y < 2; y++ {
						op[x*2+y] = t1.op[x*2]*t2.op[y] + t1.op[x*2+1]*t2.op[2+y]
					}
				}
				if op == (op2{}) {
					continue
				}
				q.terms = append(q.terms, term{t1.a*s.wl + t2.a, t1.b*s.wr + t2.b, op})
			}
		}
		out[i] = q
	}
	return out
}

// siteOrder returns the MPS order of the atoms (order[site] = register
// index). Without optimisation it is the register's order. With it, atoms
// are sorted along the principal axis of the register (largest spread),
// grouped in slices half a nearest-neighbour distance thick, and by the
// second axis within a slice: a chain keeps its order along the chain, a
// grid is read column by column across its longer side, so every cut of
// the MPS crosses one short column of neighbours and the bond dimension
// and the MPO stay small.
func siteOrder(pos [][3]float64, optimize bool) []int {
	n := len(pos)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if !optimize || n < 3 {
		return order
	}
	var cx, cy float64
	for _, p := range pos {
		cx += p[0]
		cy += p[1]
	}
	cx /= float64(n)
	cy /= float64(n)
	var sxx, syy, sxy float64
	for _, p := range pos {
		x, y := p[0]-cx, p[1]-cy
		sxx += x * x
		syy += y * y
		sxy += x * y
	}
	// Principal axis angle; an isotropic register keeps the x axis.
	theta := 0.0
	if math.Abs(sxy) > 1e-9*(sxx+syy) || math.Abs(sxx-syy) > 1e-9*(sxx+syy) {
		theta = 0.5 * math.Atan2(2*sxy, sxx-syy)
	}
	ux, uy := math.Cos(theta), math.Sin(theta)
	minD := math.Inf(1)
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			d := math.Hypot(math.Hypot(pos[i][0]-pos[j][0], pos[i][1]-pos[j][1]), pos[i][2]-pos[j][2])
			if d > 0 {
				minD = math.Min(minD, d)
			}
		}
	}
	if math.IsInf(minD, 1) {
		return order
	}
	major := make([]float64, n)
	minor := make([]float64, n)
	for i, p := range pos {
		x, y := p[0]-cx, p[1]-cy
		major[i] = x*ux + y*uy
		minor[i] = -x*uy + y*ux
	}
	slice := func(i int) int { return int(math.Floor(major[i]/(0.5*minD) + 0.5)) }
	sort.SliceStable(order, func(x, y int) bool {
		a, b := order[x], order[y]
		if sa, sb := slice(a), slice(b); sa != sb {
			return sa < sb
		}
		return minor[a] < minor[b]
	})
	return order
}
