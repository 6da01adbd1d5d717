package sequence

import (
	"encoding/json"
	"math"

	"github.com/tweezer-dev/tweezer/internal/devices"
)

// c6ByLevel is the van der Waals coefficient C6 (rad/µs·µm⁶) by Rydberg
// level, as tabulated by Pulser for levels 50 to 100.
var c6ByLevel = [...]float64{
	96120.72, 122241.6, 154693.02, 194740.36, 243973.91, 304495.01,
	378305.98, 468027.05, 576714.85, 707911.38, 865723.02, 1054903.11,
	1281042.11, 1550531.15, 1870621.31, 2249728.57, 2697498.69, 3224987.51,
	3844734.37, 4571053.32, 5420158.53, 6410399.4, 7562637.31, 8900342.14,
	10449989.62, 12241414.53, 14308028.03, 16687329.94, 19421333.62, 22557029.94,
	26146720.74, 30248886.65, 34928448.69, 40257623.67, 46316557.88, 53194043.52,
	60988354.64, 69808179.15, 79773468.88, 91016513.07, 103677784.57, 117933293.96,
	133943541.9, 151907135.94, 172036137.34, 194562889.89, 219741590.56, 247850178.91,
	279192193.77, 314098829.39, 352931119.11,
}

// C6 returns the interaction coefficient for a Rydberg level.
func C6(level int) (float64, bool) {
	if level < 50 || level > 100 {
		return 0, false
	}
	return c6ByLevel[level-50], true
}

// Channel is a device channel; a limit of +Inf (or 0 for counts) means none.
type Channel struct {
	ID                  string
	Basis               string
	Addressing          string // "Global" or "Local"
	MaxAbsDetuning      float64
	MaxAmp              float64
	MinAvgAmp           float64
	MinRetargetInterval int
	FixedRetargetT      int
	MaxTargets          int
	ClockPeriod         int
	MinDuration         int
	MaxDuration         int // 0 = none
	ModBandwidth        float64
	// PropagationDir is the laser's direction of propagation ([0 1 0] when
	// the device leaves it unset, as in Pulser); amplitude noise uses it.
	PropagationDir [3]float64
}

// RiseTime is the channel's output rise time in ns (0 without modulation).
func (c *Channel) RiseTime() int {
	if c.ModBandwidth <= 0 {
		return 0
	}
	return int(0.48 / c.ModBandwidth * 1e3)
}

// Noise holds the SPAM figures of a device's default noise model.
type Noise struct {
	StatePrepError float64
	FalsePositive  float64
	FalseNegative  float64
}

// Device is what the parser needs of a Pulser device.
type Device struct {
	Name                string
	Dimensions          int
	RydbergLevel        int
	C6                  float64
	MinAtomDistance     float64
	MaxAtomNum          int     // 0 = none
	MaxRadialDistance   float64 // +Inf = none
	MaxSequenceDuration int     // 0 = none
	ReusableChannels    bool
	IsVirtual           bool
	Channels            map[string]*Channel
	Noise               *Noise // nil without a SPAM default noise model
	// DefaultNoiseModel is the device's default_noise_model as given
	// (Pulser's noise abstract repr), nil when the device has none.
	DefaultNoiseModel json.RawMessage
}

// LoadDevice returns a catalog device by its Pulser name.
func LoadDevice(name string) (*Device, error) {
	js, ok := devices.ByName(name)
	if !ok {
		return nil, &Error{Msg: "unknown device " + name}
	}
	return ParseDevice([]byte(js))
}

// ParseDevice parses a Pulser device in the abstract representation.
func ParseDevice(data []byte) (*Device, error) {
	n, err := decodeJSON(data, "$")
	if err != nil {
		return nil, err
	}
	return parseDevice(n)
}

func optInt(n node, key string) (int, error) {
	f, ok, err := n.optNum(key, 0)
	if err != nil || !ok {
		return 0, err
	}
	if f < 0 || f > 1e12 || f != math.Trunc(f) {
		return 0, errAt(n.path+"."+key, "expected a non-negative integer")
	}
	return int(f), nil
}

func optLimit(n node, key string) (float64, error) {
	f, ok, err := n.optNum(key, math.Inf(1))
	if err != nil {
		return 0, err
	}
	if !ok {
		return math.Inf(1), nil
	}
	return f, nil
}

