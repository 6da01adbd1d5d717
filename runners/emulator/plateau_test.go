package emulator

import (
	"context"
	"math"
	"math/cmplx"
	"testing"

	"github.com/tweezer-dev/tweezer/runners/emulator/magnus"
	"github.com/tweezer-dev/tweezer/runners/sequence"
)

// exactBlock returns psi evolved over [t, t+b) one ns at a time (the
// program's piecewise-constant samples exactly, to Chebyshev tolerance
// 1e-14).
func exactBlock(t *testing.T, p *sequence.Program, psi []complex128, t0, b int) []complex128 {
	t.Helper()
	e := newEvolutionWith(p, newHamiltonian(p, nil), 0, false)
	copy(e.psi, psi)
	for k := range b {
		e.loadAverage(t0+k, 1)
		if err := e.expStep(context.Background(), dtMicros, 1e-14); err != nil {
			t.Fatal(err)
		}
	}
	return e.psi
}

// On the ring's plateau (constant drive, detuning swept) the plateau step
// is fourth order: against the per-ns product its error is hundreds of
// times below the midpoint step's at 8 ns and grows as b⁵ (32× per
// doubling), while the midpoint's grows as b³; and plateauBound stays
// above the error it bounds at every length.
func TestPlateauStepIsFourthOrder(t *testing.T) {
	p := compile(t, ringSequence(10))
	ctx := context.Background()
	start := newEvolutionWith(p, newHamiltonian(p, nil), 0, false)
	const t0 = 1500 // on the plateau (252–2752 ns)
	copy(start.psi, exactBlock(t, p, start.psi, 0, t0))
	var mid, plat [2]float64
	for i, b := range []int{8, 16, 32, 64} {
		exact := exactBlock(t, p, start.psi, t0, b)
		u := make([]float64, b)
		for k := range u {
			u[k] = -p.Det[0][t0+k]
		}
		tm := magnus.Of(u)

		e := newEvolutionWith(p, newHamiltonian(p, nil), 0, false)
		copy(e.psi, start.psi)
		e.loadAverage(t0, b)
		if err := e.plateauStep(ctx, b, tm.C2, 1e-14); err != nil {
			t.Fatal(err)
		}
		errPlat := dist(e.psi, exact)

		m := newEvolutionWith(p, newHamiltonian(p, nil), 0, false)
		copy(m.psi, start.psi)
		m.loadAverage(t0, b)
		if err := m.expStep(ctx, float64(b)*dtMicros, 1e-14); err != nil {
			t.Fatal(err)
		}
		errMid := dist(m.psi, exact)

		mean := 0.0
		for _, x := range u {
			mean += x
		}
		bound := e.h.plateauBound(tm, cmplx.Abs(p.Drive[0][t0])/2, math.Abs(mean/float64(b)))
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
	u := make([]float64, b)
	for k := range u {
		u[k] = -p.Det[0][t0+k]
	}
	c2 := magnus.Of(u).C2
	start := newEvolutionWith(p, newHamiltonian(p, nil), 0, false)
	copy(start.psi, exactBlock(t, p, start.psi, 0, t0))

	rotated := newEvolutionWith(p, newHamiltonian(p, nil), 0, false)
	copy(rotated.psi, start.psi)
	rotated.loadAverage(t0, b)
	if err := rotated.plateauStep(ctx, b, c2, 1e-14); err != nil {
		t.Fatal(err)
	}

	direct := newEvolutionWith(p, newHamiltonian(p, nil), 0, false)
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
