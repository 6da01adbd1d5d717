package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// NoiseModel is Pulser's NoiseModel in its abstract representation
// (noise-schema.json of Pulser 1.9; field names and units are Pulser's).
// A parameter only takes effect when its noise type is listed in
// NoiseTypes, as in Pulser's deserializer; Validate refuses a non-zero
// parameter whose type is not listed. NOISE.md describes each type.
type NoiseModel struct {
	NoiseTypes []string `json:"noise_types"`

	// Deprecated in Pulser (EmulationConfig.n_trajectories replaces runs);
	// used as the number of trajectories only when the request sets none.
	Runs          *float64 `json:"runs"`
	SamplesPerRun *float64 `json:"samples_per_run"`

	// SPAM: probabilities.
	StatePrepError float64 `json:"state_prep_error"`
	PFalsePos      float64 `json:"p_false_pos"`
	PFalseNeg      float64 `json:"p_false_neg"`

	// doppler (and register): atom temperature in µK.
	Temperature float64 `json:"temperature"`

	// amplitude: Gaussian beam waist of global channels in µm (nil: none)
	// and the relative standard deviation of each channel's amplitude.
	LaserWaist *float64 `json:"laser_waist"`
	AmpSigma   float64  `json:"amp_sigma"`

	// detuning: per-channel constant offset σ in rad/µs, and the
	// high-frequency part as (one-sided PSD, angular frequency) pairs.
	DetuningSigma float64      `json:"detuning_sigma,omitempty"`
	DetuningHF    [][2]float64 `json:"detuning_hf,omitempty"`

	// Lindblad rates in 1/µs.
	RelaxationRate         float64    `json:"relaxation_rate"`
	DephasingRate          float64    `json:"dephasing_rate"`
	HyperfineDephasingRate float64    `json:"hyperfine_dephasing_rate"`
	DepolarizingRate       float64    `json:"depolarizing_rate"`
	EffNoise               []EffNoise `json:"eff_noise"`

	// register: trap waist in µm and trap depth in µK.
	TrapWaist float64  `json:"trap_waist,omitempty"`
	TrapDepth *float64 `json:"trap_depth,omitempty"`

	// dmm_sigma / dmm_crosstalk: only act on DMM channels.
	DMMSigma             float64  `json:"dmm_sigma,omitempty"`
	DetuningMapSpotWaist *float64 `json:"detuning_map_spot_waist,omitempty"`

	PulserVersion string `json:"pulser_version,omitempty"`
}

// EffNoise is one effective Lindblad channel: rate (1/µs) and operator,
// a square matrix in Pulser's eigenbasis order (|r⟩ first, then |g⟩, so
// Operator[0][1] = ⟨r|L|g⟩). Its JSON form is [rate, matrix], each entry a
// number or {"real": x, "imag": y}.
type EffNoise struct {
	Rate     float64
	Operator [][]complex128
}

// Noise types of noise-schema.json.
const (
	NoiseDoppler      = "doppler"
	NoiseRegister     = "register"
	NoiseAmplitude    = "amplitude"
	NoiseSPAM         = "SPAM"
	NoiseRelaxation   = "relaxation"
	NoiseDephasing    = "dephasing"
	NoiseDepolarizing = "depolarizing"
	NoiseLeakage      = "leakage"
	NoiseEff          = "eff_noise"
	NoiseDetuning     = "detuning"
	NoiseDMMSigma     = "dmm_sigma"
	NoiseDMMCrosstalk = "dmm_crosstalk"
)

var noiseTypes = []string{NoiseDoppler, NoiseRegister, NoiseAmplitude, NoiseSPAM, NoiseRelaxation,
	NoiseDephasing, NoiseDepolarizing, NoiseLeakage, NoiseEff, NoiseDetuning, NoiseDMMSigma, NoiseDMMCrosstalk}

