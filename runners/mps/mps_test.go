package mps

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/tweezer-dev/tweezer/runners/sequence"
)

// denseMPO contracts an MPO into its 2^N×2^N matrix (site 0 is the most
// significant bit).
func denseMPO(w mpo) []complex128 {
	// cur[a] is the 2^k×2^k matrix of the first k sites ending in state a.
	cur := [][]complex128{{1}}
	dim := 1
	for _, s := range w {
		next := make([][]complex128, s.wr)
		nd := dim * 2
		for b := range next {
			next[b] = make([]complex128, nd*nd)
		}
		for _, t := range s.terms {
			m := cur[t.a]
			for r := 0; r < dim; r++ {
				for c := 0; c < dim; c++ {
					if m[r*dim+c] == 0 {
						continue
					}
					for x := 0; x < 2; x++ {
						for y := 0; y < 2; y++ {
							next[t.b][(2*r+x)*nd+2*c+y] += m[r*dim+c] * t.op[x*2+y]
						}
					}
				}
			}
		}
		cur, dim = next, nd
	}
	return cur[0]
}

// denseH builds H = Σ [Ωᵢ/2 (cos φ σx − sin φ σy) − δᵢ nᵢ] + Σ V_ij nᵢnⱼ
// directly, in the same basis.
func denseH(drive []complex128, det []float64, v [][]float64) []complex128 {
	n := len(drive)
	d := 1 << n
	h := make([]complex128, d*d)
	bit := func(x, i int) int { return x >> (n - 1 - i) & 1 }
	for x := 0; x < d; x++ {
		e := 0.0
		for i := 0; i < n; i++ {
			if bit(x, i) == 1 {
				e -= det[i]
				for j := i + 1; j < n; j++ {
					if bit(x, j) == 1 {
						e += v[i][j]
					}
				}
			}
			y := x ^ 1<<(n-1-i)
			if bit(x, i) == 0 { // ⟨y=r|H|x=g⟩ = Ω/2·e^{iφ}
				h[y*d+x] += drive[i] / 2
			} else {
				h[y*d+x] += cmplx.Conj(drive[i]) / 2
			}
		}
		h[x*d+x] += complex(e, 0)
	}
	return h
}

func randomProgram(r *rand.Rand, n int) *sequence.Program {
	p := &sequence.Program{C6: 865723.02, QubitIDs: make([]string, n), Positions: make([][3]float64, n)}
	for i := range p.Positions {
		p.Positions[i] = [3]float64{r.Float64() * 20, r.Float64() * 20, 0}
	}
	return p
}

func TestMPOMatchesDenseHamiltonian(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, c := range []struct {
		n      int
		cutoff float64
	}{{1, 0}, {2, 0}, {5, 0}, {6, 5}, {6, 1e9}} {
		p := randomProgram(r, c.n)
		order := siteOrder(p.Positions, true)
		v := interactions(p, order, c.cutoff)
		h := newHamiltonianMPO(v)
		drive := make([]complex128, c.n)
		det := make([]float64, c.n)
		for i := range drive {
			drive[i] = cmplx.Rect(r.Float64()*10, r.Float64()*6)
			det[i] = r.NormFloat64() * 5
		}
		h.setDrive(drive, det)
		want := denseH(drive, det, v)
		if d := maxDiff(denseMPO(h.w), want); d > 1e-9 {
			t.Errorf("N=%d cutoff=%g: |MPO - H| = %.2e", c.n, c.cutoff, d)
		}
		dim := 1 << c.n
		h2 := make([]complex128, dim*dim)
		matMul(h2, want, want, dim, dim, dim)
		if d := maxDiff(denseMPO(h.w.squared()), h2); d > 1e-6*(1+maxAbs(h2)) {
			t.Errorf("N=%d: |MPO² - H²| = %.2e", c.n, d)
		}
		if c.cutoff == 1e9 && h.w.maxBond() != min(c.n-1, 2) && c.n > 1 {
			t.Errorf("no interactions left, but MPO bond dimension %d", h.w.maxBond())
		}
	}
}

func maxAbs(a []complex128) float64 {
	m := 0.0
	for _, x := range a {
		m = math.Max(m, cmplx.Abs(x))
	}
	return m
}

// A cutoff between nearest and next-nearest neighbours of a chain leaves
// one open channel per bond; without it every earlier site stays open.
func TestInteractionCutoffShrinksMPO(t *testing.T) {
	p := compile(t, quench(chain(12, 6), 100))
	order := siteOrder(p.Positions, false)
	all := newHamiltonianMPO(interactions(p, order, 0))
	nn := p.C6 / math.Pow(6, 6)
	cut := newHamiltonianMPO(interactions(p, order, nn/2))
	if got := all.w.maxBond(); got != 2+6 {
		t.Errorf("all-to-all MPO bond dimension %d, want %d", got, 2+6)
	}
	if got := cut.w.maxBond(); got != 3 {
		t.Errorf("nearest-neighbour MPO bond dimension %d, want 3", got)
	}
}

