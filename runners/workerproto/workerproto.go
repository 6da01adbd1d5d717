// Package workerproto is the line protocol between the manager's Process
// executor and a runner worker (`runner serve`).
//
// A worker runs batch runners one after another in one process, so that a
// batch does not pay for a process start, a TLS handshake and API discovery.
// The executor writes one Assignment per line (JSON) on the worker's stdin;
// the worker runs it to the end and writes one Outcome per line on file
// descriptor 3 (OutcomeFD), then reads the next. A worker runs one assignment
// at a time: killing the worker stops exactly that runner. When its stdin
// closes (the manager went away), the worker finishes the assignment it runs
// and exits.
package workerproto

// OutcomeFD is the worker's file descriptor for outcomes (stdout and stderr
// carry the runners' logs).
const OutcomeFD = 3

// Assignment is one runner for a worker to run.
type Assignment struct {
	// ID is the runner's identity (executor.Runner.ID).
	ID string `json:"id"`
	// Args are the runner binary's arguments, starting with the subcommand
	// ("batch"), exactly as a process of its own would get them.
	Args []string `json:"args"`
	// Env is the runner's environment beyond the worker's, as NAME=value,
	// exactly as a process of its own would get it (the QPU gateway's token).
	Env []string `json:"env,omitempty"`
}

// Outcome reports that an assignment ended, with the exit code a process of
// its own would have had.
type Outcome struct {
	ID   string `json:"id"`
	Code int    `json:"code"`
}
