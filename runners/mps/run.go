// Package mps is Tweezer's matrix-product-state engine for EMU_MPS and
// EMU_TN: it evolves an MPS under the Rydberg Hamiltonian of a compiled
// sequence with second-order two-site TDVP, truncating every bond by
// discarded weight (precision) and bond dimension (max_bond_dim), and
// answers bitstring samples, occupations, correlations, energies,
// expectations and fidelities; noise runs as trajectories (noise.go,
// jumps.go). Its options carry the names of emu-mps's MPSConfig.
package mps

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/cmplx"
	"slices"
	"strings"
	"time"

	"github.com/tweezer-dev/tweezer/runners/sequence"
)

// Config holds the engine's options, named as emu-mps's MPSConfig.
type Config struct {
	// DT is the time step in ns (default 10). The Hamiltonian of a step is
	// the average of the sequence's per-ns samples over the step.
	DT int `json:"dt"`
	// Precision bounds each bond truncation: the singular values dropped
	// have a relative squared weight of at most precision² (default 1e-5).
	Precision float64 `json:"precision"`
	// MaxBondDim caps the bond dimension χ (default 1024).
	MaxBondDim int `json:"max_bond_dim"`
	// MaxKrylovDim caps the Lanczos subspace (default 100).
	MaxKrylovDim int `json:"max_krylov_dim"`
	// ExtraKrylovTolerance scales precision into the Lanczos tolerance
	// (default 1e-3).
	ExtraKrylovTolerance float64 `json:"extra_krylov_tolerance"`
	// InteractionCutoff drops pair interactions C6/r⁶ below it (rad/µs);
	// 0 keeps all.
	InteractionCutoff float64 `json:"interaction_cutoff"`
	// OptimizeQubitOrdering reorders the atoms along the register's
	// principal axis for the MPS; results keep the register's order.
	OptimizeQubitOrdering bool `json:"optimize_qubit_ordering"`
	// OneSiteAfterSaturation switches to one-site TDVP once every bond has
	// reached its cap (Tweezer's option, not emu-mps's; default off). One-
	// site steps truncate nothing, so the discarded weight then stops
	// measuring the error of a capped run.
	OneSiteAfterSaturation bool `json:"one_site_after_saturation"`
	// NumGPUsToUse is accepted for compatibility and ignored (CPU only).
	NumGPUsToUse *int `json:"num_gpus_to_use,omitempty"`
	// MemoryLimit is the byte budget the estimate is checked against; 0
	// means 3/4 of the memory available to the process.
	MemoryLimit uint64 `json:"-"`
	// InteractionMatrix, when set, replaces C6/r⁶ between atoms i and j
	// (rad/µs, register order, N×N symmetric); interaction_cutoff still
	// applies.
	InteractionMatrix [][]float64 `json:"-"`
	// EvalTimes are times (ns, 0..duration) at which Observe is called
	// with the state reached; the time steps are cut so as to land on
	// them. The state is valid only during the call.
	EvalTimes []int             `json:"-"`
	Observe   func(int, *State) `json:"-"`
	// Initial, when set, is the product state the evolution starts from:
	// per atom (register order) its amplitudes on |g⟩ and |r⟩, each pair
	// of norm 1. nil is all-ground.
	Initial [][2]complex128 `json:"-"`
	// InitialAmplitudes, when set (instead of Initial), is the state the
	// evolution starts from as a sum of basis states: bitstring (register
	// order, '1' = |r⟩) → amplitude, normalised by Run. Its MPS is built
	// exactly (initial.go): bond dimensions at most the number of terms,
	// and the state's Schmidt ranks after compression; a bond above
	// max_bond_dim is truncated, its weight counted as discarded.
	InitialAmplitudes map[string]complex128 `json:"-"`
	// Absent, when set, marks atoms (register order) lost at state
	// preparation: they start in |g⟩, get no drive and do not interact.
	// Energies are still those of the whole register's Hamiltonian.
	Absent []bool `json:"-"`
	// Jumps, when set with operators, makes the run one quantum-jump
	// trajectory (jumps.go) on the atoms present.
	Jumps *Jumps `json:"-"`
	// nominal, when set, is the noiseless program of a trajectory whose
	// Hamiltonian was perturbed (shot-to-shot noise): the atom order and
	// the Hamiltonian of observed energies are the nominal ones, as on the
	// state-vector engine.
	nominal *sequence.Program
}

