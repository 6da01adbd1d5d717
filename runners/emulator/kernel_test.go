package emulator

import (
	"fmt"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"runtime"
	"testing"

	"golang.org/x/sys/cpu"
)

// setParallelMin splits sweeps across cores from dim amplitudes until the
// test ends, so that small registers take the parallel path.
func setParallelMin(t testing.TB, dim int) {
	t.Helper()
	old := parallelMin
	t.Cleanup(func() { parallelMin = old })
	parallelMin = dim
}

// setPaths switches the kernels for the rest of the test.
func setPaths(t testing.TB, avx2, sse2 bool) {
	t.Helper()
	a, s := useAVX2, useSSE2
	t.Cleanup(func() { useAVX2, useSSE2 = a, s })
	useAVX2, useSSE2 = avx2, sse2
}

type kernelPath struct {
	name       string
	avx2, sse2 bool
}

// kernelPaths lists the chebReal paths this machine can run, the pure-Go
// reference first.
func kernelPaths() []kernelPath {
	paths := []kernelPath{{"go", false, false}}
	if runtime.GOARCH == "amd64" {
		paths = append(paths, kernelPath{"sse2", false, true})
		if cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasPOPCNT {
			paths = append(paths, kernelPath{"avx2", true, true})
		}
	}
	return paths
}

func randVec(r *rand.Rand, n int, scale float64) []complex128 {
	v := make([]complex128, n)
	for i := range v {
		v[i] = complex(scale*(2*r.Float64()-1), scale*(2*r.Float64()-1))
	}
	return v
}

// randHamiltonian is a global real drive with a uniform detuning on random
// pairwise couplings, their sums of the size of the ring's interaction
// diagonal (up to 10³ rad/µs).
func randHamiltonian(r *rand.Rand, n int) *hamiltonian {
	h := &hamiltonian{n: n, dim: 1 << n,
		global: true, uniformDet: true, driven: 1<<n - 1,
		gDrive: complex(5*r.Float64(), 0), gDet: 40 * (2*r.Float64() - 1)}
	h.inter = newInterTables(n, randCouplings(r, n, 2e3/float64(n*n)))
	return h
}

// randCouplings is a symmetric n×n matrix of couplings in [0, max).
func randCouplings(r *rand.Rand, n int, max float64) [][]float64 {
	u := make([][]float64, n)
	for i := range u {
		u[i] = make([]float64, n)
	}
	for i := range u {
		for j := range i {
			u[i][j] = max * r.Float64()
			u[j][i] = u[i][j]
		}
	}
	return u
}

// The interaction tables give every basis state's energy Σ_{i<j} U_ij s_i s_j,
// one at a time (at), per tile (tile, also on part of a tile) and for the
// whole vector across cores (fill), for registers below, at and above a
// tile and with the bits beyond the tile split unevenly.
func TestInterTablesMatchPairSum(t *testing.T) {
	setParallelMin(t, 1<<14)
	r := rand.New(rand.NewPCG(9, 10))
	for _, n := range []int{1, 2, 5, tileBits, tileBits + 1, tileBits + 4, tileBits + 5} {
		u := randCouplings(r, n, 1)
		it := newInterTables(n, u)
		all := make([]float64, 1<<n)
		it.fill(all)
		var buf [1 << tileBits]float64
		for s := range all {
			want := 0.0
			for i := 0; i < n; i++ {
				for j := 0; j < i; j++ {
					if s>>i&1 == 1 && s>>j&1 == 1 {
						want += u[i][j]
					}
				}
			}
			if got := it.at(s); math.Abs(got-want) > 1e-12*(1+want) {
				t.Fatalf("n=%d: at(%d) = %v, want %v", n, s, got, want)
			}
			if math.Abs(all[s]-want) > 1e-12*(1+want) {
				t.Fatalf("n=%d: fill[%d] = %v, want %v", n, s, all[s], want)
			}
			if s%3 == 0 {
				end := min(len(all), (s>>it.t+1)<<it.t, s+1+r.IntN(8))
				part := buf[:end-s]
				it.tile(part, s)
				for i, e := range part {
					if e != it.at(s+i) {
						t.Fatalf("n=%d: tile from %d: element %d is %v, at gives %v", n, s, i, e, it.at(s+i))
					}
				}
			}
		}
		if n >= 20 && it.bytes() > 1<<n {
			t.Errorf("n=%d: tables take %d bytes, more than 1/16 of the state vector", n, it.bytes())
		}
	}
}