func TestSiteOrder(t *testing.T) {
	pos := func(xy ...[2]float64) [][3]float64 {
		out := make([][3]float64, len(xy))
		for i, p := range xy {
			out[i] = [3]float64{p[0], p[1], 0}
		}
		return out
	}
	shuffled := pos([2]float64{10, 0}, [2]float64{0, 0}, [2]float64{15, 0}, [2]float64{5, 0})
	if got := siteOrder(shuffled, false); !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Errorf("without optimisation the register order is kept, got %v", got)
	}
	if got := siteOrder(shuffled, true); !slices.Equal(got, []int{1, 3, 0, 2}) && !slices.Equal(got, []int{2, 0, 3, 1}) {
		t.Errorf("a shuffled chain is read along the chain, got %v", got)
	}
	// A 2×4 grid (rows of 4 along x) is read column by column: pairs of
	// vertical neighbours, so every bond spans at most 2 sites.
	g := siteOrder(pos(grid(2, 4, 5)...), true)
	for k := 0; k < 8; k += 2 {
		a, b := g[k], g[k+1]
		if a%4 != b%4 {
			t.Errorf("grid order %v: sites %d,%d are not one column", g, k, k+1)
		}
	}
	// A 4×2 grid (long side along y) is read row by row.
	g = siteOrder(pos(grid(4, 2, 5)...), true)
	for k := 0; k < 8; k += 2 {
		if a, b := g[k], g[k+1]; a/2 != b/2 {
			t.Errorf("grid order %v: sites %d,%d are not one row", g, k, k+1)
		}
	}
}