// Defaults of Config, as emu-mps's.
const (
	DefaultDT                   = 10
	DefaultPrecision            = 1e-5
	DefaultMaxBondDim           = 1024
	DefaultMaxKrylovDim         = 100
	DefaultExtraKrylovTolerance = 1e-3
)

// ConfigError names the option that is wrong.
type ConfigError struct {
	Field string
	Msg   string
}

func (e *ConfigError) Error() string { return e.Field + ": " + e.Msg }

// ParseConfig reads the MPS options from a JSON object (other keys are
// left to the caller), fills defaults and validates.
func ParseConfig(raw json.RawMessage) (Config, error) {
	var cfg Config
	if len(bytes.TrimSpace(raw)) > 0 && string(bytes.TrimSpace(raw)) != "null" {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			return cfg, &ConfigError{Field: "configuration", Msg: "not a JSON object: " + err.Error()}
		}
		for name, dst := range map[string]any{
			"dt": &cfg.DT, "precision": &cfg.Precision, "max_bond_dim": &cfg.MaxBondDim,
			"max_krylov_dim": &cfg.MaxKrylovDim, "extra_krylov_tolerance": &cfg.ExtraKrylovTolerance,
			"interaction_cutoff": &cfg.InteractionCutoff, "optimize_qubit_ordering": &cfg.OptimizeQubitOrdering,
			"num_gpus_to_use": &cfg.NumGPUsToUse, "one_site_after_saturation": &cfg.OneSiteAfterSaturation,
		} {
			v, ok := fields[name]
			if !ok || string(v) == "null" {
				continue
			}
			if err := json.Unmarshal(v, dst); err != nil {
				return cfg, &ConfigError{Field: name, Msg: "invalid value " + string(v) + ": " + err.Error()}
			}
		}
	}
	return cfg.withDefaults()
}

// withDefaults fills zero options with the defaults and validates.
func (c Config) withDefaults() (Config, error) {
	if c.DT == 0 {
		c.DT = DefaultDT
	}
	if c.Precision == 0 {
		c.Precision = DefaultPrecision
	}
	if c.MaxBondDim == 0 {
		c.MaxBondDim = DefaultMaxBondDim
	}
	if c.MaxKrylovDim == 0 {
		c.MaxKrylovDim = DefaultMaxKrylovDim
	}
	if c.ExtraKrylovTolerance == 0 {
		c.ExtraKrylovTolerance = DefaultExtraKrylovTolerance
	}
	switch {
	case c.DT < 1:
		return c, &ConfigError{"dt", fmt.Sprintf("must be a positive number of ns, got %d", c.DT)}
	case !(c.Precision > 0 && c.Precision < 1):
		return c, &ConfigError{"precision", fmt.Sprintf("must be in (0, 1), got %g", c.Precision)}
	case c.MaxBondDim < 1:
		return c, &ConfigError{"max_bond_dim", fmt.Sprintf("must be at least 1, got %d", c.MaxBondDim)}
	case c.MaxKrylovDim < 2:
		return c, &ConfigError{"max_krylov_dim", fmt.Sprintf("must be at least 2, got %d", c.MaxKrylovDim)}
	case !(c.ExtraKrylovTolerance > 0 && c.ExtraKrylovTolerance <= 1):
		return c, &ConfigError{"extra_krylov_tolerance", fmt.Sprintf("must be in (0, 1], got %g", c.ExtraKrylovTolerance)}
	case c.InteractionCutoff < 0 || math.IsNaN(c.InteractionCutoff) || math.IsInf(c.InteractionCutoff, 0):
		return c, &ConfigError{"interaction_cutoff", fmt.Sprintf("must be a finite number ≥ 0 (rad/µs), got %g", c.InteractionCutoff)}
	case c.NumGPUsToUse != nil && *c.NumGPUsToUse < 0:
		return c, &ConfigError{"num_gpus_to_use", fmt.Sprintf("must be ≥ 0, got %d", *c.NumGPUsToUse)}
	}
	return c, nil
}

