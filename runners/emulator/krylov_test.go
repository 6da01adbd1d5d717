package emulator

import (
	"context"
	"errors"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"testing"

	"github.com/tweezer-dev/tweezer/runners/sequence"
)

// forceLanczos gives every register of the test's runs a Lanczos basis.
func forceLanczos(t *testing.T) {
	old := krylovMinAtoms
	t.Cleanup(func() { krylovMinAtoms = old })
	krylovMinAtoms = 1
}

// mul32 and mul are H·in (scaled) on every kernel path (the assembly, which also sums
// Re⟨in, H·in⟩, and the Go loop, global and per-atom drives, on one core
// and split across cores), to float32 rounding, and returns Re⟨in, H·in⟩.
func TestMul32IsTheHamiltonian(t *testing.T) {
	setParallelMin(t, 1<<10)
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{5, 9, 12} {
		for _, general := range []bool{false, true} {
			h := randHamiltonian(r, n)
			setDrives(r, h, general)
			in := randVec(r, h.dim, 1)
			in32 := toC64(in)
			want := make([]complex128, h.dim)
			for i := range in {
				in[i] = complex128(in32[i])
			}
			h.chebGeneral(in, want, make([]complex128, h.dim), 0, h.dim, 0, 0.5, true, 0, 0)
			wantDot, scale := 0.0, 0.0
			for i := range in {
				wantDot += real(in[i])*real(want[i]) + imag(in[i])*imag(want[i])
				scale += cmplx.Abs(in[i]) * cmplx.Abs(want[i])
			}
			for _, sp := range splitPaths() {
				t.Run(sp.name, func(t *testing.T) {
					setPaths(t, sp.avx2, sp.sse2)
					setSplit(t, sp.split)
					out := toC64(randVec(r, h.dim, 1))
					out128 := randVec(r, h.dim, 1)
					if dot := h.mul(in, out128, 0.5); math.Abs(dot-wantDot) > 1e-12*scale {
						t.Fatalf("n=%d general=%v: complex128 Re⟨in, H·in⟩ = %g, want %g", n, general, dot, wantDot)
					}
					for i := range out128 {
						if d := cmplx.Abs(out128[i] - want[i]); d > 1e-12*float64(n+3)*(1+cmplx.Abs(want[i])) {
							t.Fatalf("n=%d general=%v: complex128 (H·in)[%d] = %v, want %v", n, general, i, out128[i], want[i])
						}
					}
					if dot := h.mul32(in32, out, 0.5); math.Abs(dot-wantDot) > 1e-6*scale {
						t.Fatalf("n=%d general=%v: Re⟨in, H·in⟩ = %g, want %g", n, general, dot, wantDot)
					}
					for i := range out {
						if d := cmplx.Abs(complex128(out[i]) - want[i]); d > 1e-6*float64(n+3)*(1+cmplx.Abs(want[i])) {
							t.Fatalf("n=%d general=%v: (H·in)[%d] = %v, want %v", n, general, i, out[i], want[i])
						}
					}
				})
			}
		}
	}
}

// The bound of ∫|[e^{-isT}]_{m1}| is above the integral (a fine Simpson
// rule of the same function) and within 15% of it (16 cells at least;
// 64 gave 5%, at four times the cost, for a fraction of a Lanczos product),
// from the unconverged regime down to 10⁻¹⁹, where the rounding of the
// eigenvector sums takes over.
func TestLastFirstIntegralBoundsTheIntegral(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, m := range []int{2, 4, 8, 12} {
		alpha, beta := make([]float64, m), make([]float64, m-1)
		for i := range alpha {
			alpha[i] = 100 * float64(i) * r.Float64()
		}
		for i := range beta {
			beta[i] = 5 + 30*r.Float64()
		}
		var te tridiagEigen
		te.decompose(alpha, beta)
		for _, tau := range []float64{0.002, 0.01, 0.05} {
			const steps = 20000
			ref := 0.0
			for i := 0; i <= steps; i++ {
				s := tau * float64(i) / steps
				var z complex128
				for k, l := range te.W {
					z += complex(te.weight[k], 0) * cmplx.Rect(1, -s*l)
				}
				w := 2.0
				if i == 0 || i == steps {
					w = 1
				} else if i%2 == 1 {
					w = 4
				}
				ref += w * cmplx.Abs(z) * tau / steps / 3
			}
			got := te.lastFirstIntegral(tau)
			if got < ref || got > 1.15*ref+1e-19 {
				t.Errorf("m=%d τ=%g: bound %.4e, integral %.4e", m, tau, got, ref)
			}
		}
	}
}

