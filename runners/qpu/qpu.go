// Package qpu submits sequences to a QPU. A Driver runs one job on a QPU;
// HTTPDriver speaks the small gateway protocol described in README.md, and
// Gateway is a built-in gateway that emulates a Fresnel QPU (one job at a
// time, its specs and noise, optional shot timing) for local mode and tests.
package qpu

import (
	"context"
	"encoding/json"
	"errors"
)

// Job is one execution request sent to a QPU.
type Job struct {
	// Sequence is the serialized Pulser sequence (abstract representation).
	Sequence string `json:"sequence"`
	// Variables are the job's variable values, or null.
	Variables json.RawMessage `json:"variables,omitempty"`
	// Runs is the number of shots.
	Runs int `json:"runs"`
	// Seed makes an emulated QPU reproducible; a real one ignores it.
	Seed int64 `json:"seed,omitempty"`
	// Configuration is the batch's configuration, or null.
	Configuration json.RawMessage `json:"configuration,omitempty"`
}

// Result is what a QPU measured.
type Result struct {
	Counter map[string]int64 `json:"counter"`
	Raw     []string         `json:"raw"`
}

// Driver runs one job on a QPU and returns its result. progress receives
// 0..100. When ctx ends, the driver cancels the job on the QPU and returns.
type Driver interface {
	Run(ctx context.Context, job Job, progress func(percent int)) (*Result, error)
}

// InputError is a job the QPU refused (bad sequence, variables or runs);
// running it again cannot succeed.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return "the QPU refused the job: " + e.Msg }

// IsInputError reports whether err is an InputError.
func IsInputError(err error) bool {
	var ie *InputError
	return errors.As(err, &ie)
}

// Job statuses of the gateway protocol.
const (
	StatusQueued   = "QUEUED"
	StatusRunning  = "RUNNING"
	StatusDone     = "DONE"
	StatusError    = "ERROR"
	StatusCanceled = "CANCELED"
)

// JobState is a job as the gateway reports it.
type JobState struct {
	ID       string  `json:"id"`
	Status   string  `json:"status"`
	Progress int     `json:"progress"`
	Result   *Result `json:"result,omitempty"`
	Error    string  `json:"error,omitempty"`
}

func terminal(status string) bool {
	return status == StatusDone || status == StatusError || status == StatusCanceled
}