// StepStats describes one TDVP step.
type StepStats struct {
	End       int           `json:"end_ns"`           // time reached (ns)
	MaxBond   int           `json:"max_bond_dim"`     // largest bond dimension after the step
	Discarded float64       `json:"discarded_weight"` // relative weight dropped by this step's truncations
	Krylov    int           `json:"krylov_dim"`       // largest Lanczos subspace used
	OneSite   bool          `json:"one_site"`         // a one-site step (the bonds had saturated)
	Duration  time.Duration `json:"duration_ns"`      // wall time of the step
}

// Stats describes a run.
type Stats struct {
	// Order is the MPS order: Order[site] is the atom's index in the
	// register. Every result is reported in the register's order.
	Order          []int       `json:"qubit_order"`
	MPOBondDim     int         `json:"mpo_bond_dim"`
	MemoryEstimate uint64      `json:"memory_estimate_bytes"`
	MaxBond        int         `json:"max_bond_dim"`     // largest over the run
	Discarded      float64     `json:"discarded_weight"` // sum over the run
	BondSaturated  bool        `json:"bond_saturated"`   // max_bond_dim forced a truncation
	OneSiteSteps   int         `json:"one_site_steps"`   // steps run as one-site TDVP
	Jumps          int         `json:"jumps"`            // quantum jumps of the trajectory (Config.Jumps)
	Steps          []StepStats `json:"steps"`
	WallTime       time.Duration
}

// Estimate returns the bound on a run's peak memory (bytes) that Run
// checks before starting: see estimateMemory.
func Estimate(prog *sequence.Program, cfg Config) (uint64, error) {
	h, _, err := setup(prog, &cfg)
	if err != nil {
		return 0, err
	}
	return estimateMemory(h.w, cfg.MaxBondDim, cfg.MaxKrylovDim), nil
}

// setup validates cfg (filling defaults), and returns the Hamiltonian MPO
// in the MPS order.
func setup(prog *sequence.Program, cfg *Config) (*hamiltonianMPO, []int, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	*cfg = c
	n := len(prog.QubitIDs)
	if err := checkMatrix(cfg.InteractionMatrix, n); err != nil {
		return nil, nil, err
	}
	if cfg.Absent != nil && len(cfg.Absent) != n {
		return nil, nil, &ConfigError{"absent", fmt.Sprintf("has %d entries for %d atoms", len(cfg.Absent), n)}
	}
	if cfg.Initial != nil {
		if len(cfg.Initial) != n {
			return nil, nil, &ConfigError{"initial_state", fmt.Sprintf("has %d atoms but the register has %d", len(cfg.Initial), n)}
		}
		for a, v := range cfg.Initial {
			if nv := real(v[0])*real(v[0]) + imag(v[0])*imag(v[0]) + real(v[1])*real(v[1]) + imag(v[1])*imag(v[1]); math.Abs(nv-1) > 1e-9 {
				return nil, nil, &ConfigError{"initial_state", fmt.Sprintf("atom %d's amplitudes have norm² %g, want 1", a, nv)}
			}
		}
	}
	nominal := prog
	if cfg.nominal != nil {
		nominal = cfg.nominal
	}
	if cfg.InitialAmplitudes != nil {
		if cfg.Initial != nil {
			return nil, nil, &ConfigError{"initial_state", "give either a product state or amplitudes, not both"}
		}
		if slices.Contains(cfg.Absent, true) {
			return nil, nil, &ConfigError{"initial_state", "cannot be combined with atoms lost at preparation"}
		}
		if len(cfg.InitialAmplitudes) == 0 {
			return nil, nil, &ConfigError{"initial_state", "has no basis state"}
		}
		for x, a := range cfg.InitialAmplitudes {
			if len(x) != n || strings.Trim(x, "01") != "" {
				return nil, nil, &ConfigError{"initial_state", fmt.Sprintf("basis state %q must be %d characters 0 or 1", x, n)}
			}
			if cmplx.IsNaN(a) || cmplx.IsInf(a) {
				return nil, nil, &ConfigError{"initial_state", fmt.Sprintf("the amplitude of %q is not finite", x)}
			}
		}
	}
	order := siteOrder(nominal.Positions, cfg.OptimizeQubitOrdering)
	return hamiltonianOf(prog, order, cfg), order, nil
}