// The SIMD paths pick the machine's best kernel.
func TestKernelDispatch(t *testing.T) {
	wantAVX2 := runtime.GOARCH == "amd64" && cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasPOPCNT
	wantSSE2 := runtime.GOARCH == "amd64"
	if useAVX2 != wantAVX2 || useSSE2 != wantSSE2 {
		t.Errorf("useAVX2 %v, useSSE2 %v on %s (AVX2 %v, FMA %v, POPCNT %v); want %v, %v", useAVX2, useSSE2,
			runtime.GOARCH, cpu.X86.HasAVX2, cpu.X86.HasFMA, cpu.X86.HasPOPCNT, wantAVX2, wantSSE2)
	}
	t.Logf("kernels on this machine: %v", kernelPaths()[len(kernelPaths())-1].name)
}

// quadFlipsSSE2 adds in the same order as quadFlips: the sums are equal.
func TestQuadFlipsSSE2MatchesGo(t *testing.T) {
	if !useSSE2 {
		t.Skip("no SSE2 kernel on " + runtime.GOARCH)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for n := 2; n <= 12; n++ {
		in := randVec(r, 1<<n, 1)
		for range 20 {
			s := 4 * r.IntN(1<<n/4)
			f0, f1 := complex(r.Float64(), 1), complex(-2, r.Float64())
			g0, g1, g2, g3 := quadFlips(in, s, n, f0, f1)
			a0, a1, a2, a3 := quadFlipsSSE2(&in[0], s, n, f0, f1)
			if a0 != g0 || a1 != g1 || a2 != g2 || a3 != g3 {
				t.Fatalf("n=%d s=%d: SSE2 (%v %v %v %v), Go (%v %v %v %v)", n, s, a0, a1, a2, a3, g0, g1, g2, g3)
			}
		}
	}
}

// Every chebReal path gives the pure-Go result to rounding on random
// vectors, for the first and later steps (adding both terms to acc, only
// its own, or none), on the whole vector, on a range that starts and ends
// half-way into an octet, and on random ranges of quads.
func TestChebRealPathsAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	paths := kernelPaths()
	for _, n := range []int{2, 3, 4, 5, 6, 7, 8, 9, 12} {
		h := randHamiltonian(r, n)
		in := randVec(r, h.dim, 1)
		out0, acc0 := randVec(r, h.dim, 1), randVec(r, h.dim, 1)
		for trial := range 6 {
			first := trial%2 == 0
			lo := 4 * r.IntN(h.dim/4)
			hi := lo + 4*(1+r.IntN((h.dim-lo)/4))
			switch {
			case trial < 2:
				lo, hi = 0, h.dim
			case trial < 4 && h.dim >= 16:
				lo, hi = 4, h.dim-4 // quads before and after the octets
			}
			half := 500 + 500*r.Float64()
			center := 500 * r.Float64()
			scale := 2 / half
			if first {
				scale = 1 / half
			}
			c0 := complex(2*r.Float64()-1, 2*r.Float64()-1)
			c1 := complex(2*r.Float64()-1, 2*r.Float64()-1)
			switch trial {
			case 3:
				c0 = 0 // a step that adds its own term only
			case 5:
				c0, c1 = 0, 0 // a step that leaves acc alone
			}
			var wantOut, wantAcc []complex128
			for _, p := range paths {
				setPaths(t, p.avx2, p.sse2)
				out, acc := append([]complex128(nil), out0...), append([]complex128(nil), acc0...)
				h.chebReal(in, out, acc, lo, hi, center, scale, first, c0, c1)
				if wantOut == nil {
					wantOut, wantAcc = out, acc
					continue
				}
				for i := range out {
					if i < lo || i >= hi {
						if out[i] != out0[i] || acc[i] != acc0[i] {
							t.Fatalf("%s n=%d [%d,%d): wrote element %d outside its range", p.name, n, lo, hi, i)
						}
						continue
					}
					// Relative to the terms' size: |d·v| ≲ 1e3·scale, |drive·f| ≲ n·5·scale.
					tol := 1e-12 * (1 + cmplx.Abs(wantOut[i]))
					if cmplx.Abs(out[i]-wantOut[i]) > tol || cmplx.Abs(acc[i]-wantAcc[i]) > tol {
						t.Fatalf("%s n=%d [%d,%d) first=%v: element %d: out %v acc %v, Go %v %v",
							p.name, n, lo, hi, first, i, out[i], acc[i], wantOut[i], wantAcc[i])
					}
				}
			}
		}
	}
}

