package mps

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
	"testing"
)

func randMat(r *rand.Rand, m, n int) []complex128 {
	a := make([]complex128, m*n)
	for i := range a {
		a[i] = complex(r.NormFloat64(), r.NormFloat64())
	}
	return a
}

func maxDiff(a, b []complex128) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, cmplx.Abs(a[i]-b[i]))
	}
	return d
}

// checkOrthonormalColumns fails unless the first k columns of q (m×ld)
// are orthonormal.
func checkOrthonormalColumns(t *testing.T, what string, q []complex128, m, ld, k int) {
	t.Helper()
	for a := 0; a < k; a++ {
		for b := 0; b < k; b++ {
			var s complex128
			for i := 0; i < m; i++ {
				s += cmplx.Conj(q[i*ld+a]) * q[i*ld+b]
			}
			want := complex(0, 0)
			if a == b {
				want = 1
			}
			if cmplx.Abs(s-want) > 1e-12 {
				t.Fatalf("%s: columns %d,%d: ⟨a|b⟩ = %v", what, a, b, s)
			}
		}
	}
}

func TestSVDReconstructsAndIsOrthonormal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][2]int{{1, 1}, {3, 3}, {7, 4}, {4, 7}, {20, 9}, {9, 20}, {32, 32}, {64, 16}, {2, 40}} {
		m, n := sz[0], sz[1]
		a := randMat(r, m, n)
		s, err := svdOf(a, m, n)
		if err != nil {
			t.Fatal(err)
		}
		if s.k != min(m, n) {
			t.Fatalf("%dx%d: k=%d", m, n, s.k)
		}
		// U·diag(S)·V† = A
		us := make([]complex128, m*s.k)
		for i := 0; i < m; i++ {
			for j := 0; j < s.k; j++ {
				us[i*s.k+j] = s.U[i*s.k+j] * complex(s.S[j], 0)
			}
		}
		rec := make([]complex128, m*n)
		matMul(rec, us, s.Vh, m, s.k, n)
		if d := maxDiff(rec, a); d > 1e-11 {
			t.Errorf("%dx%d: |USV†-A| = %.2e", m, n, d)
		}
		for j := 1; j < s.k; j++ {
			if s.S[j] > s.S[j-1] {
				t.Errorf("%dx%d: singular values not descending", m, n)
			}
		}
		checkOrthonormalColumns(t, "U", s.U, m, s.k, s.k)
		checkOrthonormalColumns(t, "V", conjTranspose(s.Vh, s.k, n), n, s.k, s.k)
	}
}

// A rank-deficient matrix with known singular values (complex unitaries
// times a fixed spectrum) is recovered exactly, zeros included.
func TestSVDKnownSpectrum(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	m, n := 12, 8
	want := []float64{5, 3, 3, 1, 1e-4, 0, 0, 0}
	qu, _ := qrOf(randMat(r, m, n), m, n)
	qv, _ := qrOf(randMat(r, n, n), n, n)
	a := make([]complex128, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			for k, s := range want {
				a[i*n+j] += qu[i*n+k] * complex(s, 0) * cmplx.Conj(qv[j*n+k])
			}
		}
	}
	s, err := svdOf(a, m, n)
	if err != nil {
		t.Fatal(err)
	}
	for k, w := range want {
		if math.Abs(s.S[k]-w) > 1e-12 {
			t.Errorf("σ_%d = %.15g, want %g", k, s.S[k], w)
		}
	}
	checkOrthonormalColumns(t, "U (non-zero σ)", s.U, m, s.k, 5)
}

