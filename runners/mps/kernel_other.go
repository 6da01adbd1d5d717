//go:build !amd64

package mps

// Off amd64 axpy runs its Go loop.
var useAVX2 = false

func caxpyAVX2(y, x *complex128, n int, re, im *[4]float64) {
	panic("mps: no AVX2 kernel on this architecture")
}