func parseDevice(n node) (*Device, error) {
	if _, err := n.obj(); err != nil {
		return nil, err
	}
	d := &Device{Channels: map[string]*Channel{}}
	nameN, err := n.get("name")
	if err != nil {
		return nil, err
	}
	if d.Name, err = nameN.str(); err != nil {
		return nil, err
	}
	dims, _, err := n.optNum("dimensions", 2)
	if err != nil {
		return nil, err
	}
	if dims != 2 && dims != 3 {
		return nil, errAt(n.path+".dimensions", "must be 2 or 3")
	}
	d.Dimensions = int(dims)
	lvl, _, err := n.optNum("rydberg_level", -1)
	if err != nil {
		return nil, err
	}
	c6, ok := C6(int(lvl))
	if !ok || lvl != math.Trunc(lvl) {
		return nil, errAt(n.path+".rydberg_level", "must be an integer between 50 and 100")
	}
	d.RydbergLevel, d.C6 = int(lvl), c6
	if d.MinAtomDistance, _, err = n.optNum("min_atom_distance", 0); err != nil {
		return nil, err
	}
	if d.MaxAtomNum, err = optInt(n, "max_atom_num"); err != nil {
		return nil, err
	}
	if d.MaxRadialDistance, err = optLimit(n, "max_radial_distance"); err != nil {
		return nil, err
	}
	if d.MaxSequenceDuration, err = optInt(n, "max_sequence_duration"); err != nil {
		return nil, err
	}
	if c, ok := n.opt("reusable_channels"); ok {
		if d.ReusableChannels, err = c.boolean(); err != nil {
			return nil, err
		}
	}
	if c, ok := n.opt("is_virtual"); ok {
		if d.IsVirtual, err = c.boolean(); err != nil {
			return nil, err
		}
	}
	chN, err := n.get("channels")
	if err != nil {
		return nil, err
	}
	chans, err := chN.arr()
	if err != nil {
		return nil, err
	}
	for _, c := range chans {
		ch, err := parseChannel(c)
		if err != nil {
			return nil, err
		}
		d.Channels[ch.ID] = ch
	}
	if nm, ok := n.opt("default_noise_model"); ok && !nm.isNull() {
		if d.Noise, err = parseNoise(nm); err != nil {
			return nil, err
		}
		if d.DefaultNoiseModel, err = json.Marshal(nm.v); err != nil {
			return nil, errAt(nm.path, "cannot re-encode: %v", err)
		}
	}
	return d, nil
}

func parseChannel(n node) (*Channel, error) {
	ch := &Channel{}
	var err error
	for key, dst := range map[string]*string{"id": &ch.ID, "basis": &ch.Basis, "addressing": &ch.Addressing} {
		c, err := n.get(key)
		if err != nil {
			return nil, err
		}
		if *dst, err = c.str(); err != nil {
			return nil, err
		}
	}
	if ch.MaxAbsDetuning, err = optLimit(n, "max_abs_detuning"); err != nil {
		return nil, err
	}
	if ch.MaxAmp, err = optLimit(n, "max_amp"); err != nil {
		return nil, err
	}
	if ch.MinAvgAmp, _, err = n.optNum("min_avg_amp", 0); err != nil {
		return nil, err
	}
	ints := []struct {
		key string
		dst *int
	}{
		{"min_retarget_interval", &ch.MinRetargetInterval},
		{"fixed_retarget_t", &ch.FixedRetargetT},
		{"max_targets", &ch.MaxTargets},
		{"clock_period", &ch.ClockPeriod},
		{"min_duration", &ch.MinDuration},
		{"max_duration", &ch.MaxDuration},
	}
	for _, f := range ints {
		if *f.dst, err = optInt(n, f.key); err != nil {
			return nil, err
		}
	}
	if ch.ClockPeriod == 0 {
		ch.ClockPeriod = 1
	}
	if ch.MinDuration == 0 {
		ch.MinDuration = 1
	}
	ch.PropagationDir = [3]float64{0, 1, 0}
	if pd, ok := n.opt("propagation_dir"); ok && !pd.isNull() {
		items, err := pd.arr()
		if err != nil {
			return nil, err
		}
		if len(items) != 3 {
			return nil, errAt(pd.path, "must have 3 components, got %d", len(items))
		}
		norm := 0.0
		for i, it := range items {
			if ch.PropagationDir[i], err = it.num(); err != nil {
				return nil, err
			}
			norm += ch.PropagationDir[i] * ch.PropagationDir[i]
		}
		if norm == 0 {
			return nil, errAt(pd.path, "must not be the zero vector")
		}
	}
	if ch.ModBandwidth, _, err = n.optNum("mod_bandwidth", 0); err != nil {
		return nil, err
	}
	if ch.ModBandwidth != 0 && (ch.ModBandwidth < 0.1 || ch.ModBandwidth > 480) {
		return nil, errAt(n.path+".mod_bandwidth", "must be null or between 0.1 and 480 MHz")
	}
	return ch, nil
}

func parseNoise(n node) (*Noise, error) {
	types, err := n.get("noise_types")
	if err != nil {
		return nil, err
	}
	items, err := types.arr()
	if err != nil {
		return nil, err
	}
	spam := false
	for _, it := range items {
		if s, _ := it.str(); s == "SPAM" {
			spam = true
		}
	}
	if !spam {
		return nil, nil
	}
	nz := &Noise{}
	for key, dst := range map[string]*float64{
		"state_prep_error": &nz.StatePrepError,
		"p_false_pos":      &nz.FalsePositive,
		"p_false_neg":      &nz.FalseNegative,
	} {
		if *dst, _, err = n.optNum(key, 0); err != nil {
			return nil, err
		}
		if *dst < 0 || *dst > 1 {
			return nil, errAt(n.path+"."+key, "must be a probability")
		}
	}
	return nz, nil
}
