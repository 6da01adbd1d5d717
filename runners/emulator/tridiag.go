package emulator

import (
	"math"
	"math/cmplx"
)

// tridiagEigen is the eigendecomposition T = Q·diag(λ)·Qᵀ of a Lanczos
// step's symmetric tridiagonal matrix (at most krylovMaxBasis rows), and
// what the Lanczos exponential reads from it.
type tridiagEigen struct {
	m      int
	lambda []float64
	q      [][]float64 // q[i][k]: component i of the k-th eigenvector
	a      [][]float64 // the Jacobi iteration's working copy of T
}

// decompose diagonalises the tridiagonal matrix with diagonal alpha and
// off-diagonal beta (len(alpha)-1 entries) by cyclic Jacobi rotations,
// accurate to rounding for these small matrices.
func (t *tridiagEigen) decompose(alpha, beta []float64) {
	m := len(alpha)
	t.m = m
	if t.a == nil {
		t.a, t.q = make([][]float64, krylovMaxBasis), make([][]float64, krylovMaxBasis)
		for i := range krylovMaxBasis {
			t.a[i], t.q[i] = make([]float64, krylovMaxBasis), make([]float64, krylovMaxBasis)
		}
	}
	a, q := t.a[:m], t.q[:m]
	for i := range m {
		for j := range m {
			a[i][j], q[i][j] = 0, 0
		}
	}
	for i := range m {
		a[i][i], q[i][i] = alpha[i], 1
		if i+1 < m {
			a[i][i+1] = beta[i]
			a[i+1][i] = beta[i]
		}
	}
	scale := 0.0
	for i := range m {
		scale += a[i][i] * a[i][i]
		if i+1 < m {
			scale += 2 * beta[i] * beta[i]
		}
	}
	for range 64 {
		off := 0.0
		for i := range m {
			for j := i + 1; j < m; j++ {
				off += a[i][j] * a[i][j]
			}
		}
		if off <= 1e-32*scale {
			break
		}
		for p := range m {
			for r := p + 1; r < m; r++ {
				if a[p][r] == 0 {
					continue
				}
				theta := (a[r][r] - a[p][p]) / (2 * a[p][r])
				tn := math.Copysign(1, theta) / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				c := 1 / math.Sqrt(tn*tn+1)
				s := tn * c
				for k := range m {
					akp, akr := a[k][p], a[k][r]
					a[k][p], a[k][r] = c*akp-s*akr, s*akp+c*akr
				}
				for k := range m {
					apk, ark := a[p][k], a[r][k]
					a[p][k], a[r][k] = c*apk-s*ark, s*apk+c*ark
				}
				for k := range m {
					qkp, qkr := q[k][p], q[k][r]
					q[k][p], q[k][r] = c*qkp-s*qkr, s*qkp+c*qkr
				}
			}
		}
	}
	t.lambda = t.lambda[:0]
	for i := range m {
		t.lambda = append(t.lambda, a[i][i])
	}
}

// The bound of a Lanczos step is β·∫₀^τ |f(s)| ds with f(s) =
// [e^{-isT}]_{m1} = Σ_k w_k·e^{-is(λ_k−μ)}·e^{-isμ}, w_k = q_{m,k}·q_{1,k}.
// At convergence f is ~10⁻¹⁰ while the w_k are ~10⁻¹, so a Lipschitz
// constant from the w_k would swamp it. Instead each cell of width h is
// bounded by f's Taylor polynomial at its midpoint, its derivatives
// evaluated there (accurate in absolute terms), plus the remainder:
//
//	∫_cell |f| ≤ Σ_{j<p} |f⁽ʲ⁾(mid)|·2(h/2)^{j+1}/((j+1)·j!) + W·Λ^p·2(h/2)^{p+1}/((p+1)·p!)
//
// with W = Σ|w_k| and Λ = max|λ_k − μ| (μ the eigenvalues' midpoint; the
// phase e^{-isμ} leaves |f| alone). The cells are narrow enough that
// Λ·h/2 ≤ 0.1, so the remainder is below 10⁻¹²·W·h per cell.
const (
	taylorOrder = 8
	minCells    = 16
)

// cellBound returns the bound of ∫|f| over the cell of width h centred at
// mid.
func (t *tridiagEigen) cellBound(mid, h, mu, w, lam float64) float64 {
	var d [taylorOrder]complex128
	last, first := t.q[t.m-1], t.q[0]
	for k, l := range t.lambda {
		x := l - mu
		term := complex(last[k]*first[k], 0) * cmplx.Rect(1, -mid*x)
		for j := range d {
			d[j] += term
			term *= complex(0, -x)
		}
	}
	sum, pow, fact := 0.0, h/2, 1.0
	for j := range d {
		if j > 0 {
			fact *= float64(j)
		}
		sum += cmplx.Abs(d[j]) * 2 * pow / (float64(j+1) * fact)
		pow *= h / 2
	}
	fact *= taylorOrder
	return sum + w*math.Pow(lam, taylorOrder)*2*pow/(float64(taylorOrder+1)*fact)
}

// cells returns the cells over [0, tau] for cellBound, and μ, W and Λ.
func (t *tridiagEigen) cells(tau float64) (n int, mu, w, lam float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, l := range t.lambda {
		lo, hi = min(lo, l), max(hi, l)
	}
	mu, lam = (lo+hi)/2, (hi-lo)/2
	last, first := t.q[t.m-1], t.q[0]
	for k := range t.lambda {
		w += math.Abs(last[k] * first[k])
	}
	return max(minCells, int(math.Ceil(lam*tau/0.2))), mu, w, lam
}

// lastFirstIntegral returns an upper bound of ∫₀^τ |[e^{-isT}]_{m1}| ds.
func (t *tridiagEigen) lastFirstIntegral(tau float64) float64 {
	n, mu, w, lam := t.cells(tau)
	h := tau / float64(n)
	sum := 0.0
	for i := range n {
		sum += t.cellBound((float64(i)+0.5)*h, h, mu, w, lam)
	}
	return sum
}

// reach returns the longest time s ≤ left, on the cells of
// lastFirstIntegral(left), at which c·∫₀^s |[e^{-isT}]_{m1}| stays within
// rate·s, and that bound; (0, 0) when not even the first cell does.
func (t *tridiagEigen) reach(c, rate, left float64) (step, bound float64) {
	n, mu, w, lam := t.cells(left)
	h := left / float64(n)
	sum := 0.0
	for i := range n {
		sum += t.cellBound((float64(i)+0.5)*h, h, mu, w, lam)
		s := float64(i+1) * h
		if c*sum > rate*s {
			break
		}
		step, bound = s, c*sum
	}
	return step, bound
}

// firstColumnExp appends y = e^{-iτT}·e₁ (y_j = Σ_k q_{j,k}·q_{1,k}·e^{-iτλ_k})
// to dst and returns it.
func (t *tridiagEigen) firstColumnExp(dst []complex128, tau float64) []complex128 {
	first := t.q[0]
	for j := range t.m {
		var y complex128
		for k, l := range t.lambda {
			y += complex(t.q[j][k]*first[k], 0) * cmplx.Rect(1, -tau*l)
		}
		dst = append(dst, y)
	}
	return dst
}
