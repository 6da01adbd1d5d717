package emulator

import (
	"math"
	"math/cmplx"

	"github.com/tweezer-dev/tweezer/runners/tridiag"
)

// tridiagEigen is the eigendecomposition of a Lanczos step's tridiagonal
// matrix T (package tridiag) and what the Lanczos exponential reads from
// it: the weights w_k = q_{m,k}·q_{1,k} of [e^{-isT}]_{m1}.
type tridiagEigen struct {
	tridiag.Decomposition
	weight []float64
}

// decompose diagonalises the tridiagonal matrix with diagonal alpha and
// off-diagonal beta (len(alpha)-1 entries).
func (t *tridiagEigen) decompose(alpha, beta []float64) {
	t.Decomposition = tridiag.Eigen(alpha, beta)
	m := len(alpha)
	t.weight = t.weight[:0]
	for k := range m {
		t.weight = append(t.weight, t.At(m-1, k)*t.At(0, k))
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
	for k, l := range t.W {
		x := l - mu
		term := complex(t.weight[k], 0) * cmplx.Rect(1, -mid*x)
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
	for _, l := range t.W {
		lo, hi = min(lo, l), max(hi, l)
	}
	mu, lam = (lo+hi)/2, (hi-lo)/2
	for _, wk := range t.weight {
		w += math.Abs(wk)
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
