package emulator

import (
	"context"
	"math"
	"math/bits"
	"math/cmplx"
	"math/rand/v2"
	"testing"

	"github.com/tweezer-dev/tweezer/runners/emulator/magnus"
	"github.com/tweezer-dev/tweezer/runners/sequence"
)

// exactBlock returns psi evolved over [t, t+b) one ns at a time (the
// program's piecewise-constant samples exactly, to Chebyshev tolerance
// 1e-14).
func exactBlock(t *testing.T, p *sequence.Program, psi []complex128, t0, b int) []complex128 {
	t.Helper()
	e := newEvolution(p, 0)
	copy(e.psi, psi)
	for k := range b {
		e.loadAverage(t0+k, 1)
		if err := e.expStep(context.Background(), dtMicros, 1e-14); err != nil {
			t.Fatal(err)
		}
	}
	return e.psi
}

// blockTerms returns the Lie coefficients of the block [t0, t0+b) of p's
// global detuning (u_k = -δ_k, as plateauBlock takes them) and its mean
// detuning.
func blockTerms(p *sequence.Program, t0, b int) (magnus.Terms, float64) {
	u := make([]float64, b)
	mean := 0.0
	for k := range u {
		u[k] = -p.Det[0][t0+k]
		mean += p.Det[0][t0+k] / float64(b)
	}
	return magnus.Of(u), mean
}

// On the ring's plateau (constant drive, detuning swept) the plateau step
// is fourth order: against the per-ns product its error is hundreds of
// times below the midpoint step's at 8 ns and grows as b⁵ (32× per
// doubling), while the midpoint's grows as b³; and plateauBound stays
// above the error it bounds at every length.
func TestPlateauStepIsFourthOrder(t *testing.T) {
	p := compile(t, ringSequence(10))
	ctx := context.Background()
	start := newEvolution(p, 0)
	const t0 = 1500 // on the plateau (252–2752 ns)
	copy(start.psi, exactBlock(t, p, start.psi, 0, t0))
	var mid, plat [2]float64
	for i, b := range []int{8, 16, 32, 64} {
		exact := exactBlock(t, p, start.psi, t0, b)
		tm, meanDet := blockTerms(p, t0, b)

		e := newEvolution(p, 0)
		copy(e.psi, start.psi)
		e.loadAverage(t0, b)
		if err := e.plateauStep(ctx, b, tm.C2, 1e-14); err != nil {
			t.Fatal(err)
		}
		errPlat := dist(e.psi, exact)

		m := newEvolution(p, 0)
		copy(m.psi, start.psi)
		m.loadAverage(t0, b)
		if err := m.expStep(ctx, float64(b)*dtMicros, 1e-14); err != nil {
			t.Fatal(err)
		}
		errMid := dist(m.psi, exact)

		bound := e.h.plateauBound(tm, cmplx.Abs(p.Drive[0][t0])/2, math.Abs(meanDet))
		t.Logf("b=%d: midpoint %.3e, plateau step %.3e, bound %.3e", b, errMid, errPlat, bound)
		if errPlat > bound {
			t.Errorf("b=%d: plateau step error %.3e above its bound %.3e", b, errPlat, bound)
		}
		if b == 8 && errPlat*100 > errMid {
			t.Errorf("b=8: plateau step error %.3e not 100× below the midpoint's %.3e", errPlat, errMid)
		}
		if i < 2 {
			mid[i], plat[i] = errMid, errPlat
		}
	}
	if r := plat[1] / plat[0]; r < 20 || r > 45 {
		t.Errorf("plateau step error grows %.1f× from 8 to 16 ns, want about 32 (b⁵)", r)
	}
	if r := mid[1] / mid[0]; r < 6 || r > 11 {
		t.Errorf("midpoint error grows %.1f× from 8 to 16 ns, want about 8 (b³)", r)
	}
}

// A global drive with a phase is the real drive between two rotations by
// e^{iφN}: the Chebyshev sum with the complex drive (general kernel) and
// plateauStep's rotated real-drive path end in the same state.
func TestRotationMakesAPhasedDriveReal(t *testing.T) {
	p := compile(t, ringSequence(8))
	ctx := context.Background()
	const t0, b = 1000, 20
	tm, _ := blockTerms(p, t0, b)
	c2 := tm.C2
	start := newEvolution(p, 0)
	copy(start.psi, exactBlock(t, p, start.psi, 0, t0))

	rotated := newEvolution(p, 0)
	copy(rotated.psi, start.psi)
	rotated.loadAverage(t0, b)
	if err := rotated.plateauStep(ctx, b, c2, 1e-14); err != nil {
		t.Fatal(err)
	}

	direct := newEvolution(p, 0)
	copy(direct.psi, start.psi)
	direct.loadAverage(t0, b)
	corr := complex(1, dtMicros*c2/float64(b))
	for a := range direct.avgDrive {
		direct.avgDrive[a] *= corr
	}
	direct.h.setStep(direct.avgDrive, direct.avgDet)
	if direct.h.global && imag(direct.h.gDrive) == 0 {
		t.Fatal("the corrected drive should have a phase")
	}
	if err := direct.expStep(ctx, float64(b)*dtMicros, 1e-14); err != nil {
		t.Fatal(err)
	}
	if d := dist(rotated.psi, direct.psi); d > 1e-11 {
		t.Fatalf("rotated real drive and complex drive differ by %.3e", d)
	}
}

