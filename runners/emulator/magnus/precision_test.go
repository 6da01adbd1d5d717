package magnus

import (
	"math/big"
	"math/rand/v2"
	"testing"
)

// bigPrec is the mantissa of the reference computation: rounding stays far
// below float64's even after thousands of factors.
const bigPrec = 256

// bigElem is an element of the truncated free algebra in big.Float,
// indexed like word.
type bigElem [nWords]*big.Float

func newBig() *big.Float { return new(big.Float).SetPrec(bigPrec) }

func zeroElem() bigElem {
	var z bigElem
	for k := range z {
		z[k] = newBig()
	}
	return z
}

// mulBig is the truncated product x·y, over all pairs of words.
func mulBig(x, y bigElem) bigElem {
	z, t := zeroElem(), newBig()
	for lx := 0; lx <= degree; lx++ {
		for wx := 0; wx < 1<<lx; wx++ {
			if x[off(lx)+wx].Sign() == 0 {
				continue
			}
			for ly := 0; lx+ly <= degree; ly++ {
				for wy := 0; wy < 1<<ly; wy++ {
					k := off(lx+ly) + (wx<<ly | wy)
					z[k].Add(z[k], t.Mul(x[off(lx)+wx], y[off(ly)+wy]))
				}
			}
		}
	}
	return z
}

// axpy returns y + c·x.
func axpy(c *big.Float, x, y bigElem) bigElem {
	z, t := zeroElem(), newBig()
	for k := range z {
		z[k].Add(y[k], t.Mul(c, x[k]))
	}
	return z
}

func bigInt(n int64) *big.Float { return newBig().SetInt64(n) }

func quo(p, q int64) *big.Float { return newBig().Quo(bigInt(p), bigInt(q)) }

// bigTerms is an independent reference for Of: the deviations from the mean
// are formed in big.Float, each factor's exponential is summed as the power
// series Σ Xⁿ/n!, products and the logarithm Σ (−1)^{n+1}(P−1)ⁿ/n use the
// general truncated product, and the coefficients are read off the six
// identifying words, in a' = a + ū·b directly.
func bigTerms(u []float64) Terms {
	mean := newBig()
	for _, x := range u {
		mean.Add(mean, newBig().SetFloat64(x))
	}
	mean.Quo(mean, bigInt(int64(len(u))))
	one := zeroElem()
	one[0].SetInt64(1)
	p := one
	for _, x := range u {
		xk := zeroElem()
		xk[off(1)].SetInt64(1)
		xk[off(1)+1].Sub(newBig().SetFloat64(x), mean)
		e, pow := one, one
		for n := int64(1); n <= degree; n++ {
			pow = mulBig(pow, xk)
			e = axpy(quo(1, factorial(n)), pow, e)
		}
		p = mulBig(e, p)
	}
	q := p
	q[0] = newBig()
	l, pow := zeroElem(), one
	for n := int64(1); n <= degree; n++ {
		pow = mulBig(pow, q)
		s := quo(1, n)
		if n%2 == 0 {
			s.Neg(s)
		}
		l = axpy(s, pow, l)
	}
	f := func(length, w int) float64 { v, _ := l[off(length)+w].Float64(); return v }
	return Terms{
		M: f(1, 0), C2: f(2, wAB), C3a: f(3, wAAB), C3b: f(3, wBBA),
		C4a: f(4, wAAAB), C4b: f(4, wBBAA), C4c: f(4, wBBBA),
	}
}

func factorial(n int64) int64 {
	if n <= 1 {
		return 1
	}
	return n * factorial(n-1)
}

// TestLongBlockPrecision compares a 2000-ns block with deviations up to
// about ±10 about an offset of 40 (and of 10⁴) against the 256-bit reference, for Of and
// for the last prefix of Prefixes (factors about the first sample). Every
// coefficient must agree to 1e-9 relative to its own value (none is small
// here: the samples are irregular). Shorter blocks are checked the same way.
func TestLongBlockPrecision(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, c := range []struct {
		m      int
		offset float64
	}{{3, 0}, {50, 0}, {2000, 0}, {2000, 1e4}} {
		m, u := c.m, testSamples(r, c.m)
		for k := range u {
			u[k] += c.offset
		}
		want := bigTerms(u)
		if want.M != float64(m) {
			t.Fatalf("reference: M = %g, want %d", want.M, m)
		}
		_, wmax := centred(u)
		for name, got := range map[string]Terms{"Of": Of(u), "Prefixes": lastPrefix(u)} {
			var worst float64
			for k, e := range relErrs(got, want, m, wmax, 0) {
				worst = max(worst, e)
				if e > 1e-9 {
					t.Errorf("m=%d offset %g %s: coefficient %d: rel. error %.2g\n got %+v\nwant %+v", m, c.offset, name, k, e, got, want)
				}
			}
			t.Logf("m=%d offset %g %s: worst relative error %.2g (%+v)", m, c.offset, name, worst, got)
		}
	}
}
