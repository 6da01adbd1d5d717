// Package executor starts, observes and stops batch runners. The Batch
// reconciler does not care whether a runner is a Pod (Pod executor, in a
// cluster) or a local process (Process executor, local mode and tests): both
// run the same runner binary with the same arguments.
package executor

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/builder"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// Runner is one start of a batch's runner. A batch may have several over its
// life (after a runner dies); Generation tells them apart.
type Runner struct {
	// Namespace and Batch name the batch the runner executes.
	Namespace string
	Batch     string
	// BatchUID is used for owner references.
	BatchUID types.UID
	// Generation counts the runner starts of the batch, from 1.
	Generation int
	// ID is the runner's identity, the holder of its Lease.
	ID string
	// Device runs the batch.
	Device *quantumv1alpha1.Device
	// LeaseNamespace and LeaseName name the Lease the runner renews.
	LeaseNamespace string
	LeaseName      string
	// LeaseDuration is how long the Lease stays valid without renewal.
	LeaseDuration time.Duration
	// Kind is KindWorkload for a Workload's runner (Batch and BatchUID then
	// name the Workload, and the runner runs the "workload" subcommand); empty
	// for a batch's.
	Kind string
	// Image, when set, is the runner image instead of the device's.
	Image string
}

// KindWorkload marks a Workload's runner.
const KindWorkload = "Workload"

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

// TokenEnv is the environment variable that carries the QPU gateway token to
// a runner process (the Process executor's; a pod reads a projected token
// file instead).
const TokenEnv = "TWEEZER_GATEWAY_TOKEN"

// usesGateway reports whether the runner sends its jobs to a QPU gateway,
// and so needs a gateway token.
func usesGateway(r Runner) bool {
	return r.Kind != KindWorkload && r.Device != nil && r.Device.Spec.Gateway != nil && !r.Device.Spec.IsEmulator
}

// Args are the runner binary's arguments for a runner, after the binary name.
func Args(r Runner) []string {
	if r.Kind == KindWorkload {
		return []string{"workload", "--namespace", r.Namespace, "--name", r.Batch}
	}
	args := []string{"batch",
		"--namespace", r.Namespace,
		"--name", r.Batch,
		"--runner-id", r.ID,
		"--lease-namespace", r.LeaseNamespace,
		"--lease-name", r.LeaseName,
		"--lease-duration", r.LeaseDuration.String(),
	}
	if usesGateway(r) {
		args = append(args, "--gateway-url", r.Device.Spec.Gateway.URL)
	}
	return args
}

// Name is a short, DNS-safe name for a runner: the batch name and generation.
func Name(r Runner) string { return r.Batch + "-runner-" + strconv.Itoa(r.Generation) }

func (r Runner) String() string {
	return fmt.Sprintf("%s/%s (runner %d)", r.Namespace, r.Batch, r.Generation)
}
