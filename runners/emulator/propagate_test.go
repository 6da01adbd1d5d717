package emulator

import (
	"context"
	"math"
	"math/bits"
	"math/cmplx"
	"testing"

	"github.com/tweezer-dev/tweezer/runners/sequence"
)

func compile(t testing.TB, seq []byte) *sequence.Program {
	t.Helper()
	p, err := sequence.Compile(seq, sequence.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestErrorBoundHolds checks the propagator's reported error bound against
// the actual error, measured against a run that steps every ns exactly
// (no Magnus truncation).
func TestErrorBoundHolds(t *testing.T) {
	p := compile(t, ringSequence(7))
	exact := newEvolution(p, 0)
	if err := exact.run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if exact.MagnusErr != 0 {
		t.Fatalf("a zero tolerance must step every ns, got Magnus error %g", exact.MagnusErr)
	}
	for _, tol := range []float64{1e-2, defaultMagnusTol, 1e-4} {
		e := newEvolution(p, tol)
		if err := e.run(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		diff := 0.0
		for i := range e.psi {
			d := e.psi[i] - exact.psi[i]
			diff += real(d)*real(d) + imag(d)*imag(d)
		}
		diff = math.Sqrt(diff)
		bound := e.MagnusErr + e.ChebErr + exact.ChebErr
		t.Logf("tol %g: blocks %d, sweeps %d (exact: %d), bound %.2e, actual %.2e", tol, e.Blocks, e.MatVecs, exact.MatVecs, bound, diff)
		if diff > bound {
			t.Errorf("tol %g: actual error %.3e exceeds the reported bound %.3e", tol, diff, bound)
		}
		if e.MagnusErr > tol*1.0001 {
			t.Errorf("tol %g: Magnus estimate %.3e above tolerance", tol, e.MagnusErr)
		}
	}
}

func TestStaysNormalised(t *testing.T) {
	e := newEvolution(compile(t, ringSequence(9)), defaultMagnusTol)
	if err := e.run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	n := 0.0
	for _, a := range e.psi {
		n += real(a)*real(a) + imag(a)*imag(a)
	}
	// The Magnus exponentials are unitary: only the Chebyshev truncation
	// (tail bound ChebErr on the state's norm) moves the norm, and the
	// truncation budget (chebShare of the Magnus budget) keeps it small.
	if math.Abs(math.Sqrt(n)-1) > e.ChebErr || e.ChebErr > 2*chebShare*defaultMagnusTol {
		t.Errorf("norm² = %.9f, truncation bound %.2e", n, e.ChebErr)
	}
}

func TestBesselSeries(t *testing.T) {
	for _, x := range []float64{0.3, 2, 17.5, 240} {
		j, tail := besselSeries(x, 1e-12, nil)
		if math.Abs(j[0]-math.J0(x)) > 1e-12 || math.Abs(j[1]-math.J1(x)) > 1e-12 {
			t.Errorf("x=%g: J0 %g vs %g, J1 %g vs %g", x, j[0], math.J0(x), j[1], math.J1(x))
		}
		k := len(j) - 1
		if math.Abs(j[k]-math.Jn(k, x)) > 1e-12 {
			t.Errorf("x=%g: J%d %g vs %g", x, k, j[k], math.Jn(k, x))
		}
		if tail > 1e-12 {
			t.Errorf("x=%g: tail %g", x, tail)
		}
	}
}

// A Chebyshev step on a random-ish diagonal-plus-drive Hamiltonian must
// match the exact exponential of a single atom.
func TestSingleAtomStepIsExact(t *testing.T) {
	// H = [[-δ, c],[c*, 0]] in (|r⟩,|g⟩); |g⟩ is index 0, |r⟩ index 1.
	p := &sequence.Program{QubitIDs: []string{"a"}, Positions: [][3]float64{{0, 0, 0}}, C6: 1, Duration: 1,
		Drive: [][]complex128{{complex(3, 4)}}, Det: [][]float64{{-2.5}}}
	e := newEvolution(p, 0)
	e.loadAverage(0, 1)
	tau := 0.37
	if err := e.expStep(context.Background(), tau, chebTol); err != nil {
		t.Fatal(err)
	}
	// Exact: eigen-decomposition of the 2x2 Hermitian matrix.
	c := complex(3, 4) / 2
	hgg, hrr := 0.0, 2.5 // diag in |g⟩,|r⟩: -δ n = 2.5 for |r⟩
	mean := (hgg + hrr) / 2
	w := math.Sqrt((hrr-hgg)*(hrr-hgg)/4 + real(c*cmplx.Conj(c)))
	// U = e^{-i mean τ}(cos wτ I - i sin wτ (H-mean)/w); ψ0 = |g⟩.
	ph := cmplx.Exp(complex(0, -mean*tau))
	g := ph * complex(math.Cos(w*tau), -math.Sin(w*tau)*(hgg-mean)/w)
	r := ph * complex(0, -math.Sin(w*tau)/w) * c
	if cmplx.Abs(e.psi[0]-g) > 1e-8 || cmplx.Abs(e.psi[1]-r) > 1e-8 {
		t.Errorf("got (%v, %v), want (%v, %v)", e.psi[0], e.psi[1], g, r)
	}
}

// The global-drive kernels (real drive by quads, complex drive by bit
// iteration) and the parallel sweep must give the same Chebyshev step as
// the general per-atom kernel, for both the first and a later step, at
// sizes on both sides of parallelMin.
func TestGlobalKernelsMatchGeneral(t *testing.T) {
	setParallelMin(t, 1<<14)
	for _, n := range []int{1, 2, 3, 7, 15} {
		for _, drive := range []complex128{2.4, complex(1.1, -0.7)} {
			p := compile(t, ringSequence(max(n, 3)))
			if n < 3 {
				p.QubitIDs, p.Positions = p.QubitIDs[:n], p.Positions[:n]
				p.Drive, p.Det = p.Drive[:n], p.Det[:n]
			}
			h := newHamiltonian(p, nil)
			dr, det := make([]complex128, n), make([]float64, n)
			for a := range dr {
				dr[a], det[a] = drive, -3.3
			}
			h.setStep(dr, det)
			in := make([]complex128, h.dim)
			for i := range in {
				in[i] = complex(math.Sin(float64(3*i+1)), math.Cos(float64(7*i)))
			}
			for _, first := range []bool{true, false} {
				out, acc := make([]complex128, h.dim), make([]complex128, h.dim)
				wantOut, wantAcc := make([]complex128, h.dim), make([]complex128, h.dim)
				for i := range out {
					out[i] = complex(float64(i%5), 1)
					acc[i] = complex(0.5, float64(i%3))
					wantOut[i], wantAcc[i] = out[i], acc[i]
				}
				center, half, c0, c1 := 40.0, 900.0, complex(0.3, 0.1), complex(-0.2, 0.6)
				h.chebStep(in, out, acc, center, half, first, c0, c1)
				scale := 2 / half
				if first {
					scale = 1 / half
				}
				h.chebGeneral(in, wantOut, wantAcc, 0, h.dim, center, scale, first, c0, c1)
				for i := range out {
					if cmplx.Abs(out[i]-wantOut[i]) > 1e-12 || cmplx.Abs(acc[i]-wantAcc[i]) > 1e-12 {
						t.Fatalf("n=%d drive=%v first=%v: state %d: got (%v, %v), want (%v, %v)",
							n, drive, first, i, out[i], acc[i], wantOut[i], wantAcc[i])
					}
				}
			}
		}
	}
}

// The Gram-matrix estimate of a global block (one sweep for every block
// length) must equal the direct second-Magnus-term estimate of that block.
func TestGlobalBlockMatchesMagnusEstimate(t *testing.T) {
	setParallelMin(t, 1<<14)
	for _, n := range []int{4, 15} {
		e := newEvolution(compile(t, ringSequence(n)), defaultMagnusTol)
		// A normalised state on at most two excitations, like the early
		// adiabatic state: a random one would force one-ns blocks.
		norm := 0.0
		for i := range e.psi {
			if bits.OnesCount(uint(i)) <= 2 {
				e.psi[i] = complex(math.Sin(float64(5*i+2)), math.Cos(float64(3*i)))
				norm += real(e.psi[i])*real(e.psi[i]) + imag(e.psi[i])*imag(e.psi[i])
			}
		}
		for i := range e.psi {
			e.psi[i] /= complex(math.Sqrt(norm), 0)
		}
		for _, t0 := range []int{10, 1500, 2900} {
			b, est := e.globalBlock(t0, 50, defaultMagnusTol/float64(e.prog.Duration))
			want := e.magnusEstimate(t0, b)
			if b < 2 || math.Abs(est-want) > 1e-9*want {
				t.Errorf("n=%d t=%d: block %d, Gram estimate %.12g, direct %.12g", n, t0, b, est, want)
			}
		}
	}
}