// hamiltonianOf is the MPO (interactions only; drive loaded per step) of
// a program's register in the given order.
func hamiltonianOf(prog *sequence.Program, order []int, cfg *Config) *hamiltonianMPO {
	if cfg.InteractionMatrix != nil {
		return newHamiltonianMPO(matrixInteractions(cfg.InteractionMatrix, order, cfg.InteractionCutoff))
	}
	return newHamiltonianMPO(interactions(prog, order, cfg.InteractionCutoff))
}

// Run evolves the initial state (all-ground unless cfg.Initial) under the
// compiled sequence and returns the final state. Steps are two-site TDVP;
// with OneSiteAfterSaturation, once every bond has reached its largest
// possible dimension (max_bond_dim or the exact Schmidt rank), one-site
// TDVP, which keeps the bond dimensions, truncates nothing and conserves
// norm and (for a constant Hamiltonian) energy. progress (may be nil) gets 0..100 as simulated
// time advances. Errors: *ConfigError for bad options, *MemoryError when
// the estimate exceeds the budget, ctx.Err() when cancelled.
func Run(ctx context.Context, prog *sequence.Program, cfg Config, progress func(int)) (*State, *Stats, error) {
	full, order, err := setup(prog, &cfg)
	if err != nil {
		return nil, nil, err
	}
	n := len(prog.QubitIDs)
	// The MPS evolves the atoms present (kept[k] is the site of the k-th);
	// an atom lost at preparation stays |g⟩ and is a trivial site of the
	// observed state. It is left out of the evolution altogether: kept in,
	// its bonds would stay at dimension 1 and two-site TDVP could not
	// entangle the atoms either side of it through their interaction.
	var kept, keptOrder []int
	for i, a := range order {
		if cfg.Absent == nil || !cfg.Absent[a] {
			kept = append(kept, i)
			keptOrder = append(keptOrder, a)
		}
	}
	h := full
	if len(kept) < n {
		h = newHamiltonianMPO(subMatrix(full.inter, kept))
	}
	m := len(kept)
	evals, err := evalTimes(cfg.EvalTimes, prog.Duration)
	if err != nil {
		return nil, nil, err
	}
	stats := &Stats{Order: order, MPOBondDim: full.w.maxBond()}
	var e *engine
	if m > 0 {
		stats.MPOBondDim = h.w.maxBond()
		est := estimateMemory(h.w, cfg.MaxBondDim, cfg.MaxKrylovDim)
		stats.MemoryEstimate = est
		limit := cfg.MemoryLimit
		if limit == 0 {
			limit = uint64(0.75 * float64(availableMemory()))
		}
		if limit > 0 && est > limit {
			return nil, stats, &MemoryError{Atoms: n, MaxBondDim: cfg.MaxBondDim, Estimate: est, Limit: limit,
				Fits: largestFittingBond(h.w, cfg.MaxBondDim, cfg.MaxKrylovDim, limit)}
		}
		e = newEngine(h, cfg)
		if cfg.Initial != nil {
			for k, a := range keptOrder {
				e.sites[k].a = []complex128{cfg.Initial[a][0], cfg.Initial[a][1]}
			}
		}
		if cfg.InitialAmplitudes != nil {
			sites, disc, err := basisMPS(amplitudeTerms(cfg.InitialAmplitudes), keptOrder, cfg.MaxBondDim)
			if err != nil {
				return nil, stats, &ConfigError{"initial_state", err.Error()}
			}
			e.sites = sites
			stats.Discarded += disc
			for _, d := range e.bondDims() {
				stats.MaxBond = max(stats.MaxBond, d)
			}
			if stats.MaxBond >= cfg.MaxBondDim && disc > 0 {
				stats.BondSaturated = true
			}
		}
	}
	var jp *jumper
	if e != nil && cfg.Jumps != nil && len(cfg.Jumps.Ops) > 0 {
		jp = newJumper(cfg.Jumps, m)
	}
	start := time.Now()
	drive := make([]complex128, m)
	det := make([]float64, m)
	prevDrive := make([]complex128, m)
	prevDet := make([]float64, m)
	last := -1
	// stateAt is the state between steps over the whole register, with
	// the whole register's (noiseless) Hamiltonian of the ns sample at t
	// (the last sample at the end) for energies.
	observed, obsH := prog, full
	if cfg.nominal != nil {
		observed, obsH = cfg.nominal, hamiltonianOf(cfg.nominal, order, &cfg)
	}
	stateAt := func(t int) *State {
		d, x := make([]complex128, n), make([]float64, n)
		averageDrive(observed, order, min(t, prog.Duration-1), min(t, prog.Duration-1)+1, d, x)
		obs := obsH.clone()
		obs.setDrive(d, x)
		sites := make([]*site, n)
		bond, k := 1, 0
		for i := range sites {
			if k < m && kept[k] == i {
				sites[i] = e.sites[k]
				if k == 0 && jp != nil { // the trajectory's state is unnormalised
					a := e.sites[0]
					s := complex(1/math.Sqrt(e.normSquared()), 0)
					sites[i] = &site{dl: a.dl, dr: a.dr, a: make([]complex128, len(a.a))}
					for x, v := range a.a {
						sites[i].a[x] = v * s
					}
				}
				bond = e.sites[k].dr
				k++
				continue
			}
			sites[i] = groundSite(bond)
		}
		return &State{sites: sites, order: order, h: obs, memLimit: cfg.MemoryLimit}
	}
	if len(evals) > 0 && evals[0] == 0 {
		cfg.Observe(0, stateAt(0))
		evals = evals[1:]
	}
	for t0 := 0; t0 < prog.Duration; {
		if err := ctx.Err(); err != nil {
			return nil, stats, err
		}
		t1 := min((t0/cfg.DT+1)*cfg.DT, prog.Duration) // the dt grid, cut at evaluation times
		if len(evals) > 0 && evals[0] < t1 {
			t1 = evals[0]
		}
		if jp != nil {
			t1 = min(t1, t0+jp.maxStep)
		}
		if e != nil {
			averageDrive(prog, keptOrder, t0, t1, drive, det)
			if t0 == 0 || !equalDrive(drive, det, prevDrive, prevDet) {
				h.setDrive(drive, det)
				e.stale = true
				copy(prevDrive, drive)
				copy(prevDet, det)
			}
			ts := time.Now()
			oneSite := cfg.OneSiteAfterSaturation && e.saturated()
			step := e.step
			if oneSite {
				step = e.stepOne
				stats.OneSiteSteps++
			}
			if jp != nil {
				e.decayAll(jp.halfDecay(t1 - t0))
			}
			if err := step(float64(t1-t0) * 1e-3); err != nil {
				return nil, stats, err
			}
			if jp != nil {
				e.decayAll(jp.halfDecay(t1 - t0))
				jp.maybeJump(e, keptOrder)
				stats.Jumps = jp.count
			}
			st := StepStats{End: t1, Discarded: e.discarded, Krylov: e.krylov, OneSite: oneSite, Duration: time.Since(ts)}
			for _, d := range e.bondDims() {
				st.MaxBond = max(st.MaxBond, d)
			}
			stats.Steps = append(stats.Steps, st)
			stats.MaxBond = max(stats.MaxBond, st.MaxBond)
			stats.Discarded += st.Discarded
			if st.MaxBond >= cfg.MaxBondDim && st.Discarded > 0 {
				stats.BondSaturated = true
			}
		}
		if len(evals) > 0 && evals[0] == t1 {
			cfg.Observe(t1, stateAt(t1))
			evals = evals[1:]
		}
		if progress != nil {
			if pc := 100 * t1 / prog.Duration; pc != last {
				last = pc
				progress(pc)
			}
		}
		t0 = t1
	}
	stats.WallTime = time.Since(start)
	return stateAt(prog.Duration), stats, nil
}

