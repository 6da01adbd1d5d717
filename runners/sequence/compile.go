// Package sequence parses Pulser's abstract representation (version "1")
// of a sequence, substitutes a job's variables, validates it against a
// device and samples it once per ns into the per-atom drive the emulator
// integrates.
package sequence

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
)

// DefaultMaxDuration is the engine's cap on a sequence's duration (ns) when
// the device sets none.
const DefaultMaxDuration = 100_000

// Options tune Compile.
type Options struct {
	// Variables is the job's variables object (may be nil).
	Variables json.RawMessage
	// ValidateAs, when set, replaces the sequence's own device for
	// validation and physics (e.g. Fresnel for strict validation).
	ValidateAs *Device
	// MaxAtoms, when positive, makes Compile fail for larger registers
	// before sampling anything.
	MaxAtoms int
	// MaxAtomsReason, when set, tells in the MaxAtoms error where the cap
	// comes from (e.g. the runner's memory budget).
	MaxAtomsReason string
	// MaxDuration caps the sequence duration in ns (DefaultMaxDuration if 0).
	MaxDuration int
}

// Program is a compiled sequence: what the emulator integrates.
type Program struct {
	Device    *Device
	QubitIDs  []string
	Positions [][3]float64 // µm
	C6        float64      // rad/µs·µm⁶
	// Interactions, when set, replaces C6/r⁶ between atoms a and b with
	// Interactions[a][b] (rad/µs), e.g. an EmulationConfig's interaction_matrix.
	Interactions [][]float64
	Duration     int // ns
	// Drive[a][t] is Ω·e^{iφ} (rad/µs) on atom a during ns t, Det[a][t] the
	// detuning δ (rad/µs).
	Drive [][]complex128
	Det   [][]float64
	// Pulses lists every scheduled pulse, so that noise can act per
	// channel; Drive and Det are their sums.
	Pulses []PulseSamples
	// Measurement is the measured basis ("ground-rydberg"), or "" if the
	// sequence does not measure.
	Measurement string
}

// Compile parses, substitutes variables, validates and samples a sequence.
// Every input problem is returned as *Error naming the JSON path or the
// variable.
func Compile(seqJSON []byte, opts Options) (*Program, error) {
	root, err := decodeJSON(seqJSON, "$")
	if err != nil {
		return nil, err
	}
	if _, err := root.obj(); err != nil {
		return nil, err
	}
	vn, err := root.get("version")
	if err != nil {
		return nil, err
	}
	if v, _ := vn.str(); v != "1" {
		return nil, errAt(vn.path, "unsupported abstract representation version (want \"1\")")
	}

	dev, err := sequenceDevice(root)
	if err != nil {
		return nil, err
	}
	if opts.ValidateAs != nil {
		dev = opts.ValidateAs
	}

	prog := &Program{Device: dev, C6: dev.C6}
	if err := prog.parseRegister(root, dev, opts.MaxAtoms, opts.MaxAtomsReason); err != nil {
		return nil, err
	}

	maxT := opts.MaxDuration
	if maxT <= 0 {
		maxT = DefaultMaxDuration
	}
	sch := newScheduler(dev, len(prog.QubitIDs), maxT)
	if err := declareChannels(root, dev, sch, len(prog.QubitIDs)); err != nil {
		return nil, err
	}

	declN, err := root.get("variables")
	if err != nil {
		return nil, err
	}
	decls, err := parseVarDecls(declN)
	if err != nil {
		return nil, err
	}
	vals, err := substitute(decls, opts.Variables)
	if err != nil {
		return nil, err
	}
	ev := &evaluator{vars: vals, maxDuration: maxT}

	opsN, err := root.get("operations")
	if err != nil {
		return nil, err
	}
	ops, err := opsN.arr()
	if err != nil {
		return nil, err
	}
	for _, op := range ops {
		if err := applyOperation(op, ev, sch, len(prog.QubitIDs)); err != nil {
			return nil, err
		}
	}

	mn, err := root.get("measurement")
	if err != nil {
		return nil, err
	}
	if !mn.isNull() {
		basis, err := mn.str()
		if err != nil {
			return nil, err
		}
		if basis != "ground-rydberg" {
			return nil, errAt(mn.path, "measurement basis %q is not supported (only \"ground-rydberg\")", basis)
		}
		prog.Measurement = basis
	}
	for _, key := range []string{"slm_mask_targets"} {
		if n, ok := root.opt(key); ok {
			if a, _ := n.arr(); len(a) > 0 {
				return nil, errAt(n.path, "SLM masks are not supported by this emulator")
			}
		}
	}
	prog.sample(sch)
	if prog.Duration == 0 {
		return nil, errAt(opsN.path, "the sequence has no instructions for its channels")
	}
	return prog, nil
}

