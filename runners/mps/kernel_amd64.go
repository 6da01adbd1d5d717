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