// Has reports whether noise type t is listed.
func (m *NoiseModel) Has(t string) bool {
	if m == nil {
		return false
	}
	for _, x := range m.NoiseTypes {
		if x == t {
			return true
		}
	}
	return false
}

// JumpOperators lists Pulser's collapse operators of the model's Lindblad
// noise types for the ground-rydberg basis (hamiltonian_data.py,
// _build_local_collapse_operators), each the same on every atom, as 2×2
// matrices with index 0 = |g⟩ and 1 = |r⟩.
func (m *NoiseModel) JumpOperators() [][2][2]complex128 {
	var ops [][2][2]complex128
	if m.Has(NoiseDephasing) && m.DephasingRate > 0 {
		// √(2γ)·|r⟩⟨r|; the hyperfine rate acts on |h⟩, absent here.
		ops = append(ops, [2][2]complex128{{0, 0}, {0, complex(math.Sqrt(2*m.DephasingRate), 0)}})
	}
	if m.Has(NoiseRelaxation) && m.RelaxationRate > 0 {
		// √γ·|g⟩⟨r|
		ops = append(ops, [2][2]complex128{{0, complex(math.Sqrt(m.RelaxationRate), 0)}, {0, 0}})
	}
	if m.Has(NoiseDepolarizing) && m.DepolarizingRate > 0 {
		c := complex(math.Sqrt(m.DepolarizingRate/4), 0)
		ops = append(ops,
			[2][2]complex128{{0, c}, {c, 0}},
			[2][2]complex128{{0, -1i * c}, {1i * c, 0}},
			[2][2]complex128{{-c, 0}, {0, c}})
	}
	if m.Has(NoiseEff) {
		for _, en := range m.EffNoise {
			if en.Rate == 0 {
				continue
			}
			c := complex(math.Sqrt(en.Rate), 0)
			var op [2][2]complex128
			// Pulser's order is (|r⟩, |g⟩): swap both indices.
			for i := 0; i < 2; i++ {
				for j := 0; j < 2; j++ {
					op[i][j] = c * en.Operator[1-i][1-j]
				}
			}
			ops = append(ops, op)
		}
	}
	return ops
}

func noiseErr(field, format string, a ...any) error {
	return &InputError{Path: "noise_model." + field, Msg: fmt.Sprintf(format, a...)}
}