// amplitudeTerms lists a bitstring → amplitude map as basis amplitudes,
// in bitstring order (so the build is deterministic).
func amplitudeTerms(m map[string]complex128) []basisAmp {
	keys := slices.Sorted(maps.Keys(m))
	out := make([]basisAmp, 0, len(keys))
	for _, k := range keys {
		x := make([]bool, len(k))
		for i := range k {
			x[i] = k[i] == '1'
		}
		out = append(out, basisAmp{x: x, a: m[k]})
	}
	return out
}

// evalTimes sorts and deduplicates the evaluation times and checks them
// against the duration.
func evalTimes(ts []int, duration int) ([]int, error) {
	out := slices.Clone(ts)
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > 0 && (out[0] < 0 || out[len(out)-1] > duration) {
		return nil, &ConfigError{"evaluation_times", fmt.Sprintf("must lie within the sequence's 0..%d ns", duration)}
	}
	return out, nil
}

// checkMatrix validates an interaction matrix for n atoms (nil is fine).
func checkMatrix(m [][]float64, n int) error {
	if m == nil {
		return nil
	}
	if len(m) != n {
		return &ConfigError{"interaction_matrix", fmt.Sprintf("has %d rows for %d atoms", len(m), n)}
	}
	for i, row := range m {
		if len(row) != n {
			return &ConfigError{"interaction_matrix", fmt.Sprintf("row %d has %d entries for %d atoms", i, len(row), n)}
		}
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) || v != m[j][i] {
				return &ConfigError{"interaction_matrix", fmt.Sprintf("entry [%d][%d] must be finite and equal to [%d][%d]", i, j, j, i)}
			}
		}
	}
	return nil
}

