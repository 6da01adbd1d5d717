// Package qpu submits sequences to a QPU. HTTPDriver is an engine.Engine
// that runs each task on a QPU through the small gateway protocol described
// in README.md (its bodies are engine.Task and engine.Result), and
// Gateway is a built-in gateway that emulates a Fresnel QPU (one job at a
// time, its specs and noise, optional shot timing) for local mode and tests.
package qpu

import (
	"errors"

	"github.com/tweezer-dev/tweezer/runners/engine"
)

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
	ID       string         `json:"id"`
	Status   string         `json:"status"`
	Progress int            `json:"progress"`
	Result   *engine.Result `json:"result,omitempty"`
	Error    string         `json:"error,omitempty"`
}

func terminal(status string) bool {
	return status == StatusDone || status == StatusError || status == StatusCanceled
}
