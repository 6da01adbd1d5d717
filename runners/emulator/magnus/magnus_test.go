package magnus

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
	"testing"
)

// ---- small dense complex matrices, for brute-force products ----

const dim = 4

type mat [dim][dim]complex128

func (x mat) add(y mat, c complex128) mat {
	for i := range x {
		for j := range x[i] {
			x[i][j] += c * y[i][j]
		}
	}
	return x
}

func (x mat) mul(y mat) mat {
	var z mat
	for i := range x {
		for k := range x[i] {
			for j := range y[k] {
				z[i][j] += x[i][k] * y[k][j]
			}
		}
	}
	return z
}

func (x mat) comm(y mat) mat { return x.mul(y).add(y.mul(x), -1) }

func (x mat) norm() float64 {
	var s float64
	for i := range x {
		for j := range x[i] {
			a := cmplx.Abs(x[i][j])
			s += a * a
		}
	}
	return math.Sqrt(s)
}

func identity() mat {
	var z mat
	for i := range z {
		z[i][i] = 1
	}
	return z
}

// expm is e^x by scaling and squaring of a Taylor series, to full
// complex128 precision for the small norms used here.
func expm(x mat) mat {
	s := 0
	for n := x.norm(); n > 0.25; n /= 2 {
		s++
	}
	x = mat{}.add(x, complex(math.Ldexp(1, -s), 0))
	e, term := identity(), identity()
	for k := 1; k <= 20; k++ {
		term = term.mul(x)
		term = mat{}.add(term, complex(1/float64(k), 0))
		e = e.add(term, 1)
	}
	for ; s > 0; s-- {
		e = e.mul(e)
	}
	return e
}

func randMat(r *rand.Rand) mat {
	var z mat
	for i := range z {
		for j := range z[i] {
			z[i][j] = complex(2*r.Float64()-1, 2*r.Float64()-1)
		}
	}
	return z
}

// omega builds the expansion of t in the operators a and b up to degree
// maxDeg (1..4), with a' = a + mean(u)·b.
func omega(t Terms, a, b mat, ubar float64, maxDeg int) mat {
	ap := a.add(b, complex(ubar, 0))
	ab := ap.comm(b)
	aab := ap.comm(ab)
	bba := b.comm(b.comm(ap))
	terms := []struct {
		deg int
		c   float64
		x   mat
	}{
		{1, t.M, ap},
		{2, t.C2, ab},
		{3, t.C3a, aab},
		{3, t.C3b, bba},
		{4, t.C4a, ap.comm(aab)},
		{4, t.C4b, b.comm(aab)},
		{4, t.C4c, b.comm(bba)},
	}
	var z mat
	for _, x := range terms {
		if x.deg <= maxDeg {
			z = z.add(x.x, complex(x.c, 0))
		}
	}
	return z
}

func mean(u []float64) float64 {
	var s float64
	for _, x := range u {
		s += x
	}
	return s / float64(len(u))
}

func lastPrefix(u []float64) Terms {
	var last Terms
	Prefixes(u, func(_ int, t Terms) bool { last = t; return true })
	return last
}

