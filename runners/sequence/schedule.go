package sequence

import (
	"math"
	"slices"
)

type slotKind int

const (
	slotTarget slotKind = iota
	slotDelay
	slotPulse
)

// pulse is a scheduled pulse: its samples (rad/µs, one per ns) and phase.
type pulse struct {
	amp, det []float64
	phase    float64 // rad in [0, 2π), including the phase reference
	fall     int     // cached fall time, -1 until computed
}

type slot struct {
	kind    slotKind
	ti, tf  int
	targets []int // sorted atom indices
	p       *pulse
}

type chanSched struct {
	name  string
	ch    *Channel
	slots []slot
}

// scheduler lays out operations in time following Pulser's rules: clock
// period rounding, minimum durations, retargeting, phase-jump buffers and
// the channel protocols.
type scheduler struct {
	dev       *Device
	maxT      int // engine cap on the sequence duration (ns)
	chans     []*chanSched
	byName    map[string]*chanSched
	phase     []float64 // per atom, ground-rydberg phase reference
	phaseTime []int     // per atom, time of the last phase change
	lastUsed  []int     // per atom, end of the last pulse touching it
}

func newScheduler(dev *Device, nAtoms, maxT int) *scheduler {
	return &scheduler{
		dev:       dev,
		maxT:      maxT,
		byName:    map[string]*chanSched{},
		phase:     make([]float64, nAtoms),
		phaseTime: make([]int, nAtoms),
		lastUsed:  make([]int, nAtoms),
	}
}

func mod2pi(x float64) float64 {
	r := math.Mod(x, 2*math.Pi)
	if r < 0 {
		r += 2 * math.Pi
	}
	return r
}

func (s *scheduler) checkTotal(tf int, path string) error {
	if s.dev.MaxSequenceDuration > 0 && tf > s.dev.MaxSequenceDuration {
		return errAt(path, "the sequence's duration exceeds the maximum allowed by the device (%d ns)", s.dev.MaxSequenceDuration)
	}
	if tf > s.maxT {
		return errAt(path, "the sequence's duration exceeds the engine's limit of %d ns", s.maxT)
	}
	return nil
}

// validateDuration checks a duration against the channel and rounds it up
// to the clock period.
func validateDuration(ch *Channel, d int, path string) (int, error) {
	if d < ch.MinDuration {
		return 0, errAt(path, "duration %d ns is below the channel's minimum of %d ns", d, ch.MinDuration)
	}
	if ch.MaxDuration > 0 && d > ch.MaxDuration {
		return 0, errAt(path, "duration %d ns is above the channel's maximum of %d ns", d, ch.MaxDuration)
	}
	if r := d % ch.ClockPeriod; r != 0 {
		d += ch.ClockPeriod - r
	}
	return d, nil
}

// adjust is Pulser's adjust_duration: at least the minimum, rounded up.
func (c *chanSched) adjust(d int) int {
	d = max(d, c.ch.MinDuration)
	if r := d % c.ch.ClockPeriod; r != 0 {
		d += c.ch.ClockPeriod - r
	}
	return d
}

func (c *chanSched) end() int {
	if len(c.slots) == 0 {
		return 0
	}
	return c.slots[len(c.slots)-1].tf
}

// duration is the channel's end, optionally including the time the output
// needs to ramp down after the last pulse.
func (c *chanSched) duration(includeFall bool) int {
	if len(c.slots) == 0 {
		return 0
	}
	t := c.end()
	if !includeFall {
		return t
	}
	rise := c.ch.RiseTime()
	for i := len(c.slots) - 1; i >= 0; i-- {
		sl := c.slots[i]
		if sl.kind == slotPulse {
			return max(t, sl.tf+fallTime(sl.p, c.ch))
		}
		if t-sl.tf >= 2*rise {
			break
		}
	}
	return t
}

func (c *chanSched) lastPulse() (slot, bool) {
	for i := len(c.slots) - 1; i >= 0; i-- {
		if c.slots[i].kind == slotPulse {
			return c.slots[i], true
		}
	}
	return slot{}, false
}