// One atom under a constant drive follows the Rabi formula.
func TestSingleAtomRabi(t *testing.T) {
	omega, delta := 2*math.Pi*1.3, 2*math.Pi*0.7
	seq := seqJSON([][2]float64{{0, 0}}, pulse("g", constant(372, omega), constant(372, delta), 0.4))
	st, _, err := Run(context.Background(), compile(t, seq), Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := math.Hypot(omega, delta)
	want := omega * omega / (w * w) * math.Pow(math.Sin(w*0.372/2), 2)
	if got := st.Occupation()[0]; math.Abs(got-want) > 1e-6 {
		t.Errorf("P(r) = %.8f, want %.8f", got, want)
	}
}

// vector returns the MPS amplitudes in MPS order (site 0 most significant).
func (s *State) vector() []complex128 {
	amps := [][]complex128{{1}}
	for _, a := range s.sites {
		next := make([][]complex128, 0, 2*len(amps))
		for _, v := range amps {
			for b := 0; b < 2; b++ {
				w := make([]complex128, a.dr)
				for l, x := range v {
					axpy(w, a.a[(l*2+b)*a.dr:(l*2+b+1)*a.dr], x)
				}
				next = append(next, w)
			}
		}
		amps = next
	}
	out := make([]complex128, len(amps))
	for i, v := range amps {
		out[i] = v[0]
	}
	return out
}

// Energy, its second moment and the norm agree with the dense
// Hamiltonian of the last sample on the final state.
func TestEnergyMatchesDense(t *testing.T) {
	atoms := [][2]float64{{0, 0}, {6, 0}, {12, 1}, {3, 5}, {9, 6}}
	seq := seqJSON(atoms,
		pulse("g", constant(300, 2*math.Pi), constant(300, 1.5), 0.7),
		pulse("g", constant(100, 3), constant(100, -4), 1.1))
	prog := compile(t, seq)
	st, _, err := Run(context.Background(), prog, Config{OptimizeQubitOrdering: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := len(atoms)
	drive := make([]complex128, n)
	det := make([]float64, n)
	for i, a := range st.order {
		drive[i], det[i] = prog.Drive[a][prog.Duration-1], prog.Det[a][prog.Duration-1]
	}
	h := denseH(drive, det, interactions(prog, st.order, 0))
	psi := st.vector()
	dim := len(psi)
	hpsi := make([]complex128, dim)
	matMul(hpsi, h, psi, dim, dim, 1)
	wantE, wantE2 := real(dot(psi, hpsi)), norm2(hpsi)
	e, e2, err := st.Energy()
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(e-wantE) > 1e-9*math.Max(1, math.Abs(wantE)) || math.Abs(e2-wantE2) > 1e-9*math.Max(1, wantE2) {
		t.Errorf("⟨H⟩ = %g, ⟨H²⟩ = %g; dense: %g, %g", e, e2, wantE, wantE2)
	}
	if nrm := st.Norm(); math.Abs(nrm-1) > 1e-9 {
		t.Errorf("norm %g", nrm)
	}
	// Without the memory for H²'s environments the mean still comes back.
	st.memLimit = 1024
	var me *MemoryError
	if e, _, err := st.Energy(); !errors.As(err, &me) || !strings.Contains(err.Error(), "energy_second_moment") || e != wantE && math.Abs(e-wantE) > 1e-9 {
		t.Errorf("second moment over the limit: ⟨H⟩ %g, error %v", e, err)
	}
}

func TestParseConfig(t *testing.T) {
	cfg, err := ParseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DT != 10 || cfg.Precision != 1e-5 || cfg.MaxBondDim != 1024 || cfg.MaxKrylovDim != 100 || cfg.ExtraKrylovTolerance != 1e-3 || cfg.InteractionCutoff != 0 || cfg.OptimizeQubitOrdering {
		t.Errorf("defaults: %+v", cfg)
	}
	cfg, err = ParseConfig(json.RawMessage(`{"dt":5,"precision":1e-6,"max_bond_dim":64,"max_krylov_dim":30,
		"extra_krylov_tolerance":0.01,"interaction_cutoff":0.5,"optimize_qubit_ordering":true,"num_gpus_to_use":2,"observables":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DT != 5 || cfg.Precision != 1e-6 || cfg.MaxBondDim != 64 || cfg.MaxKrylovDim != 30 || cfg.ExtraKrylovTolerance != 0.01 || cfg.InteractionCutoff != 0.5 || !cfg.OptimizeQubitOrdering {
		t.Errorf("parsed: %+v", cfg)
	}
	for _, c := range []struct{ in, field string }{
		{`{"dt":0.5}`, "dt"},
		{`{"dt":-10}`, "dt"},
		{`{"precision":2}`, "precision"},
		{`{"max_bond_dim":-1}`, "max_bond_dim"},
		{`{"max_krylov_dim":1}`, "max_krylov_dim"},
		{`{"extra_krylov_tolerance":-1}`, "extra_krylov_tolerance"},
		{`{"interaction_cutoff":-1}`, "interaction_cutoff"},
		{`{"optimize_qubit_ordering":"yes"}`, "optimize_qubit_ordering"},
		{`{"num_gpus_to_use":-1}`, "num_gpus_to_use"},
		{`[1]`, "configuration"},
	} {
		_, err := ParseConfig(json.RawMessage(c.in))
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != c.field {
			t.Errorf("%s: error %v, want one naming %s", c.in, err, c.field)
		}
	}
}

func TestMemoryEstimateRefuses(t *testing.T) {
	prog := compile(t, quench(chain(40, 6), 100))
	_, _, err := Run(context.Background(), prog, Config{MemoryLimit: 64 << 20}, nil)
	var me *MemoryError
	if !errors.As(err, &me) {
		t.Fatalf("want a MemoryError, got %v", err)
	}
	if me.Fits == 0 || me.Fits >= 1024 || !strings.Contains(err.Error(), "max_bond_dim") {
		t.Errorf("error %q (fits %d)", err, me.Fits)
	}
	w := newHamiltonianMPO(interactions(prog, siteOrder(prog.Positions, false), 0)).w
	if est, err := Estimate(prog, Config{MaxBondDim: me.Fits}); err != nil || est > 64<<20 || est != estimateMemory(w, me.Fits, DefaultMaxKrylovDim) {
		t.Errorf("the suggested max_bond_dim %d: estimate %d, %v", me.Fits, est, err)
	}
	// The estimate grows as χ² (and more) once bonds reach the cap.
	e32, e64 := estimateMemory(w, 32, 100), estimateMemory(w, 64, 100)
	if r := float64(e64) / float64(e32); r < 3.5 {
		t.Errorf("estimate(χ=64)/estimate(χ=32) = %.2f, want ≈ 4", r)
	}
	if _, _, err := Run(context.Background(), prog, Config{MemoryLimit: 64 << 20, MaxBondDim: me.Fits}, nil); err != nil {
		t.Errorf("with max_bond_dim %d: %v", me.Fits, err)
	}
}

func TestProgressAndCancellation(t *testing.T) {
	prog := compile(t, quench(chain(4, 6), 300))
	var seen []int
	_, stats, err := Run(context.Background(), prog, Config{}, func(p int) { seen = append(seen, p) })
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) == 0 || seen[len(seen)-1] != 100 || !slices.IsSorted(seen) {
		t.Errorf("progress %v", seen)
	}
	if len(stats.Steps) != 30 || stats.Steps[29].End != 300 {
		t.Errorf("%d steps, last %+v", len(stats.Steps), stats.Steps[len(stats.Steps)-1])
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Run(ctx, prog, Config{}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled run: %v", err)
	}
	if _, _, err := Run(context.Background(), prog, Config{MaxKrylovDim: 2, Precision: 1e-9}, nil); err == nil || !strings.Contains(err.Error(), "max_krylov_dim") {
		t.Errorf("a Krylov space of 2 must fail naming max_krylov_dim, got %v", err)
	}
}

// Observe gets the state at each evaluation time: the occupations match
// the state vector on the sequence cut at that time, and ⟨H⟩ is conserved
// under the constant quench Hamiltonian.
func TestEvaluationTimes(t *testing.T) {
	atoms := chain(6, 6)
	prog := compile(t, quench(atoms, 300))
	type seen struct {
		t   int
		occ []float64
		e   float64
	}
	var got []seen
	cfg := Config{EvalTimes: []int{250, 35, 0, 100, 35, 300}, Observe: func(ts int, st *State) {
		e, _, err := st.Energy()
		if err != nil {
			t.Error(err)
		}
		got = append(got, seen{ts, st.Occupation(), e})
	}}
	if _, stats, err := Run(context.Background(), prog, cfg, nil); err != nil {
		t.Fatal(err)
	} else if stats.Steps[3].End != 35 || stats.Steps[4].End != 40 {
		t.Errorf("steps do not land on 35 ns: %+v", stats.Steps[:5])
	}
	if len(got) != 5 || got[0].t != 0 || got[1].t != 35 || got[4].t != 300 {
		t.Fatalf("observed at %+v", got)
	}
	for _, g := range got {
		if g.t == 0 {
			if slices.Max(g.occ) != 0 {
				t.Errorf("t=0: occupation %v", g.occ)
			}
			continue
		}
		ref := observables(exact(t, quench(atoms, g.t)), len(atoms))
		for i := range atoms {
			if d := math.Abs(g.occ[i] - ref[i][i]); d > 1e-3 {
				t.Errorf("t=%d atom %d: ⟨n⟩ %.5f, state vector %.5f", g.t, i, g.occ[i], ref[i][i])
			}
		}
		if d := math.Abs(g.e - got[0].e); d > 1e-3*math.Max(1, math.Abs(got[0].e)) {
			t.Errorf("t=%d: ⟨H⟩ = %.6f, at 0 it was %.6f", g.t, g.e, got[0].e)
		}
	}
	if _, _, err := Run(context.Background(), prog, Config{EvalTimes: []int{301}, Observe: cfg.Observe}, nil); err == nil || !strings.Contains(err.Error(), "evaluation_times") {
		t.Errorf("a time past the end: %v", err)
	}
}

// An interaction matrix equal to C6/r⁶ reproduces the positions' run; a
// malformed one is refused naming interaction_matrix.
func TestInteractionMatrix(t *testing.T) {
	atoms := [][2]float64{{0, 0}, {6, 0}, {3, 5}, {9, 5}}
	prog := compile(t, quench(atoms, 200))
	n := len(atoms)
	m := make([][]float64, n)
	for i := range m {
		m[i] = make([]float64, n)
		for j := range m[i] {
			if i != j {
				dx, dy := atoms[i][0]-atoms[j][0], atoms[i][1]-atoms[j][1]
				m[i][j] = prog.C6 / math.Pow(dx*dx+dy*dy, 3)
			}
		}
	}
	a, _, err := Run(context.Background(), prog, Config{OptimizeQubitOrdering: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := Run(context.Background(), prog, Config{OptimizeQubitOrdering: true, InteractionMatrix: m}, nil)
	if err != nil {
		t.Fatal(err)
	}
	oa, ob := a.Occupation(), b.Occupation()
	for i := range oa {
		if math.Abs(oa[i]-ob[i]) > 1e-6 {
			t.Errorf("atom %d: %.6f with positions, %.6f with the matrix", i, oa[i], ob[i])
		}
	}
	m[0][1] = 3
	var ce *ConfigError
	if _, _, err := Run(context.Background(), prog, Config{InteractionMatrix: m}, nil); !errors.As(err, &ce) || ce.Field != "interaction_matrix" {
		t.Errorf("asymmetric matrix: %v", err)
	}
	if _, _, err := Run(context.Background(), prog, Config{InteractionMatrix: m[:2]}, nil); !errors.As(err, &ce) || ce.Field != "interaction_matrix" {
		t.Errorf("short matrix: %v", err)
	}
}