// TestMatchesMatrixProduct multiplies the exponentials of random 4×4
// complex matrices ε(A + u_k B) and compares the product with exp(Ω_d),
// Ω_d the expansion truncated after degree d. The error must scale as
// ε^{d+1}: halving ε divides it by 2^{d+1}. With d = 4 this checks every
// coefficient, its sign and the order of the factors (a wrong degree-k
// coefficient leaves an ε^k error). Both Of (factors about the mean) and
// Prefixes (factors about the first sample, re-centred at the end) are
// checked, with a mean far from zero.
func TestMatchesMatrixProduct(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 3; trial++ {
		a, b := randMat(r), randMat(r)
		u := make([]float64, 5+trial)
		for k := range u {
			u[k] = 0.8 + 1.5*(2*r.Float64()-1)
		}
		ubar := mean(u)
		for _, src := range []struct {
			name string
			t    Terms
		}{{"Of", Of(u)}, {"Prefixes", lastPrefix(u)}} {
			errAt := func(eps float64, d int) float64 {
				ae, be := mat{}.add(a, complex(eps, 0)), mat{}.add(b, complex(eps, 0))
				p := identity()
				for _, x := range u {
					p = expm(ae.add(be, complex(x, 0))).mul(p) // later factor on the left
				}
				return p.add(expm(omega(src.t, ae, be, ubar, d)), -1).norm()
			}
			const eps = 0.02
			for d := 1; d <= 4; d++ {
				e1, e2 := errAt(eps, d), errAt(eps/2, d)
				ratio, want := e1/e2, math.Ldexp(1, d+1)
				t.Logf("trial %d %s degree %d: err %.3g -> %.3g, ratio %.2f (want %g)", trial, src.name, d, e1, e2, ratio, want)
				if ratio < 0.78*want || ratio > 1.25*want {
					t.Errorf("trial %d %s: truncation after degree %d: error ratio %.2f, want ≈ %g", trial, src.name, d, ratio, want)
				}
			}
			if e4, e3 := errAt(eps/2, 4), errAt(eps/2, 3); e4 > 0.2*e3 {
				t.Errorf("trial %d %s: degree-4 terms do not improve: %.3g vs %.3g without them", trial, src.name, e4, e3)
			}
		}
	}
}

// closeTo reports whether got is within tol·scale of want.
func closeTo(got, want, scale, tol float64) bool {
	return math.Abs(got-want) <= tol*scale
}

// TestTwoFactorsBCH: with two factors, P = e^Y e^X where X = a'−d·b and
// Y = a'+d·b, d = (u_1−u_0)/2. The BCH series with the later factor on the
// left is
//
//	log(e^Y e^X) = X + Y + ½[Y,X] + (1/12)([Y,[Y,X]] + [X,[X,Y]])
//	             − (1/24)[X,[Y,[Y,X]]] + (degree ≥ 5).
//
// [Y,X] = −2d[a',b]; [Y,[Y,X]] + [X,[X,Y]] = [Y−X,[Y,X]] = 4d²[b,[b,a']];
// [X,[Y,[Y,X]]] = −2d[a',[a',[a',b]]] − 2d³[b,[b,[b,a']]] (the two
// [b,[a',[a',b]]] contributions cancel by Jacobi). So M = 2, C2 = −d,
// C3a = 0, C3b = d²/3, C4a = d/12, C4b = 0, C4c = d³/12.
func TestTwoFactorsBCH(t *testing.T) {
	for _, u := range [][]float64{{0, 1}, {1, 0}, {-3.25, 4.5}, {7, 7.125}, {1e3, 1e3 + 2}} {
		d := (u[1] - u[0]) / 2
		want := Terms{M: 2, C2: -d, C3b: d * d / 3, C4a: d / 12, C4c: d * d * d / 12}
		scale := map[string]float64{"C2": math.Abs(d), "C3": d * d, "C4a": math.Abs(d), "C4b": d * d, "C4c": math.Abs(d * d * d)}
		for name, got := range map[string]Terms{"Of": Of(u), "Prefixes": lastPrefix(u)} {
			ok := got.M == 2 &&
				closeTo(got.C2, want.C2, scale["C2"], 1e-14) &&
				closeTo(got.C3a, 0, scale["C3"], 1e-14) &&
				closeTo(got.C3b, want.C3b, scale["C3"], 1e-14) &&
				closeTo(got.C4a, want.C4a, scale["C4a"], 1e-14) &&
				closeTo(got.C4b, 0, scale["C4b"], 1e-14) &&
				closeTo(got.C4c, want.C4c, scale["C4c"], 1e-14)
			if !ok {
				t.Errorf("%s(%v) = %+v, want %+v", name, u, got, want)
			}
		}
	}
}

