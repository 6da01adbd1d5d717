package sequence

import (
	"math"
	"sort"
)

// waveform is a sampled-once-per-ns function of time, in rad/µs.
type waveform interface {
	duration() int
	samples() []float64
	// withDuration returns the same shape stretched to d ns, or an error
	// when the waveform cannot be adjusted (custom, composite).
	withDuration(d int) (waveform, error)
}

type constantWF struct {
	d int
	v float64
}

func (w constantWF) duration() int { return w.d }
func (w constantWF) samples() []float64 {
	s := make([]float64, w.d)
	for i := range s {
		s[i] = w.v
	}
	return s
}
func (w constantWF) withDuration(d int) (waveform, error) { return constantWF{d, w.v}, nil }

type rampWF struct {
	d           int
	start, stop float64
}

func (w rampWF) duration() int { return w.d }
func (w rampWF) samples() []float64 {
	s := make([]float64, w.d)
	if w.d == 1 {
		s[0] = w.start
		return s
	}
	lo, hi := math.Min(w.start, w.stop), math.Max(w.start, w.stop)
	slope := (w.stop - w.start) / float64(w.d-1)
	for i := range s {
		s[i] = math.Min(math.Max(slope*float64(i)+w.start, lo), hi)
	}
	return s
}
func (w rampWF) withDuration(d int) (waveform, error) { return rampWF{d, w.start, w.stop}, nil }

// blackmanWindow is numpy.blackman(m) clipped at zero.
func blackmanWindow(m int) []float64 {
	w := make([]float64, m)
	if m == 1 {
		w[0] = 1
		return w
	}
	for n := range w {
		x := float64(n) / float64(m-1)
		w[n] = math.Max(0, 0.42-0.5*math.Cos(2*math.Pi*x)+0.08*math.Cos(4*math.Pi*x))
	}
	return w
}

type blackmanWF struct {
	d    int
	area float64
}

func (w blackmanWF) duration() int      { return w.d }
func (w blackmanWF) samples() []float64 { return scaleToArea(blackmanWindow(w.d), w.area) }
func (w blackmanWF) withDuration(d int) (waveform, error) {
	return blackmanWF{d, w.area}, nil
}

// scaleToArea scales a window so that its samples (1 ns each, rad/µs)
// integrate to area (rad).
func scaleToArea(win []float64, area float64) []float64 {
	sum := 0.0
	for _, x := range win {
		sum += x
	}
	scale := area / sum * 1e3
	for i := range win {
		win[i] *= scale
	}
	return win
}

func maxOf(s []float64) float64 {
	m := math.Inf(-1)
	for _, x := range s {
		m = math.Max(m, x)
	}
	return m
}

// blackmanFromMax picks the duration of a Blackman pulse of the given area
// whose peak approaches maxVal without exceeding it (Pulser's rule).
func blackmanFromMax(maxVal, area float64, limit int, path string) (waveform, error) {
	if math.Signbit(maxVal) != math.Signbit(area) || maxVal == 0 || area == 0 {
		return nil, errAt(path, "max_val and area must be non-zero with matching signs")
	}
	sign := 1.0
	if area < 0 {
		sign, area, maxVal = -1, -area, -maxVal
	}
	d := math.Ceil(area / (0.42 * maxVal) * 1e3)
	if d > float64(limit) {
		return nil, errAt(path, "the resulting duration exceeds the limit of %d ns", limit)
	}
	dur := int(d)
	scaling := func(d int) float64 {
		win := blackmanWindow(d)
		s := 0.0
		for _, x := range win {
			s += x
		}
		return area / s * 1e3
	}
	prev := 0
	for scaling(dur) > maxVal {
		prev = dur
		dur++
	}
	if prev != 0 && dur%2 == 1 {
		cur := maxOf(blackmanWF{dur, area}.samples())
		pm := maxOf(blackmanWF{prev, area}.samples())
		if cur < pm && pm <= maxVal {
			dur = prev
		}
	}
	return blackmanWF{dur, sign * area}, nil
}

