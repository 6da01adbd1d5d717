//go:build !amd64

package emulator

// Off amd64 chebReal and gram run their Go loops.
var useAVX2, useSSE2 = false, false

func chebRealAVX2(in, out, acc *complex128, inter *float64, lo, hi, n int, k *chebConsts) {
	panic("emulator: no AVX2 kernel on this architecture")
}

func gramAVX2(psi *complex128, inter *float64, lo, hi, n int, acc *[5][5][4]float64) {
	panic("emulator: no AVX2 kernel on this architecture")
}

func gramFlipsAVX2(psi *complex128, lo, hi, n int, acc *[5][5][4]float64) {
	panic("emulator: no AVX2 kernel on this architecture")
}

func gram32AVX2(psi *complex64, inter *float64, lo, hi, n int, acc *[5][5][4]float64) {
	panic("emulator: no AVX2 kernel on this architecture")
}

func gramFlips32AVX2(psi *complex64, lo, hi, n int, acc *[5][5][4]float64) {
	panic("emulator: no AVX2 kernel on this architecture")
}

func tileAVX2(dst, mid, high *float64, k float64, n int) {
	panic("emulator: no AVX2 kernel on this architecture")
}

func quadFlipsSSE2(in *complex128, s, n int, f0, f1 complex128) (r0, r1, r2, r3 complex128) {
	panic("emulator: no SSE2 kernel on this architecture")
}

func cheb32RealAVX2(in, out *complex64, acc *complex128, inter *float64, lo, hi, n int, k *cheb32Consts) {
	panic("emulator: no AVX2 kernel on this architecture")
}

func cheb32HighAVX2(in, out *complex64, acc *complex128, lo, hi, k, n int, kc *cheb32Consts) {
	panic("emulator: no AVX2 kernel on this architecture")
}

func chebHighAVX2(in, out, acc *complex128, lo, hi, k, n int, kc *chebConsts) {
	panic("emulator: no AVX2 kernel on this architecture")
}

func dot32AVX2(x, y *float32, n int) float64 {
	panic("emulator: no AVX2 kernel on this architecture")
}

func lanczosUpdateAVX2(out, cur, prev *float32, n int, a, c float32) float64 {
	panic("emulator: no AVX2 kernel on this architecture")
}

func combineAVX2(psi *complex128, basis **complex64, coef *[2][4]float64, m, lo, hi int) {
	panic("emulator: no AVX2 kernel on this architecture")
}

func lanczosUpdate128AVX2(out, cur, prev *float64, n int, a, c float64) float64 {
	panic("emulator: no AVX2 kernel on this architecture")
}

func combine128AVX2(psi *complex128, basis **complex128, coef *[2][4]float64, m, lo, hi int) {
	panic("emulator: no AVX2 kernel on this architecture")
}
