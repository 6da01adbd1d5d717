//go:build amd64

package emulator

import "golang.org/x/sys/cpu"

// Kernel selection (variables so that tests can run every path): with
// AVX2, FMA and POPCNT, chebReal and gram run the assembly kernels of
// kernel_amd64.s; without them chebReal's Go loop sums the flips with SSE2
// (baseline on amd64: one complex128 per ADDPD instead of two ADDSD) and
// gram runs its Go loop.
var (
	useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasPOPCNT
	useSSE2 = true
)

// chebRealAVX2 is chebReal's loop over the octets of [lo, hi) in AVX2: one
// ymm register holds two complex amplitudes, so a bit's eight partner
// amplitudes take four adds. The caller checks the bounds: len(in) = 1<<n
// >= 8, out, acc and inter at least as long, lo and hi multiples of 8 with
// hi <= len(in).
//
//go:noescape
func chebRealAVX2(in, out, acc *complex128, inter *float64, lo, hi, n int, k *chebConsts)

// gramAVX2 is gram's loop over the quads of [lo, hi): it adds, lane by
// lane, the products of the five vectors to acc[i][j] (i <= j); the lanes
// of acc[i][j] sum to Re⟨x_i, x_j⟩. The caller checks the bounds: len(psi)
// = len(inter) = 1<<n >= 4, lo and hi multiples of 4 with hi <= len(psi).
//
//go:noescape
func gramAVX2(psi *complex128, inter *float64, lo, hi, n int, acc *[5][5][4]float64)

// gramFlipsAVX2 is gramAVX2 restricted to the flip operators without
// interaction weights (gram's vectors 2 and 3): it adds the lanes of
// acc[2][2], acc[2][3] and acc[3][3] only. Same bounds as gramAVX2.
//
//go:noescape
func gramFlipsAVX2(psi *complex128, lo, hi, n int, acc *[5][5][4]float64)

// gram32AVX2 is gramAVX2 reading the state rounded to complex64 (the
// copy that the next single-precision Chebyshev sum starts from), widened
// as it is loaded. Same bounds as gramAVX2.
//
//go:noescape
func gram32AVX2(psi *complex64, inter *float64, lo, hi, n int, acc *[5][5][4]float64)

// gramFlips32AVX2 is gramFlipsAVX2 reading the state rounded to
// complex64, as gram32AVX2 does. Same bounds as gramAVX2.
//
//go:noescape
func gramFlips32AVX2(psi *complex64, lo, hi, n int, acc *[5][5][4]float64)

// tileAVX2 sets dst[i] = k + mid[i] + high[i] for i < n, a multiple of
// 4; the caller checks that the three slices hold n elements.
//
//go:noescape
func tileAVX2(dst, mid, high *float64, k float64, n int)

// quadFlipsSSE2 is quadFlips with SSE2 adds (one complex128 per ADDPD).
//
//go:noescape
func quadFlipsSSE2(in *complex128, s, n int, f0, f1 complex128) (r0, r1, r2, r3 complex128)

// cheb32RealAVX2 is cheb32Real's loop over the octets of [lo, hi): four
// complex64 amplitudes per ymm register for the flips and the diagonal,
// the sum into acc in complex128. The caller checks the bounds: len(in) =
// 1<<n >= 8, out, acc and inter as long, lo and hi multiples of 8 with
// hi <= len(in).
//
//go:noescape
func cheb32RealAVX2(in, out *complex64, acc *complex128, inter *float64, lo, hi, n int, k *cheb32Consts)

// cheb32HighAVX2 is the second pass of a split single-precision sweep
// (cheb32Split): for the rows r < 2^(n-k), it adds drive·(the flips of
// bits k..n-1) to out over the octets r·2^k + [lo, hi) and then updates
// acc by kc.mode, as cheb32RealAVX2 does. The caller checks the bounds:
// len(in) = len(out) = len(acc) = 1<<n, 3 <= k < n, lo and hi multiples
// of 8 with hi <= 1<<k.
//
//go:noescape
func cheb32HighAVX2(in, out *complex64, acc *complex128, lo, hi, k, n int, kc *cheb32Consts)

// chebHighAVX2 is cheb32HighAVX2 in complex128 (chebSplit's second pass);
// same bounds.
//
//go:noescape
func chebHighAVX2(in, out, acc *complex128, lo, hi, k, n int, kc *chebConsts)

// dot32AVX2 returns Σ x_i·y_i over n float32 (n a multiple of 8), in
// float64: Re⟨x, y⟩ for complex64 vectors of n/2 amplitudes.
//
//go:noescape
func dot32AVX2(x, y *float32, n int) float64

// lanczosUpdateAVX2 sets out_i -= a·cur_i + c·prev_i over n float32 (n a
// multiple of 8) and returns Σ out_i² of the new values, in float64.
//
//go:noescape
func lanczosUpdateAVX2(out, cur, prev *float32, n int, a, c float32) float64

// combineAVX2 sets psi[i] = Σ_{j<m} c_j·basis[j][i] over [lo, hi)
// (multiples of 4), with coef[j] = {re c_j in every lane, (−im, im) pairs}.
// The caller checks that every basis vector holds hi amplitudes.
//
//go:noescape
func combineAVX2(psi *complex128, basis **complex64, coef *[2][4]float64, m, lo, hi int)

// lanczosUpdate128AVX2 is lanczosUpdateAVX2 over n float64 (a multiple of
// 4: complex128 vectors of n/2 amplitudes).
//
//go:noescape
func lanczosUpdate128AVX2(out, cur, prev *float64, n int, a, c float64) float64

// combine128AVX2 is combineAVX2 with complex128 basis vectors, of which
// basis[0] may be psi itself.
//
//go:noescape
func combine128AVX2(psi *complex128, basis **complex128, coef *[2][4]float64, m, lo, hi int)