func (c *chanSched) lastTarget() int {
	for i := len(c.slots) - 1; i >= 0; i-- {
		if c.slots[i].kind == slotTarget {
			return c.slots[i].tf
		}
	}
	return 0
}

func (s *scheduler) addDelay(c *chanSched, d int, path string) error {
	d, err := validateDuration(c.ch, d, path)
	if err != nil {
		return err
	}
	ti := c.end()
	if err := s.checkTotal(ti+d, path); err != nil {
		return err
	}
	var targets []int
	if len(c.slots) > 0 {
		targets = c.slots[len(c.slots)-1].targets
	}
	c.slots = append(c.slots, slot{kind: slotDelay, ti: ti, tf: ti + d, targets: targets})
	return nil
}

func (s *scheduler) waitForFall(c *chanSched, path string) error {
	if f := c.duration(true) - c.duration(false); f > 0 {
		return s.addDelay(c, c.adjust(f), path)
	}
	return nil
}

func (s *scheduler) addTarget(c *chanSched, targets []int, path string) error {
	ti, tf := -1, 0
	if len(c.slots) > 0 {
		if err := s.waitForFall(c, path); err != nil {
			return err
		}
		last := c.slots[len(c.slots)-1]
		if slices.Equal(last.targets, targets) {
			return nil
		}
		ti = last.tf
		retarget := c.ch.MinRetargetInterval
		delta := min(max(retarget-(ti-c.lastTarget()), 0), retarget)
		if c.ch.FixedRetargetT > 0 {
			delta = max(delta, c.ch.FixedRetargetT)
		}
		if delta != 0 {
			delta = c.adjust(delta)
		}
		tf = ti + delta
	}
	if err := s.checkTotal(tf, path); err != nil {
		return err
	}
	c.slots = append(c.slots, slot{kind: slotTarget, ti: ti, tf: tf, targets: targets})
	return nil
}

// findAddDelay is the earliest start on c that respects pulses of other
// channels on shared targets (all of them for "wait-for-all").
func (s *scheduler) findAddDelay(t0 int, c *chanSched, protocol string) int {
	cur := t0
	mine := c.slots[len(c.slots)-1].targets
	for _, o := range s.chans {
		if o == c {
			continue
		}
		rise := o.ch.RiseTime()
		for i := len(o.slots) - 1; i >= 0; i-- {
			sl := o.slots[i]
			if sl.kind != slotPulse {
				if sl.tf+2*rise <= cur {
					break
				}
				continue
			}
			f := fallTime(sl.p, o.ch)
			if sl.tf+f <= cur {
				break
			}
			if protocol == "wait-for-all" || intersects(sl.targets, mine) {
				cur = sl.tf + f
				break
			}
		}
	}
	return cur
}

func intersects(a, b []int) bool {
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); ok {
			return true
		}
	}
	return false
}

func (s *scheduler) addPulse(c *chanSched, p *pulse, protocol, path string) error {
	if len(c.slots) == 0 {
		return errAt(path, "channel %q has no target yet: add a \"target\" operation first", c.name)
	}
	targets := c.slots[len(c.slots)-1].targets
	ref := s.phase[targets[0]]
	for _, q := range targets[1:] {
		if s.phase[q] != ref {
			return errAt(path, "cannot pulse several qubits with different phase references")
		}
	}
	p.phase = mod2pi(p.phase + ref)
	t0 := c.end()
	cur := t0
	for _, q := range targets {
		cur = max(cur, s.phaseTime[q])
	}
	jump := 0
	if protocol != "no-delay" {
		cur = s.findAddDelay(cur, c, protocol)
		if lp, ok := c.lastPulse(); ok && lp.p.phase != p.phase {
			jump = 2*c.ch.RiseTime() + fallTime(lp.p, c.ch) - (t0 - lp.tf)
		}
	}
	if d := max(cur-t0, jump); d > 0 {
		if err := s.addDelay(c, c.adjust(d), path); err != nil {
			return err
		}
	}
	ti := c.end()
	tf := ti + len(p.amp)
	if err := s.checkTotal(tf, path); err != nil {
		return err
	}
	c.slots = append(c.slots, slot{kind: slotPulse, ti: ti, tf: tf, targets: targets, p: p})
	// An atom's last use only moves forward: a no-delay pulse that ends
	// inside another channel's pulse on the same atom leaves it at the
	// later end (Pulser's _QubitRef.update_last_used), which is where the
	// next phase shift takes effect.
	for _, q := range targets {
		s.lastUsed[q] = max(s.lastUsed[q], tf)
	}
	return nil
}