// ringAt returns the ring's evolution (in precision "low" with single)
// stopped at t0 ns.
func ringAt(t *testing.T, p *sequence.Program, t0 int, single bool) *evolution {
	t.Helper()
	e := newEvolutionWith(p, newHamiltonian(p, nil), defaultMagnusTol, single)
	if t0 == 0 {
		return e
	}
	halt := errors.New("halt")
	e.stops = []int{t0}
	e.atStop = func(int) error { return halt }
	if err := e.run(context.Background(), nil); !errors.Is(err, halt) {
		t.Fatal(err)
	}
	return e
}

// One block by Lanczos, against Chebyshev in complex128 at 10⁻¹³: the
// actual error stays below the bound it adds, on the ramp and the plateau,
// with a full basis and with one so small that the step must restart
// (reach) or leave time to the Chebyshev expansion; it takes fewer
// products than the Chebyshev expansion would, and on a block too long for
// the basis it hands over to the expansion after one restart.
func TestKrylovStepErrorStaysInItsBound(t *testing.T) {
	p, err := sequence.Compile(ringSequence(10), sequence.Options{MaxAtoms: 30})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		t0, b, basis int
		single       bool
	}{
		{0, 4, 16, true}, {100, 20, 16, true}, {1000, 4, 16, true}, {1000, 20, 16, true}, {1500, 60, 16, true}, {2800, 20, 16, true},
		{1000, 20, 4, true}, {1000, 200, 6, true}, {1000, 200, 3, true}, {1000, 1000, 16, true},
		{0, 4, 16, false}, {1000, 20, 16, false}, {1500, 60, 16, false}, {1000, 20, 5, false}, {1000, 200, 4, false}, {1000, 1000, 16, false},
	} {
		e := ringAt(t, p, c.t0, c.single)
		ref := newEvolution(p, 0)
		copy(ref.psi, e.psi)
		ref.loadAverage(c.t0, c.b)
		tau := float64(c.b) * dtMicros
		if err := ref.expStep(context.Background(), tau, 1e-13); err != nil {
			t.Fatal(err)
		}
		e.loadAverage(c.t0, c.b)
		e.useKrylov(c.basis)
		k := e.krylov
		e.ChebErr, e.MatVecs = 0, 0
		if err := e.expStep(context.Background(), tau, 1e-8); err != nil {
			t.Fatal(err)
		}
		d := 0.0
		for i := range ref.psi {
			x := ref.psi[i] - e.psi[i]
			d += real(x)*real(x) + imag(x)*imag(x)
		}
		lo, hi := e.h.spectrum(e.avgDet)
		j, _ := besselSeries((hi-lo)/2*tau, 1e-8, nil)
		// The stored vectors are the residuals, of norm β: they stay in
		// complex64's range however many steps (the last step's basis
		// unless the Chebyshev expansion took over and reused w1, w2).
		if c.basis == 16 && c.b < 200 {
			for i, beta := range k.beta[:len(k.beta)-1] {
				var norm float64
				if c.single {
					norm = math.Sqrt(dot32(k.basis[i+1], k.basis[i+1]))
				} else {
					norm = math.Sqrt(dot128(k.basis128[i+1], k.basis128[i+1]))
				}
				if math.Abs(norm-beta) > 1e-4*beta || beta > hi-lo {
					t.Errorf("t0=%d b=%d: basis vector %d has norm %g, β = %g (spectrum width %g)", c.t0, c.b, i+1, norm, beta, hi-lo)
				}
			}
		}
		if math.Sqrt(d) > e.ChebErr {
			t.Errorf("t0=%d b=%d basis=%d single=%v: error %.3e above the bound %.3e", c.t0, c.b, c.basis, c.single, math.Sqrt(d), e.ChebErr)
		}
		if c.b >= 200 && e.MatVecs > len(j)-1+c.basis {
			t.Errorf("t0=%d b=%d basis=%d: %d products, Chebyshev alone needs %d", c.t0, c.b, c.basis, e.MatVecs, len(j)-1)
		}
		if c.basis == 16 && c.b < 200 && e.MatVecs >= len(j)-1 {
			t.Errorf("t0=%d b=%d: %d Lanczos products, Chebyshev needs %d", c.t0, c.b, e.MatVecs, len(j)-1)
		}
		t.Logf("t0=%d b=%d basis=%d single=%v: %d products (Chebyshev %d), error %.2e, bound %.2e", c.t0, c.b, c.basis, c.single, e.MatVecs, len(j)-1, math.Sqrt(d), e.ChebErr)
	}
}

