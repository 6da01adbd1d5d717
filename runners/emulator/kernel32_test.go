package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"testing"
)

// setDrives gives h the global drive on every atom, or (general) random
// complex drives per atom with bit 1 undriven: the Go loop's case.
func setDrives(r *rand.Rand, h *hamiltonian, general bool) {
	h.driveAtBit = make([]complex128, h.n)
	for b := range h.driveAtBit {
		h.driveAtBit[b] = h.gDrive
		if general {
			h.driveAtBit[b] = complex(5*r.Float64(), 5*r.Float64()-2.5)
		}
	}
	if general {
		h.global, h.driven = false, uint64(h.dim-1)&^2
		h.driveAtBit[1] = 0
	}
}

func toC64(v []complex128) []complex64 {
	w := make([]complex64, len(v))
	for i, a := range v {
		w[i] = complex64(a)
	}
	return w
}

// The single-precision sweep gives the double-precision one to float32
// rounding, on every kernel path, for the first and later steps, with a
// global real drive (the assembly's case) and with per-atom complex drives
// (the Go loop), on whole vectors (split across cores at n = 15, with
// setParallelMin) and on a range that starts and ends half-way into an
// octet; and it leaves the rest of out and acc alone.
func TestCheb32MatchesDouble(t *testing.T) {
	setParallelMin(t, 1<<14)
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{3, 4, 5, 8, 11, 15} {
		for _, general := range []bool{false, true} {
			h := randHamiltonian(r, n)
			setDrives(r, h, general)
			in := randVec(r, h.dim, 1)
			out0, acc0 := randVec(r, h.dim, 1), randVec(r, h.dim, 1)
			for trial := range 6 {
				first := trial%2 == 0
				half := 500 + 500*r.Float64()
				center := 500 * r.Float64()
				c0 := complex(2*r.Float64()-1, 2*r.Float64()-1)
				c1 := complex(2*r.Float64()-1, 2*r.Float64()-1)
				if trial == 3 {
					c0 = 0
				}
				if trial == 5 {
					c0, c1 = 0, 0
				}
				lo, hi := 0, h.dim
				if trial >= 4 && h.dim >= 16 {
					lo, hi = 4, h.dim-4
				}
				// Reference: chebStep in complex128; its first step adds
				// c0·in where cheb32Step scales acc, so acc starts as in.
				in128 := append([]complex128(nil), in...)
				for i := range in128 {
					in128[i] = complex128(complex64(in[i]))
				}
				wantOut, wantAcc := append([]complex128(nil), out0...), append([]complex128(nil), acc0...)
				for i := range wantOut {
					wantOut[i] = complex128(complex64(wantOut[i]))
				}
				if first {
					copy(wantAcc, in128)
				}
				accStart := append([]complex128(nil), wantAcc...)
				scale := 2 / half
				if first {
					scale = 1 / half
				}
				h.chebGeneral(in128, wantOut, wantAcc, 0, h.dim, center, scale, first, c0, c1)
				for _, p := range splitPaths() {
					setPaths(t, p.avx2, p.sse2)
					setSplit(t, p.split)
					in32, out32 := toC64(in), toC64(out0)
					acc := append([]complex128(nil), accStart...)
					if lo == 0 && hi == h.dim {
						h.cheb32Step(in32, out32, acc, center, half, first, c0, c1)
					} else if general {
						h.cheb32General(in32, out32, acc, lo, hi, center, scale, first, c0, c1)
					} else {
						h.cheb32Real(in32, out32, acc, lo, hi, center, scale, first, c0, c1)
					}
					for i := range acc {
						if i < lo || i >= hi {
							if out32[i] != complex64(out0[i]) || acc[i] != accStart[i] {
								t.Fatalf("%s n=%d: wrote element %d outside [%d,%d)", p.name, n, i, lo, hi)
							}
							continue
						}
						tol := 1e-6 * float64(n+3) * (1 + cmplx.Abs(wantOut[i]) + cmplx.Abs(wantAcc[i]))
						if cmplx.Abs(complex128(out32[i])-wantOut[i]) > tol || cmplx.Abs(acc[i]-wantAcc[i]) > tol {
							t.Fatalf("%s n=%d general=%v trial %d: element %d: out %v acc %v, want %v %v",
								p.name, n, general, trial, i, out32[i], acc[i], wantOut[i], wantAcc[i])
						}
					}
				}
			}
		}
	}
}