// A split sweep (chebSplit: the low bits and the diagonal, then the high
// bits column range by column range) gives the one-pass sweep to rounding
// on whole vectors, for the first and later steps (adding both terms to
// acc, only its own, or none), also split across cores (n = 15).
func TestChebSplitMatchesOnePass(t *testing.T) {
	setParallelMin(t, 1<<14)
	if !useAVX2 {
		t.Skip("no AVX2 kernel on this machine")
	}
	r := rand.New(rand.NewPCG(9, 10))
	for _, n := range []int{4, 5, 8, 11, 15} {
		h := randHamiltonian(r, n)
		in := randVec(r, h.dim, 1)
		out0, acc0 := randVec(r, h.dim, 1), randVec(r, h.dim, 1)
		for trial := range 4 {
			first := trial == 0
			half := 500 + 500*r.Float64()
			center := 500 * r.Float64()
			c0 := complex(2*r.Float64()-1, 2*r.Float64()-1)
			c1 := complex(2*r.Float64()-1, 2*r.Float64()-1)
			switch trial {
			case 2:
				c0 = 0
			case 3:
				c0, c1 = 0, 0
			}
			var outs, accs [2][]complex128
			for i, split := range []bool{false, true} {
				setSplit(t, split)
				outs[i], accs[i] = append([]complex128(nil), out0...), append([]complex128(nil), acc0...)
				h.chebStep(in, outs[i], accs[i], center, half, first, c0, c1)
			}
			for i := range in {
				tol := 1e-12 * (1 + cmplx.Abs(outs[0][i]))
				if cmplx.Abs(outs[1][i]-outs[0][i]) > tol || cmplx.Abs(accs[1][i]-accs[0][i]) > tol {
					t.Fatalf("n=%d trial %d: element %d: split out %v acc %v, one pass %v %v",
						n, trial, i, outs[1][i], accs[1][i], outs[0][i], accs[0][i])
				}
			}
		}
	}
}

// gram's AVX2 kernels give the Go loop's Gram matrix to rounding, also on
// a state large enough to be split across cores: the full one, and the
// flips-only one the entries among X3 and X4; both from the complex128
// state and from its complex64 copy (a state that complex64 holds
// exactly, so that the two must agree to rounding too).
func TestGramPathsAgree(t *testing.T) {
	setParallelMin(t, 1<<14)
	if !useAVX2 {
		t.Skip("no AVX2 gram kernel on this machine")
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{2, 3, 4, 5, 8, 11, 15} {
		for _, rounded := range []bool{false, true} {
			h := randHamiltonian(r, n)
			e := &evolution{h: h, psi: randVec(r, h.dim, 1/math.Sqrt(float64(h.dim)))}
			if rounded {
				e.w2 = make([]complex64, h.dim)
				toSingle(e.w2, e.psi)
				for i, v := range e.w2 {
					e.psi[i] = complex128(v)
				}
				e.rounded = true
			}
			checkGram(t, e, fmt.Sprintf("n=%d rounded=%v", n, rounded))
		}
	}
}

// checkGram compares e's Gram matrices from the AVX2 kernels with the Go
// loop's.
func checkGram(t *testing.T, e *evolution, name string) {
	t.Helper()
	inter := make([]float64, e.h.dim)
	e.h.inter.fill(inter)
	got, flips := e.gram(inter), e.gram(nil)
	setPaths(t, false, useSSE2)
	want := e.gram(inter)
	setPaths(t, true, useSSE2)
	scale := 0.0
	for i := range want {
		scale = math.Max(scale, math.Abs(want[i][i]))
	}
	for i := range want {
		for j := range want {
			if math.Abs(got[i][j]-want[i][j]) > 1e-12*scale || got[i][j] != got[j][i] {
				t.Fatalf("%s: g[%d][%d] = %.15g, Go %.15g (scale %g)", name, i, j, got[i][j], want[i][j], scale)
			}
			// Without interaction weights: X3 and X4's entries, the rest zero.
			if w := want[i][j]; i < 2 || j < 2 || i == 4 || j == 4 {
				w = 0
				if flips[i][j] != w {
					t.Fatalf("%s: flips-only g[%d][%d] = %g, want 0", name, i, j, flips[i][j])
				}
			} else if math.Abs(flips[i][j]-w) > 1e-12*scale || flips[i][j] != flips[j][i] {
				t.Fatalf("%s: flips-only g[%d][%d] = %.15g, Go %.15g (scale %g)", name, i, j, flips[i][j], w, scale)
			}
		}
	}
}
