//go:build amd64

package mps

import "golang.org/x/sys/cpu"

// useAVX2 selects the assembly complex axpy of kernel_amd64.s (a variable
// so that tests run both paths).
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// caxpyAVX2 adds c·x[i] to y[i] for i < n, two complex128 per ymm
// register: y += re·x + im·swap(x), with re = (Re c) in every lane and
// im = (-Im c, +Im c, -Im c, +Im c). The caller checks len(x), len(y) ≥ n.
//
//go:noescape
func caxpyAVX2(y, x *complex128, n int, re, im *[4]float64)

// cgemm2x4AVX2 adds to c0[0:4] and c1[0:4] the products of rows a0 and a1
// (k entries each, contiguous) with the k×4 block of B at b (row stride
// ldb complex128). The caller checks the bounds.
//
//go:noescape
func cgemm2x4AVX2(a0, a1, b *complex128, ldb, k int, c0, c1 *complex128)

// cdotAVX2 accumulates the lanes of x†y for an even n into acc (see
// kernel_amd64.s); the caller checks len(x), len(y) ≥ n.
//
//go:noescape
func cdotAVX2(x, y *complex128, n int, acc *[8]float64)

// crotAVX2 applies the Jacobi rotation of rotate to x and y (even n).
//
//go:noescape
func crotAVX2(x, y *complex128, n int, k *[4][4]float64)