func sequenceDevice(root node) (*Device, error) {
	dn, err := root.get("device")
	if err != nil {
		return nil, err
	}
	if name, ok := dn.v.(string); ok {
		d, err := LoadDevice(name)
		if err != nil {
			return nil, errAt(dn.path, "unknown device %q", name)
		}
		return d, nil
	}
	return parseDevice(dn)
}

func (p *Program) parseRegister(root node, dev *Device, maxAtoms int, why string) error {
	rn, err := root.get("register")
	if err != nil {
		return err
	}
	atoms, err := rn.arr()
	if err != nil {
		return err
	}
	if len(atoms) == 0 {
		return errAt(rn.path, "the register has no atoms")
	}
	if maxAtoms > 0 && len(atoms) > maxAtoms {
		msg := fmt.Sprintf("the register has %d atoms; this engine simulates at most %d", len(atoms), maxAtoms)
		if why != "" {
			msg += " (" + why + ")"
		}
		return &Error{Path: rn.path, Msg: msg}
	}
	if dev.MaxAtomNum > 0 && len(atoms) > dev.MaxAtomNum {
		return errAt(rn.path, "the register has %d atoms, more than the %d device %s supports", len(atoms), dev.MaxAtomNum, dev.Name)
	}
	dim := 2
	if atoms[0].has("z") {
		dim = 3
	}
	if dim > dev.Dimensions {
		return errAt(rn.path, "a 3D register is not supported by device %s", dev.Name)
	}
	seen := map[string]bool{}
	for _, a := range atoms {
		if a.has("qid") && !a.has("x") {
			return errAt(a.path, "mappable registers are not supported: give atom coordinates")
		}
		nameN, err := a.get("name")
		if err != nil {
			return err
		}
		var name string
		switch v := nameN.v.(type) {
		case string:
			name = v
		case json.Number:
			name = v.String()
		default:
			return errAt(nameN.path, "a qubit name must be a string or a number")
		}
		if seen[name] {
			return errAt(nameN.path, "duplicate qubit name %q", name)
		}
		seen[name] = true
		var pos [3]float64
		keys := []string{"x", "y", "z"}[:dim]
		for i, k := range keys {
			c, err := a.get(k)
			if err != nil {
				return err
			}
			if pos[i], err = c.num(); err != nil {
				return err
			}
		}
		if (dim == 2 && a.has("z")) || (dim == 3 && !a.has("z")) {
			return errAt(a.path, "all atoms must have the same number of coordinates")
		}
		p.QubitIDs = append(p.QubitIDs, name)
		p.Positions = append(p.Positions, pos)
	}
	if err := validateRegister(p.Positions, p.QubitIDs, dev, rn.path); err != nil {
		return err
	}
	if ln, ok := root.opt("layout"); ok {
		return checkLayout(ln, p.Positions, dim)
	}
	return nil
}

const coordPrecision = 1e-6

func dist(a, b [3]float64) float64 {
	return math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
}

func validateRegister(pos [][3]float64, ids []string, dev *Device, path string) error {
	for i := range pos {
		r := dist(pos[i], [3]float64{})
		if r > dev.MaxRadialDistance {
			return errAt(fmt.Sprintf("%s[%d]", path, i), "atom %q is %.3f µm from the centre; device %s allows at most %v µm", ids[i], r, dev.Name, dev.MaxRadialDistance)
		}
		for j := 0; j < i; j++ {
			d := dist(pos[i], pos[j])
			if d-dev.MinAtomDistance < -coordPrecision || d < coordPrecision {
				return errAt(fmt.Sprintf("%s[%d]", path, i), "atoms %q and %q are %.4f µm apart; device %s needs at least %v µm", ids[j], ids[i], d, dev.Name, dev.MinAtomDistance)
			}
		}
	}
	return nil
}