func TestQRReconstructs(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, sz := range [][2]int{{1, 1}, {5, 5}, {9, 4}, {30, 12}} {
		m, n := sz[0], sz[1]
		a := randMat(r, m, n)
		q, rr := qrOf(a, m, n)
		rec := make([]complex128, m*n)
		matMul(rec, q, rr, m, n, n)
		if d := maxDiff(rec, a); d > 1e-12 {
			t.Errorf("%dx%d: |QR-A| = %.2e", m, n, d)
		}
		checkOrthonormalColumns(t, "Q", q, m, n, n)
		for i := 0; i < n; i++ {
			for j := 0; j < i; j++ {
				if rr[i*n+j] != 0 {
					t.Errorf("R not upper triangular at %d,%d", i, j)
				}
			}
		}
	}
}

// randHermitian returns a random Hermitian n×n matrix with spectral scale s.
func randHermitian(r *rand.Rand, n int, s float64) []complex128 {
	a := randMat(r, n, n)
	h := make([]complex128, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			h[i*n+j] = complex(s/2, 0) * (a[i*n+j] + cmplx.Conj(a[j*n+i]))
		}
	}
	return h
}

// denseExp returns exp(-i·tau·H)·v by a Taylor series with scaling and
// squaring, independent of the Lanczos code.
func denseExp(h []complex128, n int, tau float64, v []complex128) []complex128 {
	nrm := 0.0
	for _, x := range h {
		nrm += cmplx.Abs(x)
	}
	sq := 0
	for nrm*math.Abs(tau)/math.Pow(2, float64(sq)) > 0.5 {
		sq++
	}
	dt := tau / math.Pow(2, float64(sq))
	// E = Σ (-i dt H)^k / k!
	e := make([]complex128, n*n)
	term := make([]complex128, n*n)
	for i := 0; i < n; i++ {
		e[i*n+i], term[i*n+i] = 1, 1
	}
	tmp := make([]complex128, n*n)
	for k := 1; k < 30; k++ {
		matMul(tmp, term, h, n, n, n)
		for i := range tmp {
			term[i] = tmp[i] * complex(0, -dt) / complex(float64(k), 0)
			e[i] += term[i]
		}
	}
	for ; sq > 0; sq-- {
		matMul(tmp, e, e, n, n, n)
		copy(e, tmp)
	}
	out := make([]complex128, n)
	matMul(out, e, v, n, n, 1)
	return out
}

func TestKrylovMatchesDenseExponential(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, c := range []struct {
		n   int
		tau float64
	}{{2, 0.3}, {6, 1}, {40, 0.05}, {40, -0.05}, {80, 0.2}} {
		h := randHermitian(r, c.n, 1)
		v := randMat(r, c.n, 1)
		want := denseExp(h, c.n, c.tau, v)
		got := append([]complex128(nil), v...)
		res, err := expKrylov(nil, func(dst, src []complex128) { matMul(dst, h, src, c.n, c.n, 1) }, got, c.tau, 1e-10, 100)
		if err != nil {
			t.Fatal(err)
		}
		d := maxDiff(got, want)
		if d > 1e-9 {
			t.Errorf("n=%d τ=%g: |lanczos-dense| = %.2e (estimate %.2e, dim %d)", c.n, c.tau, d, res.Err, res.Dim)
		}
		if math.Abs(math.Sqrt(norm2(got))-math.Sqrt(norm2(v))) > 1e-9 {
			t.Errorf("n=%d: norm not conserved", c.n)
		}
	}
}

// With a Krylov space too small for the requested tolerance the
// exponentiation fails and names max_krylov_dim; its estimate bounds the
// true error when it is allowed to stop early.
func TestKrylovErrorEstimateAndFailure(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	n := 60
	h := randHermitian(r, n, 3)
	v := randMat(r, n, 1)
	apply := func(dst, src []complex128) { matMul(dst, h, src, n, n, 1) }
	if _, err := expKrylov(nil, apply, append([]complex128(nil), v...), 1, 1e-10, 5); err == nil {
		t.Fatal("want a max_krylov_dim error")
	}
	want := denseExp(h, n, 0.1, v)
	got := append([]complex128(nil), v...)
	res, err := expKrylov(nil, apply, got, 0.1, 1e-4, 100)
	if err != nil {
		t.Fatal(err)
	}
	d := math.Sqrt(norm2(sub(got, want)))
	t.Logf("dim %d, estimate %.2e, true error %.2e", res.Dim, res.Err, d)
	if d > 10*res.Err+1e-12 || res.Err > 1e-4 {
		t.Errorf("true error %.2e vs estimate %.2e", d, res.Err)
	}
}

