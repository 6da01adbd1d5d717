package mps

import (
	"errors"
	"fmt"
	"math"
	"math/cmplx"
	"runtime"
	"sort"
	"sync"

	"github.com/tweezer-dev/tweezer/runners/tridiag"
)

// Dense complex kernels of our own: gonum has no complex SVD, and CI must
// need nothing but Go. Matrices are row-major []complex128 with explicit
// dimensions.

// parallelMin is the number of complex multiply-adds above which a
// product is split by rows over the available cores.
const parallelMin = 1 << 17

// splitRows reports whether a product of m rows and work multiply-adds is
// worth splitting over the cores.
func splitRows(m, work int) bool {
	return work >= parallelMin && m >= 2 && runtime.GOMAXPROCS(0) > 1
}

// byRows runs f over [0, m) split into one contiguous range per core.
func byRows(m int, f func(lo, hi int)) {
	p := min(runtime.GOMAXPROCS(0), m)
	var wg sync.WaitGroup
	for w := 0; w < p; w++ {
		lo, hi := w*m/p, (w+1)*m/p
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}

// matMul computes C = A·B (A m×k, B k×n), overwriting C (m×n).
func matMul(c, a, b []complex128, m, k, n int) {
	clear(c[:m*n])
	matMulAdd(c, a, b, m, k, n)
}

// matMulAdd computes C += A·B (A m×k, B k×n).
func matMulAdd(c, a, b []complex128, m, k, n int) {
	if !splitRows(m, m*k*n) {
		// Called directly: the closure below would be allocated on the heap
		// for every one of the many small products of a step.
		matMulAddRows(c, a, b, 0, m, k, n)
		return
	}
	byRows(m, func(lo, hi int) { matMulAddRows(c, a, b, lo, hi, k, n) })
}

func matMulAddRows(c, a, b []complex128, lo, hi, k, n int) {
	if useAVX2 && k > 0 && n >= 4 {
		i := lo
		for ; i+1 < hi; i += 2 {
			a0, a1 := a[i*k:(i+1)*k], a[(i+1)*k:(i+2)*k]
			c0, c1 := c[i*n:(i+1)*n], c[(i+1)*n:(i+2)*n]
			j := 0
			for ; j+4 <= n; j += 4 {
				_ = b[(k-1)*n+j+3]
				cgemm2x4AVX2(&a0[0], &a1[0], &b[j], n, k, &c0[j], &c1[j])
			}
			if j < n {
				for p := 0; p < k; p++ {
					axpy(c0[j:], b[p*n+j:(p+1)*n], a0[p])
					axpy(c1[j:], b[p*n+j:(p+1)*n], a1[p])
				}
			}
		}
		lo = i
	}
	for i := lo; i < hi; i++ {
		ci := c[i*n : (i+1)*n]
		ai := a[i*k : (i+1)*k]
		for p, av := range ai {
			if av == 0 {
				continue
			}
			axpy(ci, b[p*n:(p+1)*n], av)
		}
	}
}

// matMulHA computes C = A†·B (A k×m, B k×n), overwriting C (m×n).
func matMulHA(c, a, b []complex128, k, m, n int) {
	buf := scratch(k * m)
	matMul(c, conjTransposeInto((*buf)[:k*m], a, k, m), b, m, k, n)
	transposes.Put(buf)
}

// matMulBTAdd computes C += A·Bᵀ (A m×k, B n×k, C m×n). B is transposed
// first so the inner loop is an axpy, not a latency-bound dot product.
func matMulBTAdd(c, a, b []complex128, m, k, n int) {
	buf := scratch(k * n)
	bt := (*buf)[:k*n]
	for j := 0; j < n; j++ {
		for p, v := range b[j*k : (j+1)*k] {
			bt[p*n+j] = v
		}
	}
	matMulAdd(c, a, bt, m, k, n)
	transposes.Put(buf)
}

// transposes holds the transposed operands of matMulBTAdd and matMulHA
// between calls, one per concurrent trajectory at most: allocated per call
// they were more than half the garbage of a noisy job.
var transposes = sync.Pool{New: func() any { return new([]complex128) }}

// scratch returns a matrix from transposes with room for n entries; put it
// back when done.
func scratch(n int) *[]complex128 {
	buf := transposes.Get().(*[]complex128)
	if cap(*buf) < n {
		*buf = make([]complex128, n)
	}
	return buf
}

func dot(x, y []complex128) complex128 { // x†y
	var s complex128
	if n := len(x) &^ 1; useAVX2 && n > 0 {
		_ = y[n-1]
		var acc [8]float64
		cdotAVX2(&x[0], &y[0], n, &acc)
		s = complex(acc[0]+acc[1]+acc[2]+acc[3], acc[4]-acc[5]+acc[6]-acc[7])
		x, y = x[n:], y[n:]
	}
	for i, v := range x {
		s += cmplx.Conj(v) * y[i]
	}
	return s
}

func norm2(x []complex128) float64 {
	s := 0.0
	for _, v := range x {
		s += real(v)*real(v) + imag(v)*imag(v)
	}
	return s
}

// svd is A = U·diag(S)·V† with S descending; U is m×k, Vh = V† is k×n,
// k = min(m, n). Columns of U (rows of Vh) belonging to a zero singular
// value are zero: callers drop them when truncating.
type svd struct {
	m, n, k int
	U, Vh   []complex128
	S       []float64
}

// jacobiSweeps bounds the one-sided Jacobi iteration; it converges
// quadratically and needs 6–12 sweeps in practice.
const jacobiSweeps = 60

var errNoConvergence = errors.New("mps: SVD did not converge")

// svdOf computes the thin SVD of A (m×n, row-major; A is not modified) by
// one-sided (Hestenes) Jacobi on the columns of A, or of A† when m < n.
// Tall matrices (m ≥ 2n) are first reduced by a Householder QR so the
// rotations act on the n×n factor R.
func svdOf(a []complex128, m, n int) (*svd, error) {
	if m < n {
		ah := conjTranspose(a, m, n)
		s, err := svdOf(ah, n, m)
		if err != nil {
			return nil, err
		}
		// A = (A†)† = (U S V†)† = V S U†.
		return &svd{m: m, n: n, k: s.k, U: conjTranspose(s.Vh, s.k, m), Vh: conjTranspose(s.U, n, s.k), S: s.S}, nil
	}
	if m >= 2*n && n > 0 {
		q, r := qrOf(a, m, n) // q m×n, r n×n
		s, err := svdOf(r, n, n)
		if err != nil {
			return nil, err
		}
		u := make([]complex128, m*n)
		matMul(u, q, s.U, m, n, n)
		s.U, s.m = u, m
		return s, nil
	}
	// Column-major working copy: cols[j] is column j of A.
	cols := make([][]complex128, n)
	v := make([][]complex128, n) // columns of V
	for j := 0; j < n; j++ {
		c := make([]complex128, m)
		for i := 0; i < m; i++ {
			c[i] = a[i*n+j]
		}
		cols[j] = c
		v[j] = make([]complex128, n)
		v[j][j] = 1
	}
	tol := max(1e-15, 2e-16*float64(m))
	sq := make([]float64, n)
	for j := range cols {
		sq[j] = norm2(cols[j])
	}
	converged := false
	for sweep := 0; sweep < jacobiSweeps && !converged; sweep++ {
		converged = true
		// Columns below 1e-15 of the largest are rounding noise: rotating
		// them against each other need not converge, and their singular
		// values are below what the matrix resolves.
		negligible := 0.0
		for _, x := range sq {
			negligible = max(negligible, 1e-30*x)
		}
		for p := 0; p < n-1; p++ {
			for q := p + 1; q < n; q++ {
				alpha, beta := sq[p], sq[q]
				if alpha <= negligible || beta <= negligible {
					continue
				}
				g := dot(cols[p], cols[q])
				ag := cmplx.Abs(g)
				if ag <= tol*math.Sqrt(alpha*beta) {
					continue
				}
				converged = false
				zeta := (beta - alpha) / (2 * ag)
				t := 1 / (math.Abs(zeta) + math.Sqrt(1+zeta*zeta))
				if zeta < 0 {
					t = -t
				}
				c := 1 / math.Sqrt(1+t*t)
				s := c * t
				e := cmplx.Conj(g) / complex(ag, 0) // e^{-iθ}
				rotate(cols[p], cols[q], c, s, e)
				rotate(v[p], v[q], c, s, e)
				sq[p] = alpha - t*ag
				sq[q] = beta + t*ag
			}
		}
		// Refresh the norms: the running updates drift slowly.
		for j := range cols {
			sq[j] = norm2(cols[j])
		}
	}
	if !converged {
		return nil, errNoConvergence
	}
	idx := make([]int, n)
	for j := range idx {
		idx[j] = j
	}
	sort.SliceStable(idx, func(x, y int) bool { return sq[idx[x]] > sq[idx[y]] })
	out := &svd{m: m, n: n, k: n, U: make([]complex128, m*n), Vh: make([]complex128, n*n), S: make([]float64, n)}
	for jj, j := range idx {
		s := math.Sqrt(sq[j])
		out.S[jj] = s
		if s > 0 {
			inv := complex(1/s, 0)
			for i := 0; i < m; i++ {
				out.U[i*n+jj] = cols[j][i] * inv
			}
		}
		for i := 0; i < n; i++ {
			out.Vh[jj*n+i] = cmplx.Conj(v[j][i])
		}
	}
	return out, nil
}

// rotate applies [x y] ← [x y]·[[c, s], [-s·e, c·e]].
func rotate(x, y []complex128, c, s float64, e complex128) {
	if n := len(x) &^ 1; useAVX2 && n > 0 {
		_ = y[n-1]
		k := [4][4]float64{{c, c, c, c}, {s, s, s, s}, {real(e), real(e), real(e), real(e)}, {-imag(e), imag(e), -imag(e), imag(e)}}
		crotAVX2(&x[0], &y[0], n, &k)
		x, y = x[n:], y[n:]
	}
	cc, ss := complex(c, 0), complex(s, 0)
	for i, xv := range x {
		yv := y[i] * e
		x[i] = cc*xv - ss*yv
		y[i] = ss*xv + cc*yv
	}
}

func conjTranspose(a []complex128, m, n int) []complex128 {
	return conjTransposeInto(make([]complex128, m*n), a, m, n)
}

// conjTransposeInto writes A† (n×m) of A (m×n) into out and returns it.
func conjTransposeInto(out, a []complex128, m, n int) []complex128 {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			out[j*m+i] = cmplx.Conj(a[i*n+j])
		}
	}
	return out
}