func checkLayout(ln node, pos [][3]float64, dim int) error {
	cn, err := ln.get("coordinates")
	if err != nil {
		return err
	}
	traps, err := cn.arr()
	if err != nil {
		return err
	}
	coords := make([][3]float64, len(traps))
	for i, t := range traps {
		xs, err := t.arr()
		if err != nil {
			return err
		}
		if len(xs) != dim {
			return errAt(t.path, "trap has %d coordinates, the register %d", len(xs), dim)
		}
		for k, x := range xs {
			if coords[i][k], err = x.num(); err != nil {
				return err
			}
		}
	}
	for i, p := range pos {
		found := false
		for _, c := range coords {
			if dist(p, c) < 1e-5 {
				found = true
				break
			}
		}
		if !found {
			return errAt(fmt.Sprintf("$.register[%d]", i), "atom is not on a trap of the layout")
		}
	}
	return nil
}

func declareChannels(root node, dev *Device, sch *scheduler, nAtoms int) error {
	cn, err := root.get("channels")
	if err != nil {
		return err
	}
	if _, err := cn.obj(); err != nil {
		return err
	}
	used := map[string]bool{}
	for _, name := range cn.keys() {
		idN, _ := cn.get(name)
		id, err := idN.str()
		if err != nil {
			return err
		}
		ch, ok := dev.Channels[id]
		if !ok {
			return errAt(idN.path, "device %s has no channel %q", dev.Name, id)
		}
		if ch.Basis != "ground-rydberg" {
			return errAt(idN.path, "channel %q (basis %s) is not supported: this emulator handles the ground-rydberg basis", id, ch.Basis)
		}
		if used[id] && !dev.ReusableChannels {
			return errAt(idN.path, "channel %q is declared twice but device %s does not allow reusing channels", id, dev.Name)
		}
		used[id] = true
		c := &chanSched{name: name, ch: ch}
		if ch.Addressing == "Global" {
			all := make([]int, nAtoms)
			for i := range all {
				all[i] = i
			}
			c.slots = append(c.slots, slot{kind: slotTarget, ti: -1, tf: 0, targets: all})
		}
		sch.chans = append(sch.chans, c)
		sch.byName[name] = c
	}
	return nil
}

func channelOf(op node, sch *scheduler) (*chanSched, error) {
	cn, err := op.get("channel")
	if err != nil {
		return nil, err
	}
	name, err := cn.str()
	if err != nil {
		return nil, err
	}
	c, ok := sch.byName[name]
	if !ok {
		return nil, errAt(cn.path, "channel %q is not declared", name)
	}
	return c, nil
}

