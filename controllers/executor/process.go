package executor

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// Process runs each runner as a local process of the runner binary. It is for
// local mode and end-to-end tests, where no kubelet runs pods.
//
// Processes run in their own process group and outlive the manager: a manager
// restart does not stop the work. A restarted manager has no record of them
// (Observe says Unknown) and relies on their Lease.
type Process struct {
	// Binary is the runner binary.
	Binary string
	// Kubeconfig is passed to the runner as --kubeconfig; empty means the
	// runner's own default (in-cluster config or $KUBECONFIG).
	Kubeconfig string
	// Output receives the runners' stdout and stderr; nil discards them.
	Output io.Writer

	mu     sync.Mutex
	procs  map[string]*process
	events chan event.GenericEvent
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// NewProcess returns a Process executor for the runner binary.
func NewProcess(binary, kubeconfig string, output io.Writer) *Process {
	return &Process{
		Binary:     binary,
		Kubeconfig: kubeconfig,
		Output:     output,
		procs:      map[string]*process{},
		events:     make(chan event.GenericEvent, 1024),
	}
}

// Start starts the runner process unless it already runs.
func (p *Process) Start(_ context.Context, r Runner) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.procs[r.ID]; ok {
		return nil
	}
	args := Args(r)
	if p.Kubeconfig != "" {
		args = append(args, "--kubeconfig", p.Kubeconfig)
	}
	cmd := exec.Command(p.Binary, args...)
	cmd.Env = os.Environ()
	if r.GatewayToken != "" {
		cmd.Env = append(cmd.Env, TokenEnv+"="+r.GatewayToken)
	}
	out := p.Output
	if out == nil {
		out = io.Discard
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting runner %s: %w", r, err)
	}
	proc := &process{cmd: cmd, done: make(chan struct{})}
	p.procs[r.ID] = proc
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		proc.err = err
		close(proc.done)
		p.mu.Unlock()
		p.events <- event.GenericEvent{Object: &quantumv1alpha1.Batch{
			ObjectMeta: metav1.ObjectMeta{Namespace: r.Namespace, Name: r.Batch},
		}}
	}()
	return nil
}

// Observe reports the process's state; Unknown when this executor did not start it.
func (p *Process) Observe(_ context.Context, r Runner) (Observation, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	proc, ok := p.procs[r.ID]
	if !ok {
		return Observation{Phase: Unknown}, nil
	}
	select {
	case <-proc.done:
		if proc.err != nil {
			return Observation{Phase: Failed, Reason: "runner process " + proc.err.Error()}, nil
		}
		return Observation{Phase: Succeeded, Reason: "runner process exited"}, nil
	default:
		return Observation{Phase: Running}, nil
	}
}

// Stop kills the runner's process group and forgets it.
func (p *Process) Stop(_ context.Context, r Runner) error {
	p.mu.Lock()
	proc, ok := p.procs[r.ID]
	delete(p.procs, r.ID)
	p.mu.Unlock()
	if !ok {
		return nil
	}
	select {
	case <-proc.done:
		return nil
	default:
	}
	if err := syscall.Kill(-proc.cmd.Process.Pid, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
		return fmt.Errorf("killing runner %s: %w", r, err)
	}
	return nil
}

// PID returns the process id of a runner this executor started and that still runs.
func (p *Process) PID(r Runner) (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	proc, ok := p.procs[r.ID]
	if !ok {
		return 0, false
	}
	select {
	case <-proc.done:
		return 0, false
	default:
		return proc.cmd.Process.Pid, true
	}
}

// Watch reconciles a batch when one of its runner processes exits.
func (p *Process) Watch(b *builder.Builder) *builder.Builder {
	return b.WatchesRawSource(source.Channel(p.events, &handler.EnqueueRequestForObject{}))
}