// TestConstantSamples: equal factors commute, so log P = m·a' exactly.
// Prefixes writes the factors about the first sample, so every deviation is
// exactly zero; Of writes them about the floating-point mean, which may
// differ from the samples in the last bit.
func TestConstantSamples(t *testing.T) {
	u := make([]float64, 50)
	for k := range u {
		u[k] = 3.7
	}
	if got := lastPrefix(u); got != (Terms{M: 50}) {
		t.Errorf("Prefixes: %+v, want only M = 50", got)
	}
	got := Of(u)
	if got.M != 50 || math.Abs(got.C2)+math.Abs(got.C3a)+math.Abs(got.C3b)+math.Abs(got.C4a)+math.Abs(got.C4b)+math.Abs(got.C4c) > 1e-9 {
		t.Errorf("Of: %+v, want only M = 50", got)
	}
	if got := Of(nil); got != (Terms{}) {
		t.Errorf("Of(nil) = %+v, want zero", got)
	}
	var e Expansion
	if got := e.Terms(); got != (Terms{}) || e.Len() != 0 {
		t.Errorf("empty Expansion: Len %d, Terms %+v, want zero", e.Len(), got)
	}
}

// natural is the natural scale m^{i+j}·W^j of a coefficient with i letters
// a' and j letters b, W = max|w_k|.
func natural(m int, w float64, i, j int) float64 {
	return math.Pow(float64(m), float64(i+j)) * math.Pow(w, float64(j))
}

// centred returns the deviations of u from its mean and their largest
// magnitude.
func centred(u []float64) ([]float64, float64) {
	ub := mean(u)
	w := make([]float64, len(u))
	var wmax float64
	for k, x := range u {
		w[k] = x - ub
		wmax = math.Max(wmax, math.Abs(w[k]))
	}
	return w, wmax
}

// c2Exact is the exact degree-2 coefficient. Iterating
// log(e^Y e^X) = X + Y + ½[Y,X] + … gives the degree-2 part
// ½ Σ_{j>k} [X_j, X_k], and [X_j, X_k] = [a'+w_j b, a'+w_k b] =
// (w_k − w_j)[a',b], so C2 = −½ Σ_{j>k} (w_j − w_k) = −½ Σ_j w_j (2j−(m−1)).
// (A rising u, later factors having more b, gives a negative C2.)
func c2Exact(w []float64) float64 {
	m := len(w)
	var s float64
	for j, x := range w {
		s += x * float64(2*j-(m-1))
	}
	return -s / 2
}

// TestLinearSamples: for w_k = g·(k − (m−1)/2) the block is symmetric under
// reversal: w_{m−1−k} = −w_k, so P⁻¹ = e^{−X_0}···e^{−X_{m−1}} is the image
// of P under a' → −a', b → b. Hence log P is odd under that map, and the
// coefficients even in a' vanish: C3a = C4b = 0. And C2 = −g(m³−m)/12 from
// c2Exact, since Σ_{j>k}(j−k) = (m³−m)/6.
func TestLinearSamples(t *testing.T) {
	for _, m := range []int{2, 3, 10, 2000} {
		for _, g := range []float64{0.01, -0.3} {
			u := make([]float64, m)
			for k := range u {
				u[k] = 12.5 + g*(float64(k)-float64(m-1)/2)
			}
			_, wmax := centred(u)
			wantC2 := -g * (math.Pow(float64(m), 3) - float64(m)) / 12
			for name, got := range map[string]Terms{"Of": Of(u), "Prefixes": lastPrefix(u)} {
				const tol = 1e-11
				if !closeTo(got.C2, wantC2, natural(m, wmax, 1, 1), tol) {
					t.Errorf("m=%d g=%g %s: C2 = %.17g, want %.17g", m, g, name, got.C2, wantC2)
				}
				if !closeTo(got.C3a, 0, natural(m, wmax, 2, 1), tol) {
					t.Errorf("m=%d g=%g %s: C3a = %g, want 0 (scale %g)", m, g, name, got.C3a, natural(m, wmax, 2, 1))
				}
				if !closeTo(got.C4b, 0, natural(m, wmax, 2, 2), tol) {
					t.Errorf("m=%d g=%g %s: C4b = %g, want 0 (scale %g)", m, g, name, got.C4b, natural(m, wmax, 2, 2))
				}
			}
		}
	}
}

