// Package emulationconfig parses a batch's backend_configuration: Pulser's
// EmulationConfig in its abstract representation (EmulationConfig
// .to_abstract_repr(), what pasqal-cloud's remote backends send). It is
// validated against Pulser 1.9's published schemas (schemas/, Apache-2.0,
// see schemas/NOTICE), then checked for what Tweezer's engines honour;
// anything they cannot honour is refused with a FieldError naming the
// field, never ignored. Both the facade (422 at batch creation) and the
// runner (job ERROR for batches created with kubectl) call Parse.
package emulationconfig

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed schemas/*.json
var schemaFS embed.FS

// Observable kinds: Pulser's base tags (default_observables.py).
const (
	BitStrings         = "bitstrings"
	Occupation         = "occupation"
	CorrelationMatrix  = "correlation_matrix"
	Energy             = "energy"
	EnergyVariance     = "energy_variance"
	EnergySecondMoment = "energy_second_moment"
	Expectation        = "expectation"
	Fidelity           = "fidelity"
	StateResult        = "state"
)

// Config is a parsed EmulationConfig.
type Config struct {
	Observables []Observable
	// DefaultTimes are the default relative evaluation times; nil with
	// FullDefault means "Full" (every ns of the sequence).
	DefaultTimes []float64
	FullDefault  bool
	// InitialState is the state the evolution starts from; nil: all ground.
	InitialState *State
	// InteractionMatrix, when set, replaces C6/r⁶ between atoms i and j
	// (rad/µs), in register order.
	InteractionMatrix [][]float64
	// NoiseModel is the noise_model object as sent (noise-schema.json).
	NoiseModel json.RawMessage
	// PreferDeviceNoiseModel asks for the device's default noise model.
	PreferDeviceNoiseModel bool
	// NTrajectories and DefaultNumShots are 0 when not given.
	NTrajectories   int
	DefaultNumShots int
}

// Observable is one entry of observables.
type Observable struct {
	Kind string
	// Times are the observable's relative evaluation times; nil: the default.
	Times       []float64
	TagSuffix   *string
	UUID        string
	Aggregation *int
	// BitStrings: NumShots (0: default_num_shots, else the job's runs).
	NumShots int
	// BitStrings, Occupation, CorrelationMatrix: the eigenstate read as 1
	// ("" : the basis's own, r in ground-rydberg).
	OneState string
	Operator *Operator // Expectation
	State    *State    // Fidelity
}

// Tag is Pulser's tag of the observable.
func (o Observable) Tag() string {
	if o.TagSuffix == nil {
		return o.Kind
	}
	return o.Kind + "_" + *o.TagSuffix
}

// State is a state abstract repr: amplitudes of basis states spelled with eigenstates.
type State struct {
	Eigenstates []string
	Amplitudes  map[string]complex128
}

// Operator is an operator abstract repr: Σ coeff · ⊗ factors.
type Operator struct {
	Eigenstates []string
	NQudits     int
	Terms       []Term
}

// Term is a weighted tensor product.
type Term struct {
	Coeff   complex128
	Factors []Factor
}

// Factor is a one-qudit operator (matrix elements keyed "ab" = |a⟩⟨b|)
// applied to each of Targets.
type Factor struct {
	Elements map[string]complex128
	Targets  []int
}

// FieldError is a configuration refused: Field is the path within the
// configuration ("" for the whole).
type FieldError struct {
	Field string
	Msg   string
}

// Path is the field's full path, rooted at backend_configuration.
func (e *FieldError) Path() string {
	if e.Field == "" {
		return "backend_configuration"
	}
	if strings.HasPrefix(e.Field, "[") {
		return "backend_configuration" + e.Field
	}
	return "backend_configuration." + e.Field
}

func (e *FieldError) Error() string { return e.Path() + ": " + e.Msg }

func fieldErr(field, format string, a ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// Limits of what the engines accept.
const (
	// MaxEvaluationTimes bounds the distinct evaluation times of a config
	// ("Full" counts one per ns of the sequence, checked at run time).
	MaxEvaluationTimes = 10_000
	// MaxStateAmplitudes caps the size of StateResult values: 2^n
	// amplitudes per evaluation time of an n-atom register, summed over
	// every StateResult's evaluation times (one 12-atom state, or 16
	// states of 8 atoms). At about 85 bytes an amplitude in
	// serialised_results, that keeps them under 350 kB of the 1 MiB a
	// job's result ConfigMap holds.
	MaxStateAmplitudes = 1 << 12
	// MaxNumShots bounds BitStrings.num_shots and default_num_shots.
	MaxNumShots = 10_000_000
	// MaxTrajectories bounds n_trajectories.
	MaxTrajectories = 10_000
)

// ignoredKeys are options of Pulser's EmulationConfig subclasses that tune
// an emulator's numerics (time step, Krylov and bond-dimension tolerances,
// interaction cutoff, GPUs, logging; one_site_after_saturation is the MPS
// engine's own). The MPS engine reads its own
// (runners/mps ParseConfig); the state-vector engine has its own error
// control (runners/emulator/propagate.go), so they change nothing there. They
// are accepted; every other key not in config-schema.json is refused.
var ignoredKeys = map[string]bool{
	"dt": true, "precision": true, "max_krylov_dim": true, "krylov_tolerance": true,
	"extra_krylov_tolerance": true, "max_bond_dim": true, "gpu": true, "num_gpus_to_use": true,
	"optimize_qubit_ordering": true, "interaction_cutoff": true, "log_level": true, "log_file": true, "progress_bar": true,
	"print_progress": true, "solver": true, "autosave_prefix": true, "autosave_dt": true,
	"pulser_version": true, "one_site_after_saturation": true,
}

// IsEmulationConfig reports whether a backend_configuration is an
// EmulationConfig (a JSON object with any of its keys) rather than empty
// or a legacy value that Tweezer stores and does not read.
func IsEmulationConfig(raw string) bool {
	raw = strings.TrimSpace(raw)
	if raw == "" || raw[0] != '{' {
		return false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(raw), &m) != nil {
		return true // malformed: Parse says why
	}
	for _, k := range []string{"observables", "default_evaluation_times", "noise_model", "initial_state",
		"with_modulation", "interaction_matrix", "prefer_device_noise_model", "n_trajectories", "default_num_shots"} {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

// Parse parses and validates a backend_configuration. It returns nil, nil
// for a missing or legacy configuration (IsEmulationConfig false): the
// engines then keep their plain behaviour. Errors are *FieldError.
func Parse(raw string) (*Config, error) {
	if !IsEmulationConfig(raw) {
		return nil, nil
	}
	if err := validateConfig([]byte(raw)); err != nil {
		return nil, err
	}
	var in struct {
		Observables            []json.RawMessage   `json:"observables"`
		DefaultEvaluationTimes json.RawMessage     `json:"default_evaluation_times"`
		InitialState           *rawState           `json:"initial_state"`
		WithModulation         bool                `json:"with_modulation"`
		InteractionMatrix      [][]json.RawMessage `json:"interaction_matrix"`
		PreferDeviceNoiseModel bool                `json:"prefer_device_noise_model"`
		NoiseModel             json.RawMessage     `json:"noise_model"`
		NTrajectories          *int                `json:"n_trajectories"`
		DefaultNumShots        *int                `json:"default_num_shots"`
	}
	if err := json.Unmarshal([]byte(raw), &in); err != nil {
		return nil, fieldErr("", "%v", err)
	}
	var keys map[string]json.RawMessage
	_ = json.Unmarshal([]byte(raw), &keys)
	if cb, ok := keys["callbacks"]; ok && strings.TrimSpace(string(cb)) != "[]" && strings.TrimSpace(string(cb)) != "null" {
		return nil, fieldErr("callbacks", "callbacks run Python code and cannot be run remotely; use observables")
	}
	known := map[string]bool{"callbacks": true, "observables": true, "default_evaluation_times": true, "initial_state": true,
		"with_modulation": true, "interaction_matrix": true, "prefer_device_noise_model": true,
		"noise_model": true, "n_trajectories": true, "default_num_shots": true}
	var unknown []string
	for k := range keys {
		if !known[k] && !ignoredKeys[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fieldErr(unknown[0], "is not an option Tweezer's emulators know (EmulationConfig options and the numerical tolerances of other emulators are)")
	}
	cfg := &Config{NoiseModel: in.NoiseModel, PreferDeviceNoiseModel: in.PreferDeviceNoiseModel}
	if in.WithModulation {
		return nil, fieldErr("with_modulation", "hardware modulation is not emulated by Tweezer; set it to false")
	}
	if err := checkNoise(in.NoiseModel); err != nil {
		return nil, err
	}
	if in.NTrajectories != nil {
		if *in.NTrajectories < 1 || *in.NTrajectories > MaxTrajectories {
			return nil, fieldErr("n_trajectories", "must be between 1 and %d, got %d", MaxTrajectories, *in.NTrajectories)
		}
		cfg.NTrajectories = *in.NTrajectories
	}
	if in.DefaultNumShots != nil {
		if *in.DefaultNumShots < 1 || *in.DefaultNumShots > MaxNumShots {
			return nil, fieldErr("default_num_shots", "must be between 1 and %d, got %d", MaxNumShots, *in.DefaultNumShots)
		}
		cfg.DefaultNumShots = *in.DefaultNumShots
	}
	if bytes.Equal(bytes.TrimSpace(in.DefaultEvaluationTimes), []byte(`"Full"`)) {
		cfg.FullDefault = true
	} else {
		if err := json.Unmarshal(in.DefaultEvaluationTimes, &cfg.DefaultTimes); err != nil {
			return nil, fieldErr("default_evaluation_times", "%v", err)
		}
		if err := checkTimes("default_evaluation_times", cfg.DefaultTimes); err != nil {
			return nil, err
		}
	}
	if in.InitialState != nil {
		st, err := in.InitialState.parse("initial_state")
		if err != nil {
			return nil, err
		}
		cfg.InitialState = st
	}
	if in.InteractionMatrix != nil {
		m, err := interactionMatrix(in.InteractionMatrix)
		if err != nil {
			return nil, err
		}
		cfg.InteractionMatrix = m
	}
	if len(in.Observables) == 0 {
		return nil, fieldErr("observables", "must list at least one observable")
	}
	tags := map[string]bool{}
	uuids := map[string]bool{}
	for i, o := range in.Observables {
		obs, err := parseObservable(fmt.Sprintf("observables[%d]", i), o)
		if err != nil {
			return nil, err
		}
		if tags[obs.Tag()] {
			return nil, fieldErr(fmt.Sprintf("observables[%d].tag_suffix", i), "tag %q is used twice; give one of them a tag_suffix", obs.Tag())
		}
		tags[obs.Tag()] = true
		if obs.UUID != "" {
			if uuids[obs.UUID] {
				return nil, fieldErr(fmt.Sprintf("observables[%d].uuid", i), "uuid %q is used twice", obs.UUID)
			}
			uuids[obs.UUID] = true
		}
		cfg.Observables = append(cfg.Observables, obs)
	}
	if i := cfg.stateIndex(); i >= 0 {
		trajectories := cfg.NTrajectories
		stochastic, runs := stochasticNoise(cfg.NoiseModel)
		if trajectories == 0 {
			trajectories = runs
		}
		if stochastic && trajectories > 1 {
			return nil, fieldErr(fmt.Sprintf("observables[%d]", i), "a StateResult is one pure state, and %d noise trajectories make %d different states that Pulser does not aggregate (SKIP_WARN): ask for it with n_trajectories 1 or without noise", trajectories, trajectories)
		}
	}
	if n := cfg.distinctTimes(); n > MaxEvaluationTimes {
		return nil, fieldErr("observables", "asks for %d distinct evaluation times, more than %d", n, MaxEvaluationTimes)
	}
	return cfg, nil
}

// validateConfig validates a configuration against Pulser 1.9's config
// schema, except its StateResult observables, which that schema lacks
// (Pulser refuses to serialise StateResult for remote backends): each is
// validated against Tweezer's own schema
// (schemas/tweezer-state-observable.json), then stands in for Pulser's
// schema as an Occupation with the same times, tag and uuid, so that
// every other error keeps its index.
func validateConfig(raw []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return fieldErr("", "is not valid JSON: %v", err)
	}
	if m, ok := inst.(map[string]any); ok {
		obs, _ := m["observables"].([]any)
		for i, o := range obs {
			om, ok := o.(map[string]any)
			if !ok || om["observable"] != StateResult {
				continue
			}
			if err := validateValue(stateSchema, om, fmt.Sprintf("observables[%d]", i), "Tweezer's StateResult schema"); err != nil {
				return err
			}
			stand := map[string]any{"observable": Occupation, "evaluation_times": om["evaluation_times"], "one_state": nil, "tag_suffix": om["tag_suffix"]}
			for _, k := range []string{"uuid", "default_aggregation_method"} {
				if v, ok := om[k]; ok {
					stand[k] = v
				}
			}
			obs[i] = stand
		}
	}
	return validateValue(configSchema, inst, "", "Pulser 1.9's schema")
}

// CheckAtoms refuses what a register of atoms atoms cannot honour before
// it runs: StateResult values beyond MaxStateAmplitudes ("Full" default
// times are counted at run time, when the duration is known).
func (c *Config) CheckAtoms(atoms int) error {
	if atoms < 1 || atoms > 62 {
		return nil
	}
	total := 0
	for i, o := range c.Observables {
		if o.Kind != StateResult {
			continue
		}
		times := o.Times
		if times == nil {
			times = c.DefaultTimes
		}
		total += len(times) << atoms
		if total > MaxStateAmplitudes {
			return fieldErr(fmt.Sprintf("observables[%d]", i), "StateResult values hold 2^%d amplitudes per evaluation time; %d in all is more than the cap of %d (ask for fewer evaluation times or a smaller register)", atoms, total, MaxStateAmplitudes)
		}
	}
	return nil
}

// RegisterSize is the number of atoms of a sequence abstract repr's
// register, 0 when it cannot be read (the engine then says why).
func RegisterSize(sequence string) int {
	var seq struct {
		Register []json.RawMessage `json:"register"`
	}
	if json.Unmarshal([]byte(sequence), &seq) != nil {
		return 0
	}
	return len(seq.Register)
}

// stochasticNoise reports whether a noise model abstract repr draws
// something per trajectory (Pulser's shot-to-shot noise, SPAM's state
// preparation, or Lindblad jumps), and its deprecated runs.
func stochasticNoise(raw json.RawMessage) (bool, int) {
	var nm struct {
		NoiseTypes     []string `json:"noise_types"`
		StatePrepError float64  `json:"state_prep_error"`
		AmpSigma       float64  `json:"amp_sigma"`
		Runs           *int     `json:"runs"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &nm) != nil {
		return false, 0
	}
	runs := 0
	if nm.Runs != nil {
		runs = *nm.Runs
	}
	for _, t := range nm.NoiseTypes {
		switch t {
		case "doppler", "detuning", "register", "dephasing", "relaxation", "depolarizing", "eff_noise":
			return true, runs
		case "amplitude":
			if nm.AmpSigma != 0 {
				return true, runs
			}
		case "SPAM":
			if nm.StatePrepError != 0 {
				return true, runs
			}
		}
	}
	return false, runs
}

// CheckTensorNetwork refuses, naming the observable, what the MPS engine
// (EMU_MPS, EMU_TN) does not compute: a StateResult, the full state of a
// register that tensor networks exist to avoid writing out.
func (c *Config) CheckTensorNetwork() error {
	if c == nil {
		return nil
	}
	if i := c.stateIndex(); i >= 0 {
		return fieldErr(fmt.Sprintf("observables[%d]", i), "EMU_MPS and EMU_TN do not compute a StateResult; ask EMU_SV for the state, or leave it out")
	}
	return nil
}

// stateIndex is the index of the first StateResult observable, or -1.
func (c *Config) stateIndex() int {
	for i, o := range c.Observables {
		if o.Kind == StateResult {
			return i
		}
	}
	return -1
}

// distinctTimes counts the distinct explicit evaluation times.
func (c *Config) distinctTimes() int {
	set := map[float64]bool{}
	for _, t := range c.DefaultTimes {
		set[t] = true
	}
	for _, o := range c.Observables {
		for _, t := range o.Times {
			set[t] = true
		}
	}
	return len(set)
}

// checkNoise refuses what no Tweezer engine emulates: leakage (a third
// level), and DMM noise (no DMM channel is emulated). The engine checks
// the rest of the model's values.
func checkNoise(raw json.RawMessage) error {
	var nm struct {
		NoiseTypes []string `json:"noise_types"`
	}
	if err := json.Unmarshal(raw, &nm); err != nil {
		return fieldErr("noise_model", "%v", err)
	}
	for i, t := range nm.NoiseTypes {
		switch t {
		case "leakage":
			return fieldErr(fmt.Sprintf("noise_model.noise_types[%d]", i), "leakage is not emulated by Tweezer (ground-rydberg basis only)")
		case "dmm_sigma", "dmm_crosstalk":
			return fieldErr(fmt.Sprintf("noise_model.noise_types[%d]", i), "%s is not emulated by Tweezer (no DMM channel)", t)
		}
	}
	return nil
}

func checkTimes(field string, ts []float64) error {
	for i, t := range ts {
		if t < 0 || t > 1 || math.IsNaN(t) {
			return fieldErr(field, "times are relative, between 0 and 1; got %v", t)
		}
		if i > 0 && t <= ts[i-1] {
			return fieldErr(field, "times must be unique and ascending; got %v after %v", t, ts[i-1])
		}
	}
	return nil
}

func interactionMatrix(rows [][]json.RawMessage) ([][]float64, error) {
	n := len(rows)
	m := make([][]float64, n)
	for i, row := range rows {
		if len(row) != n {
			return nil, fieldErr(fmt.Sprintf("interaction_matrix[%d]", i), "must be square: row has %d entries, matrix %d rows", len(row), n)
		}
		m[i] = make([]float64, n)
		for j, v := range row {
			if err := json.Unmarshal(v, &m[i][j]); err != nil {
				return nil, fieldErr(fmt.Sprintf("interaction_matrix[%d][%d]", i, j), "must be a real number")
			}
		}
	}
	for i := range m {
		for j := range m {
			if m[i][j] != m[j][i] {
				return nil, fieldErr(fmt.Sprintf("interaction_matrix[%d][%d]", i, j), "must be symmetric: %v ≠ %v", m[i][j], m[j][i])
			}
		}
	}
	return m, nil
}

type rawState struct {
	Eigenstates []string                   `json:"eigenstates"`
	Amplitudes  map[string]json.RawMessage `json:"amplitudes"`
}

func (r *rawState) parse(field string) (*State, error) {
	basis, err := qubitBasis(field+".eigenstates", r.Eigenstates)
	if err != nil {
		return nil, err
	}
	st := &State{Eigenstates: r.Eigenstates, Amplitudes: map[string]complex128{}}
	n := -1
	for k, v := range r.Amplitudes {
		if n >= 0 && len(k) != n {
			return nil, fieldErr(field+".amplitudes", "basis states have different lengths (%q)", k)
		}
		n = len(k)
		for _, c := range k {
			if !strings.ContainsRune(basis, c) {
				return nil, fieldErr(field+".amplitudes", "basis state %q uses an eigenstate not in %v", k, r.Eigenstates)
			}
		}
		c, err := complexOf(v)
		if err != nil {
			return nil, fieldErr(field+".amplitudes."+k, "%v", err)
		}
		st.Amplitudes[k] = c
	}
	if n < 1 {
		return nil, fieldErr(field+".amplitudes", "must have at least one basis state")
	}
	return st, nil
}

// qubitBasis checks a two-level eigenbasis the engines emulate and returns its letters.
func qubitBasis(field string, eig []string) (string, error) {
	s := strings.Join(eig, "")
	switch s {
	case "rg", "gr", "01", "10":
		return s, nil
	}
	return "", fieldErr(field, "Tweezer emulates the ground-rydberg basis: eigenstates must be [r, g] (or [1, 0]), got %v", eig)
}

// complexOf reads a number or {"real": x, "imag": y}.
func complexOf(raw json.RawMessage) (complex128, error) {
	var f float64
	if json.Unmarshal(raw, &f) == nil {
		return complex(f, 0), nil
	}
	var c struct {
		Real float64 `json:"real"`
		Imag float64 `json:"imag"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return 0, errors.New("must be a number or {\"real\": x, \"imag\": y}")
	}
	return complex(c.Real, c.Imag), nil
}

func parseObservable(field string, raw json.RawMessage) (Observable, error) {
	var in struct {
		Observable  string          `json:"observable"`
		Times       []float64       `json:"evaluation_times"`
		TagSuffix   *string         `json:"tag_suffix"`
		UUID        string          `json:"uuid"`
		Aggregation *int            `json:"default_aggregation_method"`
		NumShots    *int            `json:"num_shots"`
		OneState    *string         `json:"one_state"`
		Operator    json.RawMessage `json:"operator"`
		State       *rawState       `json:"state"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return Observable{}, fieldErr(field, "%v", err)
	}
	o := Observable{Kind: in.Observable, Times: in.Times, TagSuffix: in.TagSuffix, UUID: in.UUID, Aggregation: in.Aggregation}
	if err := checkTimes(field+".evaluation_times", in.Times); err != nil {
		return o, err
	}
	if in.OneState != nil {
		switch *in.OneState {
		case "r", "1":
			o.OneState = *in.OneState
		default:
			return o, fieldErr(field+".one_state", "Tweezer measures the Rydberg state as 1: one_state must be \"r\" (or \"1\") or null, got %q", *in.OneState)
		}
	}
	if in.NumShots != nil {
		if *in.NumShots < 1 || *in.NumShots > MaxNumShots {
			return o, fieldErr(field+".num_shots", "must be between 1 and %d, got %d", MaxNumShots, *in.NumShots)
		}
		o.NumShots = *in.NumShots
	}
	switch o.Kind {
	case Expectation:
		op, err := parseOperator(field+".operator", in.Operator)
		if err != nil {
			return o, err
		}
		o.Operator = op
	case Fidelity:
		st, err := in.State.parse(field + ".state")
		if err != nil {
			return o, err
		}
		o.State = st
	}
	return o, nil
}

func parseOperator(field string, raw json.RawMessage) (*Operator, error) {
	var in struct {
		Eigenstates []string            `json:"eigenstates"`
		NQudits     int                 `json:"n_qudits"`
		Operations  [][]json.RawMessage `json:"operations"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, fieldErr(field, "%v", err)
	}
	basis, err := qubitBasis(field+".eigenstates", in.Eigenstates)
	if err != nil {
		return nil, err
	}
	op := &Operator{Eigenstates: in.Eigenstates, NQudits: in.NQudits}
	for i, t := range in.Operations {
		tf := field + ".operations[" + strconv.Itoa(i) + "]"
		if len(t) != 2 {
			return nil, fieldErr(tf, "must be [coefficient, [[operator, targets], ...]]")
		}
		c, err := complexOf(t[0])
		if err != nil {
			return nil, fieldErr(tf+"[0]", "%v", err)
		}
		var factors [][]json.RawMessage
		if err := json.Unmarshal(t[1], &factors); err != nil {
			return nil, fieldErr(tf+"[1]", "%v", err)
		}
		term := Term{Coeff: c}
		for j, f := range factors {
			ff := tf + "[1][" + strconv.Itoa(j) + "]"
			if len(f) != 2 {
				return nil, fieldErr(ff, "must be [operator, targets]")
			}
			var elems map[string]json.RawMessage
			if err := json.Unmarshal(f[0], &elems); err != nil {
				return nil, fieldErr(ff+"[0]", "%v", err)
			}
			fac := Factor{Elements: map[string]complex128{}}
			for k, v := range elems {
				if len(k) != 2 || !strings.ContainsRune(basis, rune(k[0])) || !strings.ContainsRune(basis, rune(k[1])) {
					return nil, fieldErr(ff+"[0]."+k, "matrix elements are keyed by two eigenstates of %v", in.Eigenstates)
				}
				c, err := complexOf(v)
				if err != nil {
					return nil, fieldErr(ff+"[0]."+k, "%v", err)
				}
				fac.Elements[k] = c
			}
			if err := json.Unmarshal(f[1], &fac.Targets); err != nil {
				return nil, fieldErr(ff+"[1]", "%v", err)
			}
			for _, q := range fac.Targets {
				if q < 0 || q >= in.NQudits {
					return nil, fieldErr(ff+"[1]", "qudit %d is outside 0..%d", q, in.NQudits-1)
				}
			}
			term.Factors = append(term.Factors, fac)
		}
		op.Terms = append(op.Terms, term)
	}
	return op, nil
}
