package mps

import (
	"math"
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
// At bond k (between sites k and k+1) the states are: 0 "start" (only
// identities so far), 1 "end" (a whole term placed), and one channel per
// site j ≤ k that has an interaction partner beyond k (nⱼ placed, waiting
// for its partner l, which closes with V_jl·n_l). The left boundary is
// "start", the right boundary "end". A 1D chain with a cutoff keeps few
// channels open; all-to-all interactions keep up to k+1.
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

func newHamiltonianMPO(inter [][]float64) *hamiltonianMPO {
	n := len(inter)
	h := &hamiltonianMPO{n: n, inter: inter, w: make(mpo, n)}
	// open[k] lists the channels at bond k: sites j ≤ k with a partner > k.
	open := make([][]int, n)
	lastPartner := make([]int, n)
	for j := 0; j < n; j++ {
		lastPartner[j] = -1
		for l := j + 1; l < n; l++ {
			if inter[j][l] != 0 {
				lastPartner[j] = l
			}
		}
	}
	for k := 0; k < n-1; k++ {
		for j := 0; j <= k; j++ {
			if lastPartner[j] > k {
				open[k] = append(open[k], j)
			}
		}
	}
	chanIdx := func(k, j int) int {
		for p, x := range open[k] {
			if x == j {
				return 2 + p
			}
		}
		return -1
	}
	// State indices at bond k: start/end (−1 when absent).
	start := func(k int) int {
		if k == n-1 {
			return -1
		}
		return 0
	}
	end := func(k int) int {
		switch {
		case k == -1:
			return -1
		case k == n-1:
			return 0
		}
		return 1
	}
	dim := func(k int) int {
		if k == -1 || k == n-1 {
			return 1
		}
		return 2 + len(open[k])
	}
	for i := 0; i < n; i++ {
		s := mpoSite{wl: dim(i - 1), wr: dim(i)}
		if a, b := start(i-1), start(i); a >= 0 && b >= 0 {
			s.terms = append(s.terms, term{a, b, opId})
		}
		if a, b := end(i-1), end(i); a >= 0 && b >= 0 {
			s.terms = append(s.terms, term{a, b, opId})
		}
		s.local = len(s.terms)
		s.terms = append(s.terms, term{start(i - 1), end(i), op2{}})
		if i < n-1 && lastPartner[i] > i {
			s.terms = append(s.terms, term{start(i - 1), chanIdx(i, i), opN})
		}
		if i > 0 {
			for p, j := range open[i-1] {
				if i < n-1 && lastPartner[j] > i {
					s.terms = append(s.terms, term{2 + p, chanIdx(i, j), opId})
				}
				if v := inter[j][i]; v != 0 {
					s.terms = append(s.terms, term{2 + p, end(i), op2{0, 0, 0, complex(v, 0)}})
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
// grid is read column by column across its longer side, so interacting
// neighbours stay close in the MPS and the bond dimension and MPO stay
// small. A ring is read zig-zag, so no bond spans the whole register.
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
