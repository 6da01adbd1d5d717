// Package tridiag diagonalises the small symmetric tridiagonal matrices of
// the Lanczos method (the MPS engine's TDVP steps and the state-vector
// engine's Krylov exponential) and exponentiates them.
package tridiag

import (
	"math"
	"math/cmplx"
)

// Decomposition is T = Z·diag(W)·Zᵀ: the eigenvalues W and the eigenvectors
// in the columns of Z (row-major, n×n).
type Decomposition struct {
	W, Z []float64
}

// At returns component i of eigenvector k.
func (d Decomposition) At(i, k int) float64 { return d.Z[i*len(d.W)+k] }

// Eigen diagonalises the symmetric tridiagonal matrix with diagonal diag
// and off-diagonal off (len(off) = len(diag)-1) by implicit QL with
// Wilkinson shifts.
func Eigen(diag, off []float64) Decomposition {
	n := len(diag)
	d := append([]float64(nil), diag...)
	e := make([]float64, n)
	copy(e, off)
	z := make([]float64, n*n)
	for i := 0; i < n; i++ {
		z[i*n+i] = 1
	}
	for l := 0; l < n; l++ {
		for iter := 0; iter < 60; iter++ {
			m := l
			for ; m < n-1; m++ {
				dd := math.Abs(d[m]) + math.Abs(d[m+1])
				if math.Abs(e[m]) <= 1e-16*dd {
					break
				}
			}
			if m == l {
				break
			}
			g := (d[l+1] - d[l]) / (2 * e[l])
			r := math.Hypot(g, 1)
			g = d[m] - d[l] + e[l]/(g+math.Copysign(r, g))
			s, c, p := 1.0, 1.0, 0.0
			i := m - 1
			for ; i >= l; i-- {
				f, b := s*e[i], c*e[i]
				r = math.Hypot(f, g)
				e[i+1] = r
				if r == 0 {
					d[i+1] -= p
					e[m] = 0
					break
				}
				s, c = f/r, g/r
				g = d[i+1] - p
				r = (d[i]-g)*s + 2*c*b
				p = s * r
				d[i+1] = g + p
				g = c*r - b
				for k := 0; k < n; k++ {
					f := z[k*n+i+1]
					z[k*n+i+1] = s*z[k*n+i] + c*f
					z[k*n+i] = c*z[k*n+i] - s*f
				}
			}
			if r == 0 && i >= l {
				continue
			}
			d[l] -= p
			e[l] = g
			e[m] = 0
		}
	}
	return Decomposition{W: d, Z: z}
}

// ExpFirstColumn returns exp(-i·tau·T)·e₁:
// y_i = Σ_k Z_ik·Z_0k·e^{-i·tau·W_k}.
func (d Decomposition) ExpFirstColumn(tau float64) []complex128 {
	m := len(d.W)
	y := make([]complex128, m)
	for k, w := range d.W {
		c := cmplx.Exp(complex(0, -tau*w)) * complex(d.Z[k], 0) // Z[0][k] = ⟨e₁|z_k⟩
		for i := 0; i < m; i++ {
			y[i] += complex(d.Z[i*m+k], 0) * c
		}
	}
	return y
}