func atomIndices(ev *evaluator, n node, nAtoms int) ([]int, error) {
	v, err := ev.array(n)
	if err != nil {
		return nil, err
	}
	if len(v) == 0 {
		return nil, errAt(n.path, "needs at least one qubit")
	}
	set := map[int]bool{}
	for _, f := range v {
		k := int(f)
		if float64(k) != f || k < 0 || k >= nAtoms {
			return nil, errAt(n.path, "qubit index %v is not in the register (0..%d)", f, nAtoms-1)
		}
		set[k] = true
	}
	out := make([]int, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Ints(out)
	return out, nil
}

func applyOperation(op node, ev *evaluator, sch *scheduler, nAtoms int) error {
	kn, err := op.get("op")
	if err != nil {
		return err
	}
	kind, err := kn.str()
	if err != nil {
		return err
	}
	switch kind {
	case "target":
		c, err := channelOf(op, sch)
		if err != nil {
			return err
		}
		if c.ch.Addressing != "Local" {
			return errAt(op.path, "can only choose the target of a Local channel")
		}
		tn, err := op.get("target")
		if err != nil {
			return err
		}
		targets, err := atomIndices(ev, tn, nAtoms)
		if err != nil {
			return err
		}
		if c.ch.MaxTargets > 0 && len(targets) > c.ch.MaxTargets {
			return errAt(tn.path, "channel %q can target at most %d qubits at a time", c.ch.ID, c.ch.MaxTargets)
		}
		for _, q := range targets[1:] {
			if sch.phase[q] != sch.phase[targets[0]] {
				return errAt(tn.path, "cannot target qubits with different phase references")
			}
		}
		return sch.addTarget(c, targets, op.path)
	case "align":
		cn, err := op.get("channels")
		if err != nil {
			return err
		}
		items, err := cn.arr()
		if err != nil {
			return err
		}
		var chans []*chanSched
		for _, it := range items {
			name, err := it.str()
			if err != nil {
				return err
			}
			c, ok := sch.byName[name]
			if !ok {
				return errAt(it.path, "channel %q is not declared", name)
			}
			if slices.Contains(chans, c) {
				return errAt(it.path, "channel %q is given more than once", name)
			}
			chans = append(chans, c)
		}
		if len(chans) < 2 {
			return errAt(cn.path, "align needs at least two channels")
		}
		atRest := true
		if an, ok := op.opt("at_rest"); ok {
			if atRest, err = an.boolean(); err != nil {
				return err
			}
		}
		return sch.align(chans, atRest, op.path)
	case "delay":
		c, err := channelOf(op, sch)
		if err != nil {
			return err
		}
		tn, err := op.get("time")
		if err != nil {
			return err
		}
		d, err := ev.integer(tn)
		if err != nil {
			return err
		}
		if d < 0 {
			return errAt(tn.path, "a delay cannot be negative")
		}
		if an, ok := op.opt("at_rest"); ok {
			atRest, err := an.boolean()
			if err != nil {
				return err
			}
			if atRest {
				if err := sch.waitForFall(c, op.path); err != nil {
					return err
				}
			}
		}
		if d == 0 {
			return nil
		}
		return sch.addDelay(c, d, tn.path)
	case "phase_shift":
		bn, err := op.get("basis")
		if err != nil {
			return err
		}
		if b, _ := bn.str(); b != "ground-rydberg" {
			return errAt(bn.path, "no declared channel addresses basis %v", bn.v)
		}
		pn, err := op.get("phi")
		if err != nil {
			return err
		}
		phi, err := ev.scalar(pn)
		if err != nil {
			return err
		}
		tn, err := op.get("targets")
		if err != nil {
			return err
		}
		items, err := tn.arr()
		if err != nil {
			return err
		}
		var targets []int
		for _, it := range items {
			ts, err := atomIndices(ev, it, nAtoms)
			if err != nil {
				return err
			}
			targets = append(targets, ts...)
		}
		slices.Sort(targets)
		sch.phaseShift(phi, slices.Compact(targets))
		return nil
	case "pulse":
		return addPulseOp(op, ev, sch)
	}
	return errAt(kn.path, "operation %q is not supported by this emulator", kind)
}

func addPulseOp(op node, ev *evaluator, sch *scheduler) error {
	c, err := channelOf(op, sch)
	if err != nil {
		return err
	}
	protoN, err := op.get("protocol")
	if err != nil {
		return err
	}
	protocol, err := protoN.str()
	if err != nil {
		return err
	}
	if protocol != "min-delay" && protocol != "no-delay" && protocol != "wait-for-all" {
		return errAt(protoN.path, "unknown protocol %q", protocol)
	}
	scalar := func(key string) (float64, error) {
		n, err := op.get(key)
		if err != nil {
			return 0, err
		}
		return ev.scalar(n)
	}
	phase, err := scalar("phase")
	if err != nil {
		return err
	}
	post, err := scalar("post_phase_shift")
	if err != nil {
		return err
	}
	an, err := op.get("amplitude")
	if err != nil {
		return err
	}
	dn, err := op.get("detuning")
	if err != nil {
		return err
	}
	amp, det, err := pulseWaveforms(an, dn, ev)
	if err != nil {
		return err
	}
	if amp.duration() != det.duration() {
		return errAt(op.path, "amplitude (%d ns) and detuning (%d ns) durations differ", amp.duration(), det.duration())
	}
	as, ds := amp.samples(), det.samples()
	sum := 0.0
	for i, a := range as {
		if a < 0 {
			return errAt(an.path, "the amplitude goes negative (%v rad/µs at %d ns)", a, i)
		}
		if a > c.ch.MaxAmp {
			return errAt(an.path, "the amplitude %v rad/µs exceeds the maximum of %v rad/µs of channel %q on %s", a, c.ch.MaxAmp, c.ch.ID, sch.dev.Name)
		}
		sum += a
	}
	if avg := sum / float64(len(as)); avg > 0 && avg < c.ch.MinAvgAmp {
		return errAt(an.path, "the average amplitude %v rad/µs is below the minimum of %v of channel %q on %s", avg, c.ch.MinAvgAmp, c.ch.ID, sch.dev.Name)
	}
	for _, d := range ds {
		if math.RoundToEven(math.Abs(d)*1e6)/1e6 > c.ch.MaxAbsDetuning {
			return errAt(dn.path, "the detuning %v rad/µs exceeds the limit of ±%v rad/µs of channel %q on %s", d, c.ch.MaxAbsDetuning, c.ch.ID, sch.dev.Name)
		}
	}
	dur, err := validateDuration(c.ch, amp.duration(), op.path)
	if err != nil {
		return err
	}
	if dur != amp.duration() {
		if amp, err = amp.withDuration(dur); err == nil {
			det, err = det.withDuration(dur)
		}
		if err != nil {
			return errAt(op.path, "%s; choose a duration that is a multiple of %d ns", err.(*Error).Msg, c.ch.ClockPeriod)
		}
		as, ds = amp.samples(), det.samples()
	}
	p := &pulse{amp: as, det: ds, phase: mod2pi(phase), fall: -1}
	if err := sch.addPulse(c, p, protocol, op.path); err != nil {
		return err
	}
	if post = mod2pi(post); post != 0 {
		sch.phaseShift(post, c.slots[len(c.slots)-1].targets)
	}
	return nil
}

// pulseWaveforms handles the zero-duration constant sentinel: a constant
// waveform of duration 0 takes the duration of the other waveform.
func pulseWaveforms(an, dn node, ev *evaluator) (waveform, waveform, error) {
	sentinel := func(n node) bool {
		k, _ := n.opt("kind")
		d, _ := n.opt("duration")
		num, ok := d.v.(json.Number)
		return k.v == "constant" && ok && (num == "0" || num == "0.0")
	}
	switch {
	case sentinel(an):
		det, err := ev.parseWaveform(dn)
		if err != nil {
			return nil, nil, err
		}
		vn, err := an.get("value")
		if err != nil {
			return nil, nil, err
		}
		v, err := ev.scalar(vn)
		return constantWF{det.duration(), v}, det, err
	case sentinel(dn):
		amp, err := ev.parseWaveform(an)
		if err != nil {
			return nil, nil, err
		}
		vn, err := dn.get("value")
		if err != nil {
			return nil, nil, err
		}
		v, err := ev.scalar(vn)
		return amp, constantWF{amp.duration(), v}, err
	}
	amp, err := ev.parseWaveform(an)
	if err != nil {
		return nil, nil, err
	}
	det, err := ev.parseWaveform(dn)
	return amp, det, err
}

// PulseSamples is one pulse as scheduled on its channel: its samples over
// [Ti, Tf) (one per ns, rad/µs), its phase and the atoms it drives.
type PulseSamples struct {
	Channel  string // the name the sequence declared it under
	Device   *Channel
	Global   bool // the channel's addressing is Global
	Ti, Tf   int
	Targets  []int // atom indices
	Amp, Det []float64
	Phase    float64 // rad
}

// sample lays every pulse onto the per-atom, per-ns drive and detuning.
func (p *Program) sample(sch *scheduler) {
	for _, c := range sch.chans {
		p.Duration = max(p.Duration, c.end())
	}
	n := len(p.QubitIDs)
	p.Drive = make([][]complex128, n)
	p.Det = make([][]float64, n)
	for a := 0; a < n; a++ {
		p.Drive[a] = make([]complex128, p.Duration)
		p.Det[a] = make([]float64, p.Duration)
	}
	for _, c := range sch.chans {
		for _, sl := range c.slots {
			if sl.kind != slotPulse {
				continue
			}
			p.Pulses = append(p.Pulses, PulseSamples{
				Channel: c.name, Device: c.ch, Global: c.ch.Addressing == "Global",
				Ti: sl.ti, Tf: sl.tf, Targets: sl.targets,
				Amp: sl.p.amp, Det: sl.p.det, Phase: sl.p.phase,
			})
			rot := complex(math.Cos(sl.p.phase), math.Sin(sl.p.phase))
			for _, a := range sl.targets {
				drive, det := p.Drive[a][sl.ti:sl.tf], p.Det[a][sl.ti:sl.tf]
				for t := range drive {
					drive[t] += complex(sl.p.amp[t], 0) * rot
					det[t] += sl.p.det[t]
				}
			}
		}
	}
}