// besselI0 is the modified Bessel function of the first kind, order 0,
// scaled by exp(-x) (x >= 0).
func besselI0e(x float64) float64 {
	if x < 40 {
		// Power series: sum of ((x/2)^k / k!)^2, all terms positive.
		sum, term := 1.0, 1.0
		q := x * x / 4
		for k := 1; k < 500; k++ {
			term *= q / float64(k*k)
			sum += term
			if term < sum*1e-17 {
				break
			}
		}
		return sum * math.Exp(-x)
	}
	// Asymptotic expansion, accurate to machine precision for x >= 40.
	sum, term := 1.0, 1.0
	for k := 1; k < 40; k++ {
		f := float64(2*k - 1)
		term *= f * f / (8 * float64(k) * x)
		sum += term
		if term < 1e-17*sum {
			break
		}
	}
	return sum / math.Sqrt(2*math.Pi*x)
}

// kaiserWindow is numpy.kaiser(m, beta) clipped at zero.
func kaiserWindow(m int, beta float64) []float64 {
	w := make([]float64, m)
	if m == 1 {
		w[0] = 1
		return w
	}
	alpha := float64(m-1) / 2
	den := besselI0e(beta)
	for n := range w {
		r := (float64(n) - alpha) / alpha
		a := beta * math.Sqrt(math.Max(0, 1-r*r))
		w[n] = math.Max(0, besselI0e(a)/den*math.Exp(a-beta))
	}
	return w
}

type kaiserWF struct {
	d          int
	area, beta float64
}

func (w kaiserWF) duration() int { return w.d }
func (w kaiserWF) samples() []float64 {
	return scaleToArea(kaiserWindow(w.d, w.beta), w.area)
}
func (w kaiserWF) withDuration(d int) (waveform, error) { return kaiserWF{d, w.area, w.beta}, nil }

// kaiserFromMax follows Pulser's search for the duration of a Kaiser pulse
// of a given area whose peak approaches maxVal.
func kaiserFromMax(maxVal, area, beta float64, limit int, path string) (waveform, error) {
	if math.Signbit(maxVal) != math.Signbit(area) || maxVal == 0 || area == 0 {
		return nil, errAt(path, "max_val and area must be non-zero with matching signs")
	}
	if beta < 0 {
		return nil, errAt(path, "beta must be at least 0, not %v", beta)
	}
	orig := area
	if area < 0 {
		area, maxVal = -area, -maxVal
	}
	peak := func(d int) float64 {
		win := kaiserWindow(d, beta)
		s := 0.0
		for _, x := range win {
			s += x
		}
		return maxOf(win) * 1000 * area / s
	}
	sum100 := 0.0
	for _, x := range kaiserWindow(100, beta) {
		sum100 += x
	}
	ratio := maxVal * sum100 / 100
	guess := area * 1000 / ratio
	if guess > float64(limit) {
		return nil, errAt(path, "the resulting duration exceeds the limit of %d ns", limit)
	}
	best := 0
	if int(guess) < 11 {
		bestVal := 0.0
		for d := 1; d < 16; d++ {
			if v := peak(d); bestVal < v && v <= maxVal {
				bestVal, best = v, d
			}
		}
	} else {
		d := int(guess)
		v := peak(d)
		step := -1
		if v >= maxVal {
			step = 1
		}
		for sign(v-maxVal) == step {
			d += step
			if d < 1 || d > limit {
				return nil, errAt(path, "no suitable duration found")
			}
			v = peak(d)
		}
		best = d
		if step != 1 {
			best = d + 1
		}
	}
	if best < 1 {
		return nil, errAt(path, "no duration keeps the peak below max_val")
	}
	return kaiserWF{best, orig, beta}, nil
}