// qrOf computes the thin QR decomposition A = Q·R of A (m×n, m ≥ n) by
// Householder reflections: Q is m×n with orthonormal columns, R is n×n
// upper triangular. A is not modified.
func qrOf(a []complex128, m, n int) (q, r []complex128) {
	k := min(m, n)
	w := append([]complex128(nil), a[:m*n]...)
	vs := make([][]complex128, k) // reflector vectors, length m-j
	taus := make([]float64, k)    // H = I - tau v v†
	for j := 0; j < k; j++ {
		x := make([]complex128, m-j)
		for i := j; i < m; i++ {
			x[i-j] = w[i*n+j]
		}
		nx := math.Sqrt(norm2(x))
		if nx == 0 {
			vs[j] = x
			continue
		}
		ph := complex(1, 0)
		if x[0] != 0 {
			ph = x[0] / complex(cmplx.Abs(x[0]), 0)
		}
		alpha := -ph * complex(nx, 0)
		x[0] -= alpha
		vv := norm2(x)
		vs[j], taus[j] = x, 2/vv
		// Apply H to columns j..n-1 of w.
		for c := j; c < n; c++ {
			var s complex128
			for i := j; i < m; i++ {
				s += cmplx.Conj(x[i-j]) * w[i*n+c]
			}
			s *= complex(taus[j], 0)
			for i := j; i < m; i++ {
				w[i*n+c] -= s * x[i-j]
			}
		}
	}
	r = make([]complex128, k*n)
	for i := 0; i < k; i++ {
		for j := i; j < n; j++ {
			r[i*n+j] = w[i*n+j]
		}
	}
	// Q = H_0 H_1 … H_{k-1} applied to the first k columns of I.
	q = make([]complex128, m*k)
	for i := 0; i < k; i++ {
		q[i*k+i] = 1
	}
	for j := k - 1; j >= 0; j-- {
		x := vs[j]
		if taus[j] == 0 {
			continue
		}
		for c := 0; c < k; c++ {
			var s complex128
			for i := j; i < m; i++ {
				s += cmplx.Conj(x[i-j]) * q[i*k+c]
			}
			s *= complex(taus[j], 0)
			for i := j; i < m; i++ {
				q[i*k+c] -= s * x[i-j]
			}
		}
	}
	return q, r
}