// averageDrive loads per site (MPS order) the mean over ns [t0, t1) of
// Ω·e^{iφ} and δ: the first Magnus term of the piecewise-constant
// samples, as the state-vector engine's blocks.
func averageDrive(p *sequence.Program, order []int, t0, t1 int, drive []complex128, det []float64) {
	inv := 1 / float64(t1-t0)
	for i, a := range order {
		var c complex128
		d := 0.0
		for t := t0; t < t1; t++ {
			c += p.Drive[a][t]
			d += p.Det[a][t]
		}
		drive[i] = c * complex(inv, 0)
		det[i] = d * inv
	}
}

func equalDrive(d1 []complex128, x1 []float64, d2 []complex128, x2 []float64) bool {
	for i := range d1 {
		if d1[i] != d2[i] || x1[i] != x2[i] {
			return false
		}
	}
	return true
}

// subMatrix returns the interactions among the given sites.
func subMatrix(inter [][]float64, sites []int) [][]float64 {
	out := make([][]float64, len(sites))
	for k, i := range sites {
		out[k] = make([]float64, len(sites))
		for l, j := range sites {
			out[k][l] = inter[i][j]
		}
	}
	return out
}

// groundSite is |g⟩ on a bond of dimension d: A[l,s,r] = δ_lr·δ_s0, both
// left- and right-canonical, so inserting it keeps the MPS's form.
func groundSite(d int) *site {
	a := make([]complex128, d*2*d)
	for l := 0; l < d; l++ {
		a[(l*2)*d+l] = 1
	}
	return &site{dl: d, dr: d, a: a}
}