// Validate applies Pulser's NoiseModel rules; the error is an *InputError
// whose Path names the field ("noise_model.<field>").
func (m *NoiseModel) Validate() error {
	seen := map[string]bool{}
	for i, t := range m.NoiseTypes {
		ok := false
		for _, k := range noiseTypes {
			ok = ok || k == t
		}
		if !ok {
			return noiseErr(fmt.Sprintf("noise_types[%d]", i), "unknown noise type %q (known: %s)", t, strings.Join(noiseTypes, ", "))
		}
		if seen[t] {
			return noiseErr(fmt.Sprintf("noise_types[%d]", i), "noise type %q is listed twice", t)
		}
		seen[t] = true
	}
	finite := []struct {
		name string
		v    float64
	}{
		{"state_prep_error", m.StatePrepError}, {"p_false_pos", m.PFalsePos}, {"p_false_neg", m.PFalseNeg},
		{"amp_sigma", m.AmpSigma}, {"dmm_sigma", m.DMMSigma},
		{"temperature", m.Temperature}, {"detuning_sigma", m.DetuningSigma}, {"trap_waist", m.TrapWaist},
		{"relaxation_rate", m.RelaxationRate}, {"dephasing_rate", m.DephasingRate},
		{"hyperfine_dephasing_rate", m.HyperfineDephasingRate}, {"depolarizing_rate", m.DepolarizingRate},
	}
	for i, f := range finite {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return noiseErr(f.name, "must be a finite number, got %v", f.v)
		}
		if f.v < 0 {
			return noiseErr(f.name, "must be greater than or equal to zero, got %v", f.v)
		}
		if i < 5 && f.v > 1 {
			return noiseErr(f.name, "must be a probability between 0 and 1, got %v", f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    *float64
	}{{"runs", m.Runs}, {"samples_per_run", m.SamplesPerRun}, {"laser_waist", m.LaserWaist},
		{"trap_depth", m.TrapDepth}, {"detuning_map_spot_waist", m.DetuningMapSpotWaist}} {
		if f.v != nil && !(*f.v > 0 && !math.IsInf(*f.v, 0)) {
			return noiseErr(f.name, "must be null or greater than zero, got %v", *f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    *float64
	}{{"runs", m.Runs}, {"samples_per_run", m.SamplesPerRun}} {
		if f.v != nil && *f.v != math.Trunc(*f.v) {
			return noiseErr(f.name, "must be an integer, got %v", *f.v)
		}
	}
	if err := m.validateHF(); err != nil {
		return err
	}
	for i, e := range m.EffNoise {
		field := fmt.Sprintf("eff_noise[%d]", i)
		if math.IsNaN(e.Rate) || math.IsInf(e.Rate, 0) || e.Rate < 0 {
			return noiseErr(field, "rate must be a finite number greater than or equal to zero, got %v", e.Rate)
		}
		dim := 2
		if seen[NoiseLeakage] {
			dim = 3
		}
		if len(e.Operator) != dim {
			return noiseErr(field, "operator must be a %d×%d matrix, got %d rows", dim, dim, len(e.Operator))
		}
		for r, row := range e.Operator {
			if len(row) != dim {
				return noiseErr(field, "operator must be a %d×%d matrix, row %d has %d entries", dim, dim, r, len(row))
			}
			for _, c := range row {
				if math.IsNaN(real(c)) || math.IsNaN(imag(c)) || math.IsInf(real(c), 0) || math.IsInf(imag(c), 0) {
					return noiseErr(field, "operator entries must be finite")
				}
			}
		}
	}
	// Each listed type needs a non-zero parameter, and each non-zero
	// parameter its listed type, as Pulser derives noise_types from the
	// non-zero parameters.
	params := []struct {
		typ, name string
		set       bool
	}{
		{NoiseSPAM, "state_prep_error", m.StatePrepError != 0},
		{NoiseSPAM, "p_false_pos", m.PFalsePos != 0},
		{NoiseSPAM, "p_false_neg", m.PFalseNeg != 0},
		{NoiseAmplitude, "laser_waist", m.LaserWaist != nil},
		{NoiseAmplitude, "amp_sigma", m.AmpSigma != 0},
		{NoiseDetuning, "detuning_sigma", m.DetuningSigma != 0},
		{NoiseDetuning, "detuning_hf", len(m.DetuningHF) > 0},
		{NoiseRelaxation, "relaxation_rate", m.RelaxationRate != 0},
		{NoiseDephasing, "dephasing_rate", m.DephasingRate != 0},
		{NoiseDephasing, "hyperfine_dephasing_rate", m.HyperfineDephasingRate != 0},
		{NoiseDepolarizing, "depolarizing_rate", m.DepolarizingRate != 0},
		{NoiseEff, "eff_noise", len(m.EffNoise) > 0},
		{NoiseRegister, "trap_waist", m.TrapWaist != 0},
		{NoiseRegister, "trap_depth", m.TrapDepth != nil},
		{NoiseDMMSigma, "dmm_sigma", m.DMMSigma != 0},
		{NoiseDMMCrosstalk, "detuning_map_spot_waist", m.DetuningMapSpotWaist != nil},
	}
	has := map[string]bool{}
	for _, p := range params {
		if p.set && !seen[p.typ] {
			return noiseErr(p.name, "is set but noise type %q is not in noise_types", p.typ)
		}
		has[p.typ] = has[p.typ] || p.set
	}
	// temperature drives doppler, and register noise (with doppler
	// disabled when "doppler" is not listed).
	if m.Temperature != 0 && !seen[NoiseDoppler] && !seen[NoiseRegister] {
		return noiseErr("temperature", "is set but neither \"doppler\" nor \"register\" is in noise_types")
	}
	has[NoiseDoppler] = m.Temperature != 0
	has[NoiseLeakage] = seen[NoiseLeakage]
	for i, t := range m.NoiseTypes {
		if !has[t] {
			return noiseErr(fmt.Sprintf("noise_types[%d]", i), "noise type %q is listed but none of its parameters is set", t)
		}
	}
	if seen[NoiseLeakage] && !seen[NoiseEff] {
		return noiseErr("noise_types", "\"leakage\" needs at least one eff_noise operator")
	}
	if seen[NoiseRegister] && (m.TrapWaist == 0 || m.TrapDepth == nil || m.Temperature == 0) {
		return noiseErr("trap_waist", "register noise needs trap_waist, trap_depth and temperature")
	}
	return nil
}

func (m *NoiseModel) validateHF() error {
	if len(m.DetuningHF) == 0 {
		return nil
	}
	if len(m.DetuningHF) < 2 {
		return noiseErr("detuning_hf", "needs at least two (psd, omega) pairs, got %d", len(m.DetuningHF))
	}
	for i, p := range m.DetuningHF {
		if !(p[0] > 0 && p[1] > 0) || math.IsInf(p[0], 0) || math.IsInf(p[1], 0) {
			return noiseErr(fmt.Sprintf("detuning_hf[%d]", i), "psd and omega must be finite and greater than zero, got %v", p)
		}
		if i > 0 && p[1] < m.DetuningHF[i-1][1] {
			return noiseErr(fmt.Sprintf("detuning_hf[%d]", i), "omegas must be non-decreasing")
		}
	}
	return nil
}

type jsonComplex struct {
	Real float64 `json:"real"`
	Imag float64 `json:"imag"`
}

// UnmarshalJSON reads [rate, matrix].
func (e *EffNoise) UnmarshalJSON(b []byte) error {
	var pair []json.RawMessage
	if err := json.Unmarshal(b, &pair); err != nil {
		return fmt.Errorf("eff_noise entry must be [rate, operator]: %w", err)
	}
	if len(pair) != 2 {
		return fmt.Errorf("eff_noise entry must be [rate, operator], got %d items", len(pair))
	}
	if err := json.Unmarshal(pair[0], &e.Rate); err != nil {
		return fmt.Errorf("eff_noise rate: %w", err)
	}
	var rows [][]json.RawMessage
	if err := json.Unmarshal(pair[1], &rows); err != nil {
		return fmt.Errorf("eff_noise operator must be a matrix: %w", err)
	}
	e.Operator = make([][]complex128, len(rows))
	for i, row := range rows {
		e.Operator[i] = make([]complex128, len(row))
		for j, raw := range row {
			raw = bytes.TrimSpace(raw)
			if len(raw) > 0 && raw[0] == '{' {
				var c jsonComplex
				dec := json.NewDecoder(bytes.NewReader(raw))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&c); err != nil {
					return fmt.Errorf("eff_noise operator entry [%d][%d]: %w", i, j, err)
				}
				e.Operator[i][j] = complex(c.Real, c.Imag)
				continue
			}
			var x float64
			if err := json.Unmarshal(raw, &x); err != nil {
				return fmt.Errorf("eff_noise operator entry [%d][%d] must be a number or {real, imag}: %w", i, j, err)
			}
			e.Operator[i][j] = complex(x, 0)
		}
	}
	return nil
}

// MarshalJSON writes [rate, matrix] with {real, imag} entries.
func (e EffNoise) MarshalJSON() ([]byte, error) {
	rows := make([][]jsonComplex, len(e.Operator))
	for i, row := range e.Operator {
		rows[i] = make([]jsonComplex, len(row))
		for j, c := range row {
			rows[i][j] = jsonComplex{real(c), imag(c)}
		}
	}
	return json.Marshal([]any{e.Rate, rows})
}
