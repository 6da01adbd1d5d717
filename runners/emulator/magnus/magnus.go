// Package magnus computes the Magnus (BCH) expansion of a block of
// piecewise-constant exponentials to degree 4, as pure numbers.
//
// A block of m ns has per-ns exponents X_k = a + u_k·b (k = 0..m-1) for two
// fixed, non-commuting operators a and b and real numbers u_k. Its exact
// propagator is the ordered product
//
//	P = e^{X_{m-1}} ··· e^{X_1} e^{X_0}    (later factors on the LEFT).
//
// With ū = mean(u_k), a' = a + ū·b and w_k = u_k − ū (so Σw_k = 0),
//
//	log P = M·a' + C2·[a',b]
//	      + C3a·[a',[a',b]] + C3b·[b,[b,a']]
//	      + C4a·[a',[a',[a',b]]] + C4b·[b,[a',[a',b]]] + C4c·[b,[b,[b,a']]]
//	      + (degree ≥ 5),
//
// with [x,y] = xy − yx and M = m (the b part of degree 1 is 0·b because
// Σw_k = 0). The degree-3 and degree-4 parts of the free Lie algebra on two
// generators have dimensions 2 and 3, so this basis is complete; in degree 4
// the other bracket with two a' and two b is fixed by the Jacobi identity:
// [a',[b,[a',b]]] = [b,[a',[a',b]]] and [a',[b,[b,a']]] = −[b,[a',[a',b]]].
// The coefficients are polynomials in the u_k only, independent of a and b.
//
// # Method
//
// The product is formed in the free associative algebra on {â, b}
// truncated after words of length 4 (1+2+4+8+16 = 31 coefficients), with
// the factors written about a reference r (the first sample for an
// incremental Expansion, the exact mean for Of): X_k = â + (u_k−r)·b,
// â = a + r·b. Each Push multiplies the truncated exponential of the new
// factor onto the left by a Horner scheme (52 multiply-adds). Terms takes
// the truncated logarithm Σ_{n=1..4} (−1)^{n+1}(P−1)ⁿ/n, but only on the
// six words that identify the Lie coefficients (each basis element is the
// only one containing its word: âb, ââb, bbâ, âââb, bbââ, bbbâ; 34 products
// in all), and finally substitutes â = a' − δ·b with δ = ū − r, which maps
// the brackets linearly onto the basis above.
//
// # Numerics
//
// No rescaling is done, and none is needed: scaling â by s and b by t
// multiplies every term of every sum formed here by the same s^i·t^j, so
// with powers of two the results are bit-identical, and floating point has
// the same relative precision at any magnitude. What does cost precision is
// cancellation between large terms. The product and the logarithm are well
// conditioned relative to the natural scale of each coefficient, m^{i+j}·W^j
// for i letters â and j letters b, W the spread of the u_k (rounding grows
// like m·ε_mach of that scale). The one avoidable cancellation is a large
// common offset ū in the u_k, which would make the b parts of P scale with
// |ū| instead of W only to cancel in the logarithm; writing the factors
// about a reference inside the range of the u_k removes it, and the final
// substitution involves δ ≤ W only.
package magnus

// Terms are the coefficients of log P in the basis of the package
// documentation: M multiplies a', C2 [a',b], C3a [a',[a',b]], C3b
// [b,[b,a']], C4a [a',[a',[a',b]]], C4b [b,[a',[a',b]]] and C4c
// [b,[b,[b,a']]], where a' = a + mean(u)·b. For example, M = m and
// C2 = −½ Σ_{j>k} (w_j − w_k) exactly: samples rising in time (later factors
// with more b) give C2 < 0. For linear samples C3a = C4b = 0.
type Terms struct{ M, C2, C3a, C3b, C4a, C4b, C4c float64 }

const (
	degree = 4
	nWords = 1<<(degree+1) - 1 // words of length 0..degree
)

// off is the index of the first word of length l. A word's letters are the
// bits of its index within its length, the first letter most significant;
// letter 0 is â, letter 1 is b.
func off(l int) int { return 1<<l - 1 }

// invLen[k] = 1/k, the factors of the exponential's Horner scheme.
var invLen = [degree + 1]float64{0, 1, 1.0 / 2, 1.0 / 3, 1.0 / 4}

// Expansion accumulates the factors of a block one ns at a time. The zero
// value is an empty block; Push extends it by one later factor (on the left)
// and Terms returns the expansion of the product so far.
type Expansion struct {
	n      int
	ref    float64 // reference r of â = a + r·b; the first sample
	sum    float64 // Σ (u_k − r)
	q      [nWords]float64
	refSet bool
}

// newExpansion returns an empty Expansion whose factors are written about
// the reference ref.
func newExpansion(ref float64) Expansion { return Expansion{ref: ref, refSet: true} }

// Len is the number of factors pushed.
func (e *Expansion) Len() int { return e.n }