// vecPool lends numbered work vectors that keep their storage between
// uses; a nil pool allocates.
type vecPool struct{ bufs [][]complex128 }

// get returns vector i with length n; its contents are undefined.
func (p *vecPool) get(i, n int) []complex128 {
	if p == nil {
		return make([]complex128, n)
	}
	for len(p.bufs) <= i {
		p.bufs = append(p.bufs, nil)
	}
	if cap(p.bufs[i]) < n {
		p.bufs[i] = make([]complex128, n)
	}
	return p.bufs[i][:n]
}

// krylovResult reports one exponentiation.
type krylovResult struct {
	Dim int     // Krylov subspace dimension used
	Err float64 // a posteriori error estimate (2-norm)
}

// expKrylov overwrites v with exp(-i·tau·H)·v by the Lanczos method, H
// Hermitian given by apply(dst, src). Lanczos vectors are fully
// re-orthogonalised. The iteration stops when the standard a posteriori
// estimate β_m·|[exp(-iτT_m)e₁]_m|·‖v‖ drops below tol, or the Krylov space
// becomes invariant; it fails if maxDim is reached first. tol is floored
// at 1e-13·‖v‖, where the estimate is rounding noise.
// pool (may be nil) lends the Lanczos vectors, so repeated calls reuse them.
func expKrylov(pool *vecPool, apply func(dst, src []complex128), v []complex128, tau, tol float64, maxDim int) (krylovResult, error) {
	nv := math.Sqrt(norm2(v))
	if nv == 0 {
		return krylovResult{}, nil
	}
	// Below about 1e-13·‖v‖ the estimate is rounding noise.
	tol = max(tol, 1e-13*nv)
	maxDim = min(maxDim, len(v))
	basis := make([][]complex128, 0, maxDim+1)
	q := pool.get(0, len(v))
	for i, x := range v {
		q[i] = x / complex(nv, 0)
	}
	basis = append(basis, q)
	alphas := make([]float64, 0, maxDim)
	betas := make([]float64, 0, maxDim)
	var y []complex128
	res := krylovResult{}
	for j := 0; j < maxDim; j++ {
		w := pool.get(j+1, len(v))
		apply(w, basis[j])
		alpha := real(dot(basis[j], w))
		// Full re-orthogonalisation (twice is enough).
		for pass := 0; pass < 2; pass++ {
			for _, b := range basis {
				c := dot(b, w)
				for i := range w {
					w[i] -= c * b[i]
				}
			}
		}
		alphas = append(alphas, alpha)
		beta := math.Sqrt(norm2(w))
		y = tridiag.Eigen(alphas, betas).ExpFirstColumn(tau)
		last := cmplx.Abs(y[j])
		res = krylovResult{Dim: j + 1, Err: beta * last * nv}
		if res.Err < tol || beta < 1e-12*math.Max(1, math.Abs(alpha)) || j+1 == len(v) {
			break
		}
		if j+1 == maxDim {
			return res, fmt.Errorf("mps: Krylov exponentiation did not converge within max_krylov_dim=%d (error estimate %.2e > %.2e); raise max_krylov_dim or lower dt", maxDim, res.Err, tol)
		}
		betas = append(betas, beta)
		for i := range w {
			w[i] /= complex(beta, 0)
		}
		basis = append(basis, w)
	}
	clear(v)
	for j, c := range y {
		c *= complex(nv, 0)
		for i, b := range basis[j] {
			v[i] += c * b
		}
	}
	return res, nil
}