func sub(a, b []complex128) []complex128 {
	out := make([]complex128, len(a))
	for i := range a {
		out[i] = a[i] - b[i]
	}
	return out
}

// The product kernels agree with a naive triple loop, on both sides of
// the size where they split over cores.
func TestProducts(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, sz := range [][3]int{{3, 4, 5}, {1, 3, 9}, {5, 1, 4}, {7, 6, 11}, {70, 60, 50}} {
		m, k, n := sz[0], sz[1], sz[2]
		a, b, bt, ah := randMat(r, m, k), randMat(r, k, n), make([]complex128, n*k), make([]complex128, k*m)
		want := make([]complex128, m*n)
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				for p := 0; p < k; p++ {
					want[i*n+j] += a[i*k+p] * b[p*n+j]
				}
			}
		}
		for p := 0; p < k; p++ {
			for j := 0; j < n; j++ {
				bt[j*k+p] = b[p*n+j]
			}
			for i := 0; i < m; i++ {
				ah[p*m+i] = cmplx.Conj(a[i*k+p])
			}
		}
		got := make([]complex128, m*n)
		matMul(got, a, b, m, k, n)
		if d := maxDiff(got, want); d > 1e-12 {
			t.Errorf("matMul %v: %.2e", sz, d)
		}
		clear(got)
		matMulBTAdd(got, a, bt, m, k, n)
		if d := maxDiff(got, want); d > 1e-12 {
			t.Errorf("matMulBTAdd %v: %.2e", sz, d)
		}
		matMulHA(got, ah, b, k, m, n)
		if d := maxDiff(got, want); d > 1e-12 {
			t.Errorf("matMulHA %v: %.2e", sz, d)
		}
	}
}

// The AVX2 axpy agrees with the Go loop for every tail length.
func TestAxpyPaths(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2 on this machine")
	}
	r := rand.New(rand.NewPCG(15, 16))
	for n := 0; n < 12; n++ {
		x, y := randMat(r, n+1, 1), randMat(r, n+1, 1)
		c := complex(r.NormFloat64(), r.NormFloat64())
		want := append([]complex128(nil), y...)
		for i := 0; i < n; i++ {
			want[i] += c * x[i]
		}
		axpy(y, x[:n], c)
		if d := maxDiff(y, want); d > 1e-14 {
			t.Errorf("n=%d: %.2e", n, d)
		}
	}
}

// The AVX2 dot product and Jacobi rotation agree with the Go loops.
func TestDotRotatePaths(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2 on this machine")
	}
	r := rand.New(rand.NewPCG(17, 18))
	for n := 0; n < 11; n++ {
		x, y := randMat(r, n, 1), randMat(r, n, 1)
		var want complex128
		for i := range x {
			want += cmplx.Conj(x[i]) * y[i]
		}
		if got := dot(x, y); cmplx.Abs(got-want) > 1e-12 {
			t.Errorf("n=%d: dot %v, want %v", n, got, want)
		}
		c, s, e := 0.8, 0.6, cmplx.Rect(1, 0.7)
		wx, wy := make([]complex128, n), make([]complex128, n)
		for i := range x {
			ey := e * y[i]
			wx[i] = complex(c, 0)*x[i] - complex(s, 0)*ey
			wy[i] = complex(s, 0)*x[i] + complex(c, 0)*ey
		}
		rotate(x, y, c, s, e)
		if d := math.Max(maxDiff(x, wx), maxDiff(y, wy)); d > 1e-14 {
			t.Errorf("n=%d: rotate off by %.2e", n, d)
		}
	}
}