// Push appends the factor e^{a + u·b} to the block, on the left of the
// product.
func (e *Expansion) Push(u float64) {
	if !e.refSet {
		e.ref, e.refSet = u, true
	}
	x := u - e.ref
	e.n++
	e.sum += x

	// q = P − 1 (no word of length 0). P ← e^X·P with X = â + x·b, by
	// Horner: e^X·P = P + X(P + (X/2)(P + (X/3)(P + (X/4)P))), truncated.
	// The k-th bracket is multiplied by X k−1 more times, so only its words
	// up to length degree+1−k matter; left-multiplying by X maps a word to
	// the words one letter longer. Longest words first within a step, so
	// the shorter words read are still those of the previous step.
	var r [nWords]float64
	r[0] = 1
	for k := degree; k >= 1; k-- {
		ca, cb := invLen[k], x*invLen[k]
		for l := degree + 1 - k; l >= 1; l-- {
			base, half, rest := off(l), 1<<(l-1), off(l-1)
			for w := 0; w < half; w++ {
				r[base+w] = e.q[base+w] + ca*r[rest+w] // first letter â
				r[base+half+w] = e.q[base+half+w] + cb*r[rest+w]
			}
		}
	}
	copy(e.q[1:], r[1:])
}

// A part of the logarithm's coefficient of one word: the sign and 1/n of a
// composition of the word into n consecutive non-empty parts, and the
// indices of the parts.
type part struct {
	c     float64
	n     int
	parts [degree]int
}

// compositions lists the terms of the coefficient of the word w of length l
// in log(1+q) = Σ_n (−1)^{n+1} qⁿ/n: one per composition of w into n
// consecutive non-empty parts, contributing the product of the parts'
// coefficients.
func compositions(l, w int) []part {
	var ps []part
	for cuts := 0; cuts < 1<<(l-1); cuts++ { // bit i-1 set: cut after letter i
		var p part
		start := 0
		for i := 1; i <= l; i++ {
			if i == l || cuts>>(i-1)&1 == 1 {
				pl := i - start
				p.parts[p.n] = off(pl) + (w>>(l-i))&(1<<pl-1)
				p.n++
				start = i
			}
		}
		p.c = 1 / float64(p.n)
		if p.n%2 == 0 {
			p.c = -p.c
		}
		ps = append(ps, p)
	}
	return ps
}

// logCoef evaluates the coefficient listed by compositions on q.
func logCoef(q *[nWords]float64, ps []part) float64 {
	var s float64
	for i := range ps {
		p := &ps[i]
		prod := p.c
		for _, k := range p.parts[:p.n] {
			prod *= q[k]
		}
		s += prod
	}
	return s
}

// Words that identify the Lie coefficients (letters â = 0, b = 1).
const (
	wAB   = 0b01
	wAAB  = 0b001
	wBBA  = 0b110
	wAAAB = 0b0001
	wBBAA = 0b1100
	wBBBA = 0b1110
)

// The terms of the logarithm's coefficients of those words.
var (
	logAB   = compositions(2, wAB)
	logAAB  = compositions(3, wAAB)
	logBBA  = compositions(3, wBBA)
	logAAAB = compositions(4, wAAAB)
	logBBAA = compositions(4, wBBAA)
	logBBBA = compositions(4, wBBBA)
)

// Terms returns the coefficients of the product so far, re-centred on the
// mean of the pushed samples. An empty Expansion has zero Terms.
func (e *Expansion) Terms() Terms {
	if e.n == 0 {
		return Terms{}
	}
	// Coefficients in â = a + r·b and b: c2 [â,b], c3a [â,[â,b]],
	// c3b [b,[b,â]], c4a [â,[â,[â,b]]], c4b [b,[â,[â,b]]], c4c [b,[b,[b,â]]].
	c2 := logCoef(&e.q, logAB)
	c3a := logCoef(&e.q, logAAB)
	c3b := logCoef(&e.q, logBBA)
	c4a := logCoef(&e.q, logAAAB)
	c4b := logCoef(&e.q, logBBAA)
	c4c := logCoef(&e.q, logBBBA)

	// â = a' − δ·b. Then [â,b] = [a',b]; [â,[â,b]] = [a',[a',b]] +
	// δ[b,[b,a']]; [b,[b,â]] = [b,[b,a']]; [â,[â,[â,b]]] = [a',[a',[a',b]]]
	// − 2δ[b,[a',[a',b]]] − δ²[b,[b,[b,a']]] (Jacobi: [a',[b,[b,a']]] =
	// −[b,[a',[a',b]]]); [b,[â,[â,b]]] = [b,[a',[a',b]]] + δ[b,[b,[b,a']]];
	// [b,[b,[b,â]]] = [b,[b,[b,a']]]. The degree-1 part m·â + Σ(u_k−r)·b is
	// m·a' exactly.
	d := e.sum / float64(e.n)
	return Terms{
		M:   float64(e.n),
		C2:  c2,
		C3a: c3a,
		C3b: c3b + d*c3a,
		C4a: c4a,
		C4b: c4b - 2*d*c4a,
		C4c: c4c + d*c4b - d*d*c4a,
	}
}

// Of returns the Terms of the product of e^{a + u_k·b}, k = 0..len(u)-1,
// later factors on the left. Its factors are written about the mean of u;
// Of(nil) is the zero Terms.
func Of(u []float64) Terms {
	if len(u) == 0 {
		return Terms{}
	}
	var mean float64
	for _, x := range u {
		mean += x
	}
	mean /= float64(len(u))
	e := newExpansion(mean)
	for _, x := range u {
		e.Push(x)
	}
	return e.Terms()
}

// Prefixes calls fn with the Terms of every prefix u[:j], j = 1..len(u), in
// increasing j, and stops early when fn returns false. Each prefix costs one
// Push and one Terms, independent of j.
func Prefixes(u []float64, fn func(j int, t Terms) bool) {
	var e Expansion
	for j, x := range u {
		e.Push(x)
		if !fn(j+1, e.Terms()) {
			return
		}
	}
}