type splitPath struct {
	kernelPath
	split bool
}

// splitPaths is kernelPaths with, after the AVX2 path, the same with every
// whole-vector single-precision sweep split in two passes (cheb32Split).
func splitPaths() []splitPath {
	var paths []splitPath
	for _, p := range kernelPaths() {
		paths = append(paths, splitPath{p, false})
		if p.avx2 {
			paths = append(paths, splitPath{kernelPath{p.name + "-split", true, true}, true})
		}
	}
	return paths
}

// setSplit makes cheb32Step split every sweep it can (on) or none, until
// the test ends.
func setSplit(t testing.TB, on bool) {
	t.Helper()
	old := splitFrom
	t.Cleanup(func() { splitFrom = old })
	splitFrom = 64
	if on {
		splitFrom = 0
	}
}

// In precision "low" the reported error bound stays honest: the difference
// to the complex128 run stays below the rounding term added to the bound,
// and the error against a run that steps every ns in complex128 stays
// below the whole bound, on the ring and on a sequence with local drives.
func TestSinglePrecisionErrorBound(t *testing.T) {
	local := loadGolden(t, "golden_local_channels.json")
	for _, c := range []struct {
		name string
		seq  []byte
	}{{"ring8", ringSequence(8)}, {"ring11", ringSequence(11)}, {"local", local.Sequence}} {
		p := compile(t, c.seq)
		run := func(tol float64, single bool) *evolution {
			e := newEvolutionWith(p, newHamiltonian(p, nil), tol, single)
			if err := e.run(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			return e
		}
		exact, double, single := run(0, false), run(defaultMagnusTol, false), run(defaultMagnusTol, true)
		rounding := single.ChebErr - double.ChebErr
		if d := dist(single.psi, double.psi); d > rounding/100 || rounding <= 0 {
			t.Errorf("%s: single vs double differ by %.2e, rounding bound %.2e", c.name, d, rounding)
		} else {
			t.Logf("%s: single vs double %.2e, rounding bound %.2e", c.name, d, rounding)
		}
		if d, bound := dist(single.psi, exact.psi), single.MagnusErr+single.ChebErr+exact.ChebErr; d > bound {
			t.Errorf("%s: error %.2e above the reported bound %.2e", c.name, d, bound)
		}
	}
}

// A hook that changes the state before a block (a noisy run's decay)
// reaches the block's Chebyshev sum: in precision "low" the Magnus
// estimate leaves the state rounded in w2 for the sum, and the hook must
// spend that copy. Multiplying the state by i before every block leaves
// the Gram matrices, and so the blocks, as they were, and must end in
// i^blocks times the state of the run without the hook.
func TestABeforeBlockHookReachesTheSingleSum(t *testing.T) {
	p := compile(t, ringSequence(8))
	plain := newEvolutionWith(p, newHamiltonian(p, nil), defaultMagnusTol, true)
	hooked := newEvolutionWith(p, newHamiltonian(p, nil), defaultMagnusTol, true)
	hooked.beforeBlock = func(int, int) {
		for i, v := range hooked.psi {
			hooked.psi[i] = complex(-imag(v), real(v))
		}
	}
	for _, e := range []*evolution{plain, hooked} {
		if err := e.run(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}
	if hooked.Blocks != plain.Blocks || hooked.MatVecs != plain.MatVecs {
		t.Fatalf("hooked run: %d blocks, %d sweeps; without the hook %d, %d", hooked.Blocks, hooked.MatVecs, plain.Blocks, plain.MatVecs)
	}
	phase := [4]complex128{1, 1i, -1, -1i}[hooked.Blocks%4]
	for i, v := range plain.psi {
		if d := cmplx.Abs(hooked.psi[i] - phase*v); d > 1e-9 {
			t.Fatalf("amplitude %d: %v with the hook, want %v·%v (%d blocks)", i, hooked.psi[i], phase, v, hooked.Blocks)
		}
	}
}

// A whole run with every sweep split in two passes (as from N = splitFrom)
// ends in the one-pass run's state: to 1e-10 in complex128, and in
// complex64 within a hundredth of the rounding term the bound carries for
// the single-precision recurrence; the sweeps are the same and the bound
// agrees to 1e-6 (the Magnus estimates see the slightly different states).
func TestSplitSweepsMatchOnePass(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2 kernel on this machine")
	}
	p := compile(t, ringSequence(11))
	for _, single := range []bool{false, true} {
		var runs [2]*evolution
		for i, split := range []bool{false, true} {
			setSplit(t, split)
			runs[i] = newEvolutionWith(p, newHamiltonian(p, nil), defaultMagnusTol, single)
			if err := runs[i].run(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
		}
		one, two := runs[0], runs[1]
		limit := 1e-10
		if single {
			setSplit(t, false)
			double := newEvolutionWith(p, newHamiltonian(p, nil), defaultMagnusTol, false)
			if err := double.run(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			limit = (one.ChebErr - double.ChebErr) / 100
		}
		if d := dist(one.psi, two.psi); d > limit {
			t.Errorf("single=%v: split and one-pass runs differ by %.2e, limit %.2e", single, d, limit)
		} else {
			t.Logf("single=%v: split and one-pass runs differ by %.2e, limit %.2e", single, d, limit)
		}
		if b1, b2 := one.MagnusErr+one.ChebErr, two.MagnusErr+two.ChebErr; one.MatVecs != two.MatVecs || math.Abs(b1-b2) > 1e-6*b1 {
			t.Errorf("single=%v: split run %d sweeps, bound %.6e; one pass %d, %.6e", single,
				two.MatVecs, two.MagnusErr+two.ChebErr, one.MatVecs, one.MagnusErr+one.ChebErr)
		}
	}
}

func dist(a, b []complex128) float64 {
	s := 0.0
	for i := range a {
		d := a[i] - b[i]
		s += real(d)*real(d) + imag(d)*imag(d)
	}
	return math.Sqrt(s)
}

// An unknown precision is an input error naming the field; the known ones
// run.
func TestPrecisionConfiguration(t *testing.T) {
	seq := ringSequence(4)
	for _, p := range []string{"low", "normal", "high"} {
		if _, err := Run(context.Background(), Request{Sequence: seq, Runs: 3, Configuration: json.RawMessage(`{"precision": "` + p + `"}`)}, nil); err != nil {
			t.Errorf("precision %q: %v", p, err)
		}
	}
	for _, bad := range []string{`"single"`, `1e-5`, `""`} {
		_, err := Run(context.Background(), Request{Sequence: seq, Runs: 3, Configuration: json.RawMessage(`{"precision": ` + bad + `}`)}, nil)
		var ie *InputError
		if !errors.As(err, &ie) || ie.Path != "configuration.precision" {
			t.Errorf("precision %s: got %v, want an InputError on configuration.precision", bad, err)
		}
	}
	if (&Request{Configuration: json.RawMessage(`{"precision": "low"}`)}).singlePrecision() != true {
		t.Error("precision low does not select single precision")
	}
}

// The memory the engine's vectors take per amplitude is what MaxAtoms and
// the noisy engine's worker limit count, in both precisions: 3 and 2 state
// vectors. The interaction tables come on top and stay small: 13% of a
// state vector at N = 16, 3% at N = 20, 0.8% at N = 24.
func TestAmplitudeBytesMatchAllocation(t *testing.T) {
	p := compile(t, ringSequence(16))
	for _, single := range []bool{false, true} {
		e := newEvolutionWith(p, newHamiltonian(p, nil), defaultMagnusTol, single)
		got := 16*(len(e.psi)+len(e.work1)+len(e.work2)) + 8*(len(e.w1)+len(e.w2))
		if want := amplitudeBytes(single) * e.h.dim; got != want {
			t.Errorf("single=%v: vectors take %d bytes, amplitudeBytes counts %d", single, got, want)
		}
		if tables := e.h.inter.bytes(); tables > 16*e.h.dim/6 {
			t.Errorf("interaction tables take %d bytes, above 1/6 of the %d-byte state", tables, 16*e.h.dim)
		}
	}
	if amplitudeBytes(false) != 3*16 || amplitudeBytes(true) != 2*16 {
		t.Errorf("amplitudeBytes %d / %d, want 3 and 2 state vectors", amplitudeBytes(false), amplitudeBytes(true))
	}
	if maxAtoms(bytesPerAmplitudeLow) < maxAtoms(bytesPerAmplitude) {
		t.Errorf("precision low admits fewer atoms (%d) than normal (%d)", maxAtoms(bytesPerAmplitudeLow), maxAtoms(bytesPerAmplitude))
	}
}