// A whole run of the ring takes the plateau step on its plateau, in
// blocks several times longer than the midpoint step's on the ramps, and
// its actual error stays below the reported bound (TestErrorBoundHolds
// checks the bound on the 7-atom ring at three tolerances).
func TestPlateauBlocksAreLong(t *testing.T) {
	p := compile(t, ringSequence(10))
	e := newEvolution(p, defaultMagnusTol)
	var plateauNs, plateauBlocks, rampNs, rampBlocks int
	e.afterBlock = func(t0, b int) error {
		if t0 >= 252 && t0+b <= 2752 { // the plateau: Ω constant, δ swept
			plateauNs, plateauBlocks = plateauNs+b, plateauBlocks+1
		} else {
			rampNs, rampBlocks = rampNs+b, rampBlocks+1
		}
		return nil
	}
	if err := e.run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	plateau, ramp := float64(plateauNs)/float64(plateauBlocks), float64(rampNs)/float64(rampBlocks)
	t.Logf("plateau: %d blocks, %.1f ns each; ramps: %d blocks, %.1f ns each; %d sweeps", plateauBlocks, plateau, rampBlocks, ramp, e.MatVecs)
	if plateau < 3*ramp {
		t.Errorf("plateau blocks of %.1f ns, ramp blocks of %.1f ns: want the plateau's 3× longer", plateau, ramp)
	}
}

// The operator-norm bounds behind plateauBound hold: on random registers
// of 5 atoms (dense 32×32 matrices), each nested commutator of H̄ = V + cF -
// δ̄N and N has a spectral norm within its bound, and the tightest of those
// bounds is within 4× of the norm (they are not loose by construction).
func TestPlateauBoundTermsHold(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const n, dim = 5, 1 << 5
	for trial := range 20 {
		u := randCouplings(r, n, 60*r.Float64())
		k1, k2 := couplingSums(u)
		c, dbar := 5*r.Float64(), 40*(2*r.Float64()-1)
		N, V, F, J := newDense(dim), newDense(dim), newDense(dim), newDense(dim)
		for s := range dim {
			N[s][s] = complex(float64(bits.OnesCount(uint(s))), 0)
			e := 0.0
			for i := range n {
				for j := range i {
					if s>>i&1 == 1 && s>>j&1 == 1 {
						e += u[i][j]
					}
				}
			}
			V[s][s] = complex(e, 0)
			for b := range n {
				p := s ^ 1<<b
				F[p][s] = 1
				if s>>b&1 == 0 { // σ⁺ takes |g⟩ to |r⟩ with +1, σ⁻ back with -1
					J[p][s] = 1
				} else {
					J[p][s] = -1
				}
			}
		}
		H := V.plus(F.scale(complex(c, 0))).plus(N.scale(complex(-dbar, 0)))
		nf, ad := float64(n), math.Abs(dbar)
		HN := comm(H, N)
		for _, term := range []struct {
			name  string
			op    dense
			bound float64
		}{
			{"[H,[H,N]]", comm(H, HN), c * (k1 + 2*c*nf + ad*nf)},
			{"[N,[N,H]]", comm(N, comm(N, H)), c * nf},
			{"[H,[H,[H,N]]]", comm(H, comm(H, HN)), c * (k2 + c*k1 + 2*ad*k1 + 4*c*c*nf + ad*ad*nf)},
			{"[N,[H,[H,N]]]", comm(N, comm(H, HN)), c * (k1 + ad*nf)},
			{"[N,[N,[N,H]]]", comm(N, comm(N, comm(N, H))), c * nf},
		} {
			norm := term.op.norm()
			if norm > term.bound*(1+1e-9) {
				t.Fatalf("trial %d: ‖%s‖ = %.6g above its bound %.6g", trial, term.name, norm, term.bound)
			}
			if term.name == "[N,[N,H]]" && norm < term.bound/4 {
				t.Fatalf("trial %d: ‖%s‖ = %.6g, bound %.6g: more than 4× loose", trial, term.name, norm, term.bound)
			}
		}
	}
}

// dense is a square complex matrix, for checking operator identities on
// small registers.
type dense [][]complex128

func newDense(dim int) dense {
	m := make(dense, dim)
	for i := range m {
		m[i] = make([]complex128, dim)
	}
	return m
}

func (a dense) mul(b dense) dense {
	m := newDense(len(a))
	for i := range a {
		for k, x := range a[i] {
			if x == 0 {
				continue
			}
			for j, y := range b[k] {
				m[i][j] += x * y
			}
		}
	}
	return m
}

func (a dense) plus(b dense) dense {
	m := newDense(len(a))
	for i := range a {
		for j := range a[i] {
			m[i][j] = a[i][j] + b[i][j]
		}
	}
	return m
}

func (a dense) scale(x complex128) dense {
	m := newDense(len(a))
	for i := range a {
		for j := range a[i] {
			m[i][j] = x * a[i][j]
		}
	}
	return m
}

func comm(a, b dense) dense { return a.mul(b).plus(b.mul(a).scale(-1)) }

// norm is the spectral norm, by power iteration on A†A.
func (a dense) norm() float64 {
	x := make([]complex128, len(a))
	for i := range x {
		x[i] = complex(1+float64(i%7), float64(i%3))
	}
	lambda := 0.0
	for range 500 {
		y := make([]complex128, len(a)) // A x
		for i := range a {
			for j, v := range a[i] {
				y[i] += v * x[j]
			}
		}
		z := make([]complex128, len(a)) // A† y
		for i := range a {
			for j, v := range a[i] {
				z[j] += cmplx.Conj(v) * y[i]
			}
		}
		s := 0.0
		for _, v := range z {
			s += real(v)*real(v) + imag(v)*imag(v)
		}
		s = math.Sqrt(s)
		xn := 0.0
		for _, v := range x {
			xn += real(v)*real(v) + imag(v)*imag(v)
		}
		lambda = s / math.Sqrt(xn)
		for i := range z {
			x[i] = z[i] / complex(s, 0)
		}
	}
	return math.Sqrt(lambda)
}