// testSamples returns m samples with deviations up to about ±10 about a
// large offset: a slow oscillation plus noise.
func testSamples(r *rand.Rand, m int) []float64 {
	u := make([]float64, m)
	for k := range u {
		t := float64(k) / float64(m)
		u[k] = 40 + 7*math.Sin(5*t+0.3) + 3*(2*r.Float64()-1)
	}
	return u
}

// TestC2ClosedForm checks C2 against its exact sum for irregular samples.
func TestC2ClosedForm(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, m := range []int{5, 97, 2000} {
		u := testSamples(r, m)
		w, wmax := centred(u)
		want := c2Exact(w)
		for name, got := range map[string]Terms{"Of": Of(u), "Prefixes": lastPrefix(u)} {
			if !closeTo(got.C2, want, natural(m, wmax, 1, 1), 1e-12) {
				t.Errorf("m=%d %s: C2 = %.17g, want %.17g", m, name, got.C2, want)
			}
		}
	}
}

// relErrs returns the errors of got against want, each relative to the
// largest of |want| of that coefficient and floor times its natural scale.
func relErrs(got, want Terms, m int, wmax, floor float64) [7]float64 {
	g := [7]float64{got.M, got.C2, got.C3a, got.C3b, got.C4a, got.C4b, got.C4c}
	x := [7]float64{want.M, want.C2, want.C3a, want.C3b, want.C4a, want.C4b, want.C4c}
	ij := [7][2]int{{1, 0}, {1, 1}, {2, 1}, {1, 2}, {3, 1}, {2, 2}, {1, 3}}
	var e [7]float64
	for k := range g {
		den := math.Max(math.Abs(x[k]), floor*natural(m, wmax, ij[k][0], ij[k][1]))
		e[k] = math.Abs(g[k]-x[k]) / den
	}
	return e
}

// TestPrefixesMatchOf compares every prefix reported by Prefixes (factors
// about the first sample, re-centred per prefix) with Of of that prefix
// (factors about the prefix's mean), and checks that fn returning false
// stops the walk.
func TestPrefixesMatchOf(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	u := testSamples(r, 300)
	calls := 0
	Prefixes(u, func(j int, got Terms) bool {
		calls++
		if j != calls {
			t.Fatalf("prefix %d reported as j = %d", calls, j)
		}
		_, wmax := centred(u[:j])
		want := Of(u[:j])
		for k, e := range relErrs(got, want, j, wmax, 1e-6) {
			if e > 1e-10 {
				t.Errorf("prefix %d, coefficient %d: Prefixes %+v, Of %+v (rel. err %.2g)", j, k, got, want, e)
			}
		}
		return true
	})
	if calls != len(u) {
		t.Errorf("fn called %d times, want %d", calls, len(u))
	}
	calls = 0
	Prefixes(u, func(j int, _ Terms) bool { calls++; return j < 7 })
	if calls != 7 {
		t.Errorf("fn returning false at j = 7: called %d times", calls)
	}
}