func (s *scheduler) phaseShift(phi float64, targets []int) {
	for _, q := range targets {
		s.phase[q] = mod2pi(s.phase[q] + phi)
		s.phaseTime[q] = s.lastUsed[q]
	}
}

func (s *scheduler) align(names []*chanSched, atRest bool, path string) error {
	ends := make([]int, len(names))
	tf := 0
	for i, c := range names {
		ends[i] = c.duration(atRest)
		tf = max(tf, ends[i])
	}
	for i, c := range names {
		if d := tf - ends[i]; d > 0 {
			if err := s.addDelay(c, c.adjust(d), path); err != nil {
				return err
			}
		}
	}
	return nil
}

// fallTime is the time a channel's output takes to settle after a pulse:
// the rise time plus the end buffer after which the modulated amplitude and
// detuning are within 1e-2 rad/µs of their input (Pulser's rule).
func fallTime(p *pulse, ch *Channel) int {
	if ch.ModBandwidth <= 0 {
		return 0
	}
	if p.fall < 0 {
		p.fall = ch.RiseTime() + max(endBuffer(p.amp, ch), endBuffer(p.det, ch))
	}
	return p.fall
}

// endBuffer applies the channel's Gaussian modulation transfer function
// (exp(-f²/fc²), fc = bandwidth/√ln2, on the input padded with rise-time
// zeros) and returns the first index of the trailing rise-time window where
// output and input agree within 1e-2.
func endBuffer(samples []float64, ch *Channel) int {
	tr := ch.RiseTime()
	if tr == 0 {
		return 0
	}
	n := len(samples)
	l := n + 2*tr
	x := make([]float64, l)
	copy(x[tr:], samples)
	fc := ch.ModBandwidth * 1e-3 / math.Sqrt(math.Ln2)
	k := modulationKernel(l, fc)
	// The kernel is negligible beyond a few widths: sum over that window.
	w := int(math.Ceil(12 / (math.Pi * fc)))
	for j := 0; j < tr; j++ {
		idx := l - tr + j
		y := 0.0
		if 2*w+1 >= l {
			for m, xm := range x {
				y += xm * k[((idx-m)%l+l)%l]
			}
		} else {
			for off := -w; off <= w; off++ {
				y += x[((idx-off)%l+l)%l] * k[(off+l)%l]
			}
		}
		if math.Abs(y-x[idx]) <= 1e-2 {
			return j
		}
	}
	return tr
}

// modulationKernel is the circular impulse response of the filter
// exp(-f²/fc²) on l samples.
func modulationKernel(l int, fc float64) []float64 {
	k := make([]float64, l)
	if fc < 0.1 || l > 4096 {
		// The filter vanishes well before the Nyquist frequency, so the
		// discrete kernel is the periodised continuous Gaussian.
		a := math.Pi * fc
		for j := range k {
			for p := -2; p <= 2; p++ {
				t := float64(j + p*l)
				k[j] += fc * math.Sqrt(math.Pi) * math.Exp(-a*a*t*t)
			}
		}
		return k
	}
	for j := range k {
		sum := 0.0
		for q := 0; q < l; q++ {
			f := float64(q) / float64(l)
			if q >= (l+1)/2 {
				f -= 1
			}
			sum += math.Exp(-f*f/(fc*fc)) * math.Cos(2*math.Pi*f*float64(j))
		}
		k[j] = sum / float64(l)
	}
	return k
}
