// Package executor starts, observes and stops batch runners. The Batch
// reconciler does not care whether a runner is a Pod (Pod executor, in a
// cluster) or a local process (Process executor, local mode and tests): both
// run the same runner binary with the same arguments.
package executor

import (
	"context"
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/builder"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/internal/runnerspec"
)

// Runner is one start of a runner: a Batch's (a batch may have several over
// its life, after a runner dies; Generation tells them apart) or a
// Workload's. Its Spec is what the runner binary is told (arguments and
// environment, package runnerspec); the rest is what the executor needs to
// place it.
type Runner struct {
	runnerspec.Spec
	// OwnerUID is the UID of the Batch or Workload, for owner references.
	OwnerUID types.UID
	// Generation counts the runner starts of the batch, from 1.
	Generation int
	// Device runs the batch (batch runners only).
	Device *quantumv1alpha1.Device
	// Image, when set, is the runner image instead of the device's.
	Image string
}

// Phase is what an executor knows of a runner.
type Phase string

// The runner phases.
const (
	// Running: the runner is starting or running.
	Running Phase = "Running"
	// Succeeded: the runner exited on its own with success.
	Succeeded Phase = "Succeeded"
	// Failed: the runner exited with an error or was killed.
	Failed Phase = "Failed"
	// Gone: the runner was removed (pod deleted) before it finished.
	Gone Phase = "Gone"
	// Unknown: the executor has no record of the runner (e.g. a process
	// started by a previous manager); the Lease decides.
	Unknown Phase = "Unknown"
)

// Observation is a runner's phase with a human reason.
type Observation struct {
	Phase  Phase
	Reason string
}

// Ended reports whether the runner is no longer running.
func (o Observation) Ended() bool {
	return o.Phase == Succeeded || o.Phase == Failed || o.Phase == Gone
}

// Executor starts, observes and stops runners.
type Executor interface {
	// Start starts the runner; starting the same runner twice is a no-op.
	Start(ctx context.Context, r Runner) error
	// Observe tells what the executor knows of the runner.
	Observe(ctx context.Context, r Runner) (Observation, error)
	// Stop makes sure the runner does not run any more; a stopped or unknown
	// runner is not an error.
	Stop(ctx context.Context, r Runner) error
	// Watch makes the Batch controller reconcile a batch when its runner changes.
	Watch(b *builder.Builder) *builder.Builder
	// Cleanup removes what Start made outside the batch's namespace for the
	// batch's runners (owner references cannot reach across namespaces, so
	// garbage collection does not). It is called once the batch has ended or
	// is gone; cleaning up twice is not an error.
	Cleanup(ctx context.Context, namespace, batch string) error
}

// usesGateway reports whether the runner sends its jobs to a QPU gateway,
// and so needs a gateway token.
func usesGateway(r Runner) bool {
	return r.Kind == runnerspec.Batch && r.Device != nil && r.Device.Spec.Gateway != nil && !r.Device.Spec.IsEmulator
}

// Name is a short, DNS-safe name for a runner: the batch's (or workload's)
// name and generation.
func Name(r Runner) string { return r.Name + "-runner-" + strconv.Itoa(r.Generation) }

func (r Runner) String() string {
	return fmt.Sprintf("%s %s/%s (runner %d)", r.Kind, r.Namespace, r.Name, r.Generation)
}
