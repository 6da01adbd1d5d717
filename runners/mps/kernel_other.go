//go:build !amd64

package mps

// Off amd64 axpy runs its Go loop.
var useAVX2 = false

func caxpyAVX2(y, x *complex128, n int, re, im *[4]float64) {
	panic("mps: no AVX2 kernel on this architecture")
}

func cgemm2x4AVX2(a0, a1, b *complex128, ldb, k int, c0, c1 *complex128) {
	panic("mps: no AVX2 kernel on this architecture")
}

func cdotAVX2(x, y *complex128, n int, acc *[8]float64) {
	panic("mps: no AVX2 kernel on this architecture")
}

func crotAVX2(x, y *complex128, n int, k *[4][4]float64) {
	panic("mps: no AVX2 kernel on this architecture")
}
