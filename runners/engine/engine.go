// Package engine is the one contract between the runners and whatever
// executes a job: the state-vector emulator, a tensor-network emulator or a
// QPU behind a gateway. A Task says what to run, a Result is what came out
// (the final bitstring counts, the raw shots and, when the task asked for
// them through its EmulationConfig, Pulser-style tagged observables).
//
// The Task and Result are also the body and answer of the QPU gateway
// protocol (runners/qpu), so their JSON names are part of that protocol.
package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/tweezer-dev/tweezer/internal/emulationconfig"
)

// Task is one job for an Engine.
type Task struct {
	// Sequence is the job's serialized Pulser sequence (abstract representation).
	Sequence string `json:"sequence"`
	// Variables are the job's variable values (JSON object), or nil.
	Variables json.RawMessage `json:"variables,omitempty"`
	// Runs is the number of shots.
	Runs int `json:"runs"`
	// Seed makes sampling reproducible; 0 draws a random seed. A real QPU ignores it.
	Seed int64 `json:"seed,omitempty"`
	// DeviceType is the batch's device type (an engine may impose its own).
	DeviceType string `json:"device_type,omitempty"`
	// Configuration is the batch's configuration (JSON object), or nil.
	Configuration json.RawMessage `json:"configuration,omitempty"`
	// BackendConfiguration is the batch's backend_configuration as sent: a
	// Pulser EmulationConfig abstract repr, a legacy value, or "".
	BackendConfiguration string `json:"backend_configuration,omitempty"`
	// Emulation is BackendConfiguration parsed (ParseEmulation); nil when
	// the task has none or a legacy one, which keeps the plain behaviour:
	// sample Runs shots of the final state.
	Emulation *emulationconfig.Config `json:"-"`
}

// ParseEmulation parses and validates BackendConfiguration into Emulation.
// The error names the offending field (an *InputError).
func (t *Task) ParseEmulation() error {
	cfg, err := emulationconfig.Parse(t.BackendConfiguration)
	if err != nil {
		var fe *emulationconfig.FieldError
		if errors.As(err, &fe) {
			return &InputError{Path: fe.Path(), Msg: fe.Msg}
		}
		return &InputError{Path: "backend_configuration", Msg: err.Error()}
	}
	t.Emulation = cfg
	return nil
}

// Result is a job's outcome.
type Result struct {
	// Counter maps each final bitstring (first atom leftmost, 1 = Rydberg) to its count.
	Counter map[string]int64 `json:"counter"`
	// Raw holds the final shots in order.
	Raw []string `json:"raw"`
	// AtomOrder and TotalDuration (ns) describe the register and the
	// sequence the observables refer to; set with Observables.
	AtomOrder     []string `json:"atom_order,omitempty"`
	TotalDuration int      `json:"total_duration,omitempty"`
	// Observables are the tagged values the EmulationConfig asked for, in
	// its order; empty without one.
	Observables []Observed `json:"observables,omitempty"`
}

// Observed is one observable's values at its evaluation times.
type Observed struct {
	// Tag is Pulser's tag: the base tag, with "_"+tag_suffix when given.
	Tag string `json:"tag"`
	// UUID is the observable's uuid from the configuration (or a fresh one).
	UUID string `json:"uuid"`
	// Aggregation is Pulser's AggregationMethod of the observable.
	Aggregation int `json:"aggregation_method"`
	// Times are the relative evaluation times (0..1), increasing.
	Times []float64 `json:"times"`
	// Values has one JSON value per time, as Pulser serialises it.
	Values []json.RawMessage `json:"values"`
}

// Engine executes tasks. Run returns when the task is done, failed, or ctx
// is canceled; progress may be called from any goroutine with 0..100.
// Errors the input causes (running it again cannot succeed) are *InputError.
type Engine interface {
	Run(ctx context.Context, task Task, progress func(percent int)) (*Result, error)
}

// Func adapts a function to Engine.
type Func func(ctx context.Context, task Task, progress func(percent int)) (*Result, error)

// Run calls f.
func (f Func) Run(ctx context.Context, task Task, progress func(int)) (*Result, error) {
	return f(ctx, task, progress)
}

// InputError reports a task that cannot run as given: a bad sequence,
// variables, configuration or device constraint, or a register too large
// for the engine. Path names the JSON path, field or variable.
type InputError struct {
	Path string
	Msg  string
}

func (e *InputError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// PanicError is a panic of an engine, recovered by Run at a runner's or a
// gateway's boundary so that it fails the one task rather than the process.
type PanicError struct {
	// Value is what the engine panicked with.
	Value any
	// Stack is the engine goroutine's stack at the panic, for the log.
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("the engine panicked: %v", e.Value)
}

// Run runs task on e and returns a panic of e (on the calling goroutine) as
// a *PanicError.
func Run(ctx context.Context, e Engine, task Task, progress func(percent int)) (res *Result, err error) {
	defer func() {
		if v := recover(); v != nil {
			res, err = nil, &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return e.Run(ctx, task, progress)
}