// TestLogIsLie expands the coefficients read off six words back into the
// brackets, word by word, and checks that they reproduce the whole
// truncated logarithm (all 31 words): the logarithm is a Lie element and
// the six words determine it, so reading them is the projection onto the
// basis. Before the final re-centring the degree-1 part is m·â + Σ(u_k−r)·b.
func TestLogIsLie(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	u := testSamples(r, 40)
	var e Expansion
	for _, x := range u {
		e.Push(x)
	}
	var full word
	for l := 1; l <= degree; l++ {
		for w := 0; w < 1<<l; w++ {
			full[off(l)+w] = logCoef(&e.q, compositions(l, w))
		}
	}
	a, b := letter(0), letter(1)
	ab := bracket(a, b)
	aab := bracket(a, ab)
	bba := bracket(b, bracket(b, a))
	var lie word
	for _, x := range []struct {
		c float64
		x word
	}{
		{float64(e.n), a}, {e.sum, b},
		{logCoef(&e.q, logAB), ab},
		{logCoef(&e.q, logAAB), aab},
		{logCoef(&e.q, logBBA), bba},
		{logCoef(&e.q, logAAAB), bracket(a, aab)},
		{logCoef(&e.q, logBBAA), bracket(b, aab)},
		{logCoef(&e.q, logBBBA), bracket(b, bba)},
	} {
		for k := range lie {
			lie[k] += x.c * x.x[k]
		}
	}
	_, wmax := centred(u)
	m := len(u)
	for l := 1; l <= degree; l++ {
		for w := 0; w < 1<<l; w++ {
			nb := 0
			for x := w; x > 0; x >>= 1 {
				nb += x & 1
			}
			// Deviations about the first sample are at most 2·wmax.
			scale := natural(m, 2*wmax, l-nb, nb)
			if d := math.Abs(full[off(l)+w] - lie[off(l)+w]); d > 1e-12*scale {
				t.Errorf("word %0*b: log %g, Lie expansion %g (scale %g)", l, w, full[off(l)+w], lie[off(l)+w], scale)
			}
		}
	}
}

// TestJacobiRelations checks, in the free algebra, the identities used to
// re-centre and documented for the degree-4 basis.
func TestJacobiRelations(t *testing.T) {
	a, b := letter(0), letter(1)
	ab := bracket(a, b)
	ba := bracket(b, a)
	for _, c := range []struct {
		name     string
		lhs, rhs word
		sign     float64
	}{
		{"[a,[b,[a,b]]] = [b,[a,[a,b]]]", bracket(a, bracket(b, ab)), bracket(b, bracket(a, ab)), 1},
		{"[a,[b,[b,a]]] = −[b,[a,[a,b]]]", bracket(a, bracket(b, ba)), bracket(b, bracket(a, ab)), -1},
		{"[b,[a,b]] = −[b,[b,a]]", bracket(b, ab), bracket(b, ba), -1},
	} {
		for k := range c.lhs {
			if c.lhs[k] != c.sign*c.rhs[k] {
				t.Errorf("%s fails at index %d", c.name, k)
			}
		}
	}
}

// word is an element of the truncated free algebra, indexed like
// Expansion.q (including the empty word at 0).
type word [nWords]float64

func letter(x int) word {
	var w word
	w[off(1)+x] = 1
	return w
}

func mulWords(x, y word) word {
	var z word
	for lx := 0; lx <= degree; lx++ {
		for wx := 0; wx < 1<<lx; wx++ {
			for ly := 0; lx+ly <= degree; ly++ {
				for wy := 0; wy < 1<<ly; wy++ {
					z[off(lx+ly)+(wx<<ly|wy)] += x[off(lx)+wx] * y[off(ly)+wy]
				}
			}
		}
	}
	return z
}

func bracket(x, y word) word {
	xy, yx := mulWords(x, y), mulWords(y, x)
	for k := range xy {
		xy[k] -= yx[k]
	}
	return xy
}

// BenchmarkPrefixes walks all prefixes of a 400-ns block incrementally
// (ns/prefix), against recomputing each prefix with Of.
func BenchmarkPrefixes(b *testing.B) {
	const m = 400
	u := testSamples(rand.New(rand.NewPCG(9, 10)), m)
	var sink float64
	b.Run("incremental", func(b *testing.B) {
		for b.Loop() {
			Prefixes(u, func(_ int, t Terms) bool { sink += t.C4c; return true })
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*m), "ns/prefix")
	})
	b.Run("recompute", func(b *testing.B) {
		for b.Loop() {
			for j := 1; j <= m; j++ {
				sink += Of(u[:j]).C4c
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*m), "ns/prefix")
	})
	_ = sink
}
