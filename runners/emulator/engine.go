package emulator

import (
	"context"
	"encoding/json"

	"github.com/tweezer-dev/tweezer/runners/engine"
)

// Engine is the emulator as an engine.Engine. DeviceType, when set,
// replaces the task's (the built-in QPU gateway emulates EMU_FRESNEL).
type Engine struct {
	DeviceType string
}

// Run runs a task: with no EmulationConfig (or a legacy one) exactly as
// Run always did, the final state sampled Runs times; with one, its noise
// model, initial state and interaction matrix apply and its observables are
// computed at their evaluation times during the one evolution
// (observables.go).
func (e Engine) Run(ctx context.Context, task engine.Task, progress func(int)) (*engine.Result, error) {
	if e.DeviceType != "" {
		task.DeviceType = e.DeviceType
	}
	if task.Emulation == nil && task.BackendConfiguration != "" {
		if err := task.ParseEmulation(); err != nil {
			return nil, err
		}
	}
	req := Request{
		Sequence: []byte(task.Sequence), Variables: task.Variables, Runs: task.Runs, Seed: task.Seed,
		DeviceType: task.DeviceType, Configuration: task.Configuration,
	}
	if task.Emulation == nil {
		return Run(ctx, req, progress)
	}
	return runObserved(ctx, req, task.Emulation, progress)
}

// noiseOf reads the EmulationConfig's noise model; nil when it lists no noise type.
func noiseOf(raw json.RawMessage) (*NoiseModel, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	nm := &NoiseModel{}
	if err := json.Unmarshal(raw, nm); err != nil {
		return nil, &InputError{Path: "backend_configuration.noise_model", Msg: err.Error()}
	}
	if len(nm.NoiseTypes) == 0 {
		return nil, nil
	}
	if err := nm.Validate(); err != nil {
		return nil, &InputError{Path: "backend_configuration.noise_model", Msg: err.Error()}
	}
	return nm, nil
}