func sign(x float64) int {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

type interpolatedWF struct {
	d      int
	values []float64
	times  []float64
	xs, ys []float64 // data points in ns
	slopes []float64 // PCHIP derivatives at the data points
}

func newInterpolated(d int, values, times []float64, path string) (waveform, error) {
	if len(values) < 2 {
		return nil, errAt(path, "an interpolated waveform needs at least 2 values")
	}
	if times == nil {
		times = make([]float64, len(values))
		for i := range times {
			times[i] = float64(i) / float64(len(values)-1)
		}
	} else {
		if len(times) != len(values) {
			return nil, errAt(path, "times (%d) and values (%d) differ in length", len(times), len(values))
		}
		for _, t := range times {
			if t < 0 || t > 1 {
				return nil, errAt(path, "times must lie within [0, 1]")
			}
		}
	}
	w := &interpolatedWF{d: d, values: values, times: times}
	w.xs = make([]float64, len(values))
	w.ys = append([]float64(nil), values...)
	for i, t := range times {
		w.xs[i] = math.RoundToEven(t * float64(d-1))
		if i > 0 && w.xs[i] <= w.xs[i-1] {
			return nil, errAt(path, "interpolation points must be strictly increasing in time once placed on the %d ns grid", d)
		}
	}
	w.slopes = pchipSlopes(w.xs, w.ys)
	return w, nil
}

// pchipSlopes computes the derivatives of scipy's PchipInterpolator
// (Fritsch-Butland weighted harmonic mean inside, the three-point
// shape-preserving rule at the ends).
func pchipSlopes(x, y []float64) []float64 {
	n := len(x)
	h := make([]float64, n-1)
	m := make([]float64, n-1)
	for k := 0; k < n-1; k++ {
		h[k] = x[k+1] - x[k]
		m[k] = (y[k+1] - y[k]) / h[k]
	}
	d := make([]float64, n)
	if n == 2 {
		d[0], d[1] = m[0], m[0]
		return d
	}
	for k := 1; k < n-1; k++ {
		if sign(m[k-1]) != sign(m[k]) || m[k-1] == 0 || m[k] == 0 {
			continue
		}
		w1 := 2*h[k] + h[k-1]
		w2 := h[k] + 2*h[k-1]
		d[k] = (w1 + w2) / (w1/m[k-1] + w2/m[k])
	}
	edge := func(h0, h1, m0, m1 float64) float64 {
		e := ((2*h0+h1)*m0 - h0*m1) / (h0 + h1)
		if sign(e) != sign(m0) {
			return 0
		}
		if sign(m0) != sign(m1) && math.Abs(e) > 3*math.Abs(m0) {
			return 3 * m0
		}
		return e
	}
	d[0] = edge(h[0], h[1], m[0], m[1])
	d[n-1] = edge(h[n-2], h[n-3], m[n-2], m[n-3])
	return d
}

func (w *interpolatedWF) duration() int { return w.d }
func (w *interpolatedWF) samples() []float64 {
	s := make([]float64, w.d)
	n := len(w.xs)
	for i := range s {
		t := float64(i)
		// Interval k with xs[k] <= t < xs[k+1]; ends extrapolate.
		k := sort.SearchFloat64s(w.xs, t) - 1
		if k < 0 {
			k = 0
		}
		if k > n-2 {
			k = n - 2
		}
		if t == w.xs[k+1] && k+1 < n-1 {
			k++
		}
		hk := w.xs[k+1] - w.xs[k]
		u := (t - w.xs[k]) / hk
		h00 := (1 + 2*u) * (1 - u) * (1 - u)
		h10 := u * (1 - u) * (1 - u)
		h01 := u * u * (3 - 2*u)
		h11 := u * u * (u - 1)
		s[i] = h00*w.ys[k] + h10*hk*w.slopes[k] + h01*w.ys[k+1] + h11*hk*w.slopes[k+1]
	}
	// Pulser rounds the samples to at most 9 decimals (fewer for large ranges).
	rng := 0.0
	for _, x := range s {
		rng = math.Max(rng, math.Abs(x))
	}
	dec := 9
	if rng > 0 {
		dec = int(math.Min(15-math.Log10(rng), 9))
	}
	p := math.Pow(10, float64(dec))
	for i, x := range s {
		s[i] = math.RoundToEven(x*p) / p
	}
	return s
}
func (w *interpolatedWF) withDuration(d int) (waveform, error) {
	return newInterpolated(d, w.values, w.times, "")
}

type compositeWF struct{ parts []waveform }

func (w compositeWF) duration() int {
	d := 0
	for _, p := range w.parts {
		d += p.duration()
	}
	return d
}
func (w compositeWF) samples() []float64 {
	s := make([]float64, 0, w.duration())
	for _, p := range w.parts {
		s = append(s, p.samples()...)
	}
	return s
}
func (w compositeWF) withDuration(int) (waveform, error) {
	return nil, &Error{Msg: "a composite waveform's duration cannot be adjusted to the channel's clock period"}
}

type customWF struct{ s []float64 }

func (w customWF) duration() int      { return len(w.s) }
func (w customWF) samples() []float64 { return append([]float64(nil), w.s...) }
func (w customWF) withDuration(int) (waveform, error) {
	return nil, &Error{Msg: "a custom waveform's duration cannot be adjusted to the channel's clock period"}
}

// parseWaveform builds a waveform from its abstract representation.
func (e *evaluator) parseWaveform(n node) (waveform, error) {
	kindN, err := n.get("kind")
	if err != nil {
		return nil, err
	}
	kind, err := kindN.str()
	if err != nil {
		return nil, err
	}
	num := func(key string) (float64, error) {
		c, err := n.get(key)
		if err != nil {
			return 0, err
		}
		return e.scalar(c)
	}
	dur := func() (int, error) {
		c, err := n.get("duration")
		if err != nil {
			return 0, err
		}
		d, err := e.integer(c)
		if err != nil {
			return 0, err
		}
		if d <= 0 {
			return 0, errAt(c.path, "a waveform must have a positive duration, not %d", d)
		}
		if d > e.maxDuration {
			return 0, errAt(c.path, "duration %d ns exceeds the limit of %d ns", d, e.maxDuration)
		}
		return d, nil
	}
	beta := func() (float64, error) {
		c, ok := n.opt("beta")
		if !ok || c.isNull() {
			return 14, nil
		}
		b, err := e.scalar(c)
		if err == nil && b < 0 {
			err = errAt(c.path, "beta must be at least 0, not %v", b)
		}
		return b, err
	}
	switch kind {
	case "constant":
		d, err := dur()
		if err != nil {
			return nil, err
		}
		v, err := num("value")
		return constantWF{d, v}, err
	case "ramp":
		d, err := dur()
		if err != nil {
			return nil, err
		}
		a, err := num("start")
		if err != nil {
			return nil, err
		}
		b, err := num("stop")
		return rampWF{d, a, b}, err
	case "blackman":
		d, err := dur()
		if err != nil {
			return nil, err
		}
		a, err := num("area")
		return blackmanWF{d, a}, err
	case "blackman_max":
		m, err := num("max_val")
		if err != nil {
			return nil, err
		}
		a, err := num("area")
		if err != nil {
			return nil, err
		}
		return blackmanFromMax(m, a, e.maxDuration, n.path)
	case "kaiser":
		d, err := dur()
		if err != nil {
			return nil, err
		}
		a, err := num("area")
		if err != nil {
			return nil, err
		}
		b, err := beta()
		return kaiserWF{d, a, b}, err
	case "kaiser_max":
		m, err := num("max_val")
		if err != nil {
			return nil, err
		}
		a, err := num("area")
		if err != nil {
			return nil, err
		}
		b, err := beta()
		if err != nil {
			return nil, err
		}
		return kaiserFromMax(m, a, b, e.maxDuration, n.path)
	case "interpolated":
		d, err := dur()
		if err != nil {
			return nil, err
		}
		vn, err := n.get("values")
		if err != nil {
			return nil, err
		}
		vals, err := e.array(vn)
		if err != nil {
			return nil, err
		}
		var times []float64
		if tn, ok := n.opt("times"); ok && !tn.isNull() {
			if times, err = e.array(tn); err != nil {
				return nil, err
			}
		}
		return newInterpolated(d, vals, times, n.path)
	case "composite":
		wn, err := n.get("waveforms")
		if err != nil {
			return nil, err
		}
		items, err := wn.arr()
		if err != nil {
			return nil, err
		}
		if len(items) == 0 {
			return nil, errAt(wn.path, "a composite waveform needs at least one waveform")
		}
		c := compositeWF{}
		total := 0
		for _, it := range items {
			w, err := e.parseWaveform(it)
			if err != nil {
				return nil, err
			}
			total += w.duration()
			if total > e.maxDuration {
				return nil, errAt(wn.path, "total duration exceeds the limit of %d ns", e.maxDuration)
			}
			c.parts = append(c.parts, w)
		}
		return c, nil
	case "custom":
		sn, err := n.get("samples")
		if err != nil {
			return nil, err
		}
		s, err := e.array(sn)
		if err != nil {
			return nil, err
		}
		if len(s) == 0 || len(s) > e.maxDuration {
			return nil, errAt(sn.path, "a custom waveform needs between 1 and %d samples", e.maxDuration)
		}
		return customWF{s}, nil
	}
	return nil, errAt(kindN.path, "unknown waveform kind %q", kind)
}