// A whole run with Lanczos steps ends where the Chebyshev run ends, within
// the two bounds, with fewer products, in both precisions, with the
// machine's fastest kernels and with the Go loops; and a cancelled context
// stops it.
func TestKrylovRunAgreesWithChebyshev(t *testing.T) {
	p, err := sequence.Compile(ringSequence(12), sequence.Options{MaxAtoms: 30})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path   kernelPath
		single bool
	}{
		{kernelPaths()[len(kernelPaths())-1], true}, {kernelPaths()[len(kernelPaths())-1], false}, {kernelPaths()[0], true}, {kernelPaths()[0], false},
	} {
		single := c.single
		setPaths(t, c.path.avx2, c.path.sse2)
		cheb := ringAt(t, p, 0, single)
		if err := cheb.run(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		kr := ringAt(t, p, 0, single)
		kr.useKrylov(krylovMaxBasis)
		if err := kr.run(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		d := 0.0
		for i := range cheb.psi {
			x := cheb.psi[i] - kr.psi[i]
			d += real(x)*real(x) + imag(x)*imag(x)
		}
		if bound := cheb.MagnusErr + cheb.ChebErr + kr.MagnusErr + kr.ChebErr; math.Sqrt(d) > bound {
			t.Errorf("%s single=%v: runs differ by %.3e, beyond their bounds' sum %.3e", c.path.name, single, math.Sqrt(d), bound)
		}
		if kr.MatVecs >= cheb.MatVecs*3/4 {
			t.Errorf("%s single=%v: Lanczos run: %d sweeps, Chebyshev %d", c.path.name, single, kr.MatVecs, cheb.MatVecs)
		}
		t.Logf("%s single=%v: sweeps %d → %d, bound %.2e → %.2e, difference %.2e", c.path.name, single, cheb.MatVecs, kr.MatVecs, cheb.MagnusErr+cheb.ChebErr, kr.MagnusErr+kr.ChebErr, math.Sqrt(d))

		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		again := ringAt(t, p, 0, single)
		again.useKrylov(krylovMaxBasis)
		if err := again.run(ctx, nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled run: %v", err)
		}
	}
}

// The basis takes what fits in the spare memory and in krylovMaxBytes
// besides the vectors the engine keeps anyway, at most krylovMaxBasis
// vectors, none below krylovMinBasis.
func TestKrylovBasisFitsTheSpareMemory(t *testing.T) {
	const gi = 1 << 30
	for _, c := range []struct {
		n         int
		spare     uint64
		vec, have int
		want      int
	}{
		{20, 0, 8, 2, 0},
		{20, 5 << 23, 8, 2, 0},              // 5 vectors of 8 MiB: 7 in all
		{20, 6 << 23, 8, 2, krylovMinBasis}, // 8
		{20, 9 << 23, 8, 2, 11},             // 11
		{20, gi, 8, 2, krylovMaxBasis},      // 128 fit, 16 kept
		{22, gi, 8, 2, krylovMaxBasis},      // 512 MiB: 16 of 32 MiB
		{23, gi, 8, 2, 10},                  // 512 MiB: 8 of 64 MiB
		{24, 3 * gi / 2, 8, 2, 0},           // 512 MiB: 4 of 128 MiB
		{20, 10 << 24, 16, 3, 13},           // 10 vectors of 16 MiB
		{22, gi, 16, 3, 11},                 // 512 MiB: 8 of 64 MiB
		{24, 4 * gi, 16, 3, 0},              // 512 MiB: 2 of 256 MiB
	} {
		if got := krylovBasis(c.n, c.spare, c.vec, c.have); got != c.want {
			t.Errorf("N=%d, spare %d MiB, %d bytes per amplitude besides %d vectors: basis %d, want %d", c.n, c.spare>>20, c.vec, c.have, got, c.want)
		}
	}
}
