package executor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/internal/runnerspec"
	"github.com/tweezer-dev/tweezer/runners/qpu"
	"github.com/tweezer-dev/tweezer/runners/workerproto"
)

// Process runs runners as local processes of the runner binary. It is for
// local mode and end-to-end tests, where no kubelet runs pods.
//
// A batch's runner runs in a worker, a `runner serve` process that runs batch
// runners one after another (runners/workerproto): a batch does not pay for
// a process start, a TLS handshake and API discovery. A worker runs one
// runner at a time, so stopping a runner kills its worker; idle workers wait
// for the next batch (up to MaxIdle of them). A Workload's runner is a
// process of its own.
//
// A QPU runner authenticates to its gateway with a token that the executor
// requests (TokenRequest) for the namespace's runner service account, bound
// to the gateway's audience (qpu.Audience), when Client is set; it gets it
// in its environment (runnerspec.TokenEnv) or its worker assignment.
//
// Processes run in their own process group and outlive the manager: a manager
// restart does not stop the work (a worker whose manager went away finishes
// its runner and exits). A restarted manager has no record of them (Observe
// says Unknown) and relies on their Lease.
type Process struct {
	// Binary is the runner binary.
	Binary string
	// Kubeconfig is passed to the runner as --kubeconfig; empty means the
	// runner's own default (in-cluster config or $KUBECONFIG).
	Kubeconfig string
	// Output receives the runners' stdout and stderr; nil discards them.
	Output io.Writer
	// MaxIdle is how many idle workers are kept for the next batches.
	MaxIdle int
	// StopGrace is how long Stop lets a worker's runner end on its own
	// before it kills the worker; 0 kills at once.
	StopGrace time.Duration
	// Client, when set, creates the runner service accounts and requests
	// their gateway tokens; without it QPU runners send no token.
	Client client.Client
	// TokenSeconds is the lifetime asked for a gateway token (default
	// DefaultTokenSeconds); the API server may shorten it.
	TokenSeconds int64

	mu     sync.Mutex
	procs  map[string]*process // by runner ID, until Stop forgets them
	live   map[*process]bool   // runners whose process runs them now
	idle   []*worker
	events chan event.GenericEvent
}

// process is one runner: a process of its own or an assignment of a worker.
type process struct {
	r    Runner
	pid  int // the process (group) that runs it
	done chan struct{}
	err  error
}

// worker is a `runner serve` process.
type worker struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	current *process // the assignment it runs; nil when idle
	exited  bool
}

// Defaults of a Process executor.
const (
	DefaultMaxIdle   = 8
	DefaultStopGrace = 2 * time.Second
	// DefaultTokenSeconds: a runner process cannot renew its gateway token,
	// so it is asked for long enough for a long batch.
	DefaultTokenSeconds = 24 * 3600
)

// NewProcess returns a Process executor for the runner binary.
func NewProcess(binary, kubeconfig string, output io.Writer) *Process {
	return &Process{
		Binary:     binary,
		Kubeconfig: kubeconfig,
		Output:     output,
		MaxIdle:    DefaultMaxIdle,
		StopGrace:  DefaultStopGrace,
		procs:      map[string]*process{},
		live:       map[*process]bool{},
		events:     make(chan event.GenericEvent, 1024),
	}
}

func (p *Process) output() io.Writer {
	if p.Output == nil {
		return io.Discard
	}
	return p.Output
}

func (p *Process) args(r Runner) []string {
	args := r.Args()
	if p.Kubeconfig != "" {
		args = append(args, "--kubeconfig", p.Kubeconfig)
	}
	return args
}

// Start starts the runner unless it already runs: a batch's on a worker, a
// Workload's as a process of its own.
func (p *Process) Start(ctx context.Context, r Runner) error {
	p.mu.Lock()
	_, started := p.procs[r.RunnerID]
	p.mu.Unlock()
	if started {
		return nil
	}
	var token string
	if p.Client != nil && usesGateway(r) {
		var err error
		if token, err = p.gatewayToken(ctx, r.Namespace); err != nil {
			return fmt.Errorf("starting runner %s: %w", r, err)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.procs[r.RunnerID]; ok {
		return nil
	}
	r.GatewayToken = token // carried in the runner's environment (runnerspec.Env)
	proc := &process{r: r, done: make(chan struct{})}
	var err error
	if r.Kind == runnerspec.Workload {
		err = p.startOwn(proc)
	} else {
		err = p.assign(proc)
	}
	if err != nil {
		return fmt.Errorf("starting runner %s: %w", r, err)
	}
	p.procs[r.RunnerID] = proc
	p.live[proc] = true
	return nil
}

// gatewayToken requests a gateway token for the namespace's runner service
// account, creating the account when it is missing.
func (p *Process) gatewayToken(ctx context.Context, namespace string) (string, error) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
		Namespace: namespace, Name: RunnerServiceAccount,
		Labels: map[string]string{ManagedByLabel: ManagedBy},
	}}
	if err := create(ctx, p.Client, sa); err != nil {
		return "", err
	}
	secs := p.TokenSeconds
	if secs <= 0 {
		secs = DefaultTokenSeconds
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences: []string{qpu.Audience}, ExpirationSeconds: &secs,
	}}
	if err := p.Client.SubResource("token").Create(ctx, sa, tr); err != nil {
		return "", fmt.Errorf("requesting a gateway token for %s/%s: %w", namespace, RunnerServiceAccount, err)
	}
	return tr.Status.Token, nil
}

// Cleanup has nothing to do: a process runner gets no RBAC objects.
func (p *Process) Cleanup(context.Context, string, string) error { return nil }

// startOwn runs the runner as a process of its own.
func (p *Process) startOwn(proc *process) error {
	cmd := exec.Command(p.Binary, p.args(proc.r)...)
	cmd.Env = append(os.Environ(), proc.r.Env()...)
	cmd.Stdout, cmd.Stderr = p.output(), p.output()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	proc.pid = cmd.Process.Pid
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.finish(proc, err)
		p.mu.Unlock()
	}()
	return nil
}

// assign hands the runner to an idle worker, or to a new one. p.mu is held.
func (p *Process) assign(proc *process) error {
	line, err := json.Marshal(workerproto.Assignment{ID: proc.r.RunnerID, Args: p.args(proc.r), Env: proc.r.Env()})
	if err != nil {
		return err
	}
	line = append(line, '\n')
	for len(p.idle) > 0 {
		w := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if w.exited {
			continue
		}
		// An idle worker blocks reading its stdin: the line fits the pipe.
		if _, err := w.stdin.Write(line); err == nil {
			w.current, proc.pid = proc, w.cmd.Process.Pid
			return nil
		}
		_ = w.stdin.Close() // it is going away; its exit is handled by its watcher
	}
	w, err := p.startWorker()
	if err != nil {
		return err
	}
	if _, err := w.stdin.Write(line); err != nil {
		_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
		return err
	}
	w.current, proc.pid = proc, w.cmd.Process.Pid
	return nil
}

// startWorker starts a `runner serve` process and the goroutines that read
// its outcomes and wait for its exit. p.mu is held.
func (p *Process) startWorker() (*worker, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(p.Binary, "serve")
	cmd.Stdout, cmd.Stderr = p.output(), p.output()
	cmd.ExtraFiles = make([]*os.File, workerproto.OutcomeFD-2)
	cmd.ExtraFiles[workerproto.OutcomeFD-3] = outW
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		_ = outR.Close()
		_ = outW.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		_ = outR.Close()
		_ = outW.Close()
		return nil, err
	}
	_ = outW.Close() // the worker holds its end
	w := &worker{cmd: cmd, stdin: stdin}
	outcomes := make(chan struct{})
	go func() {
		defer close(outcomes)
		defer outR.Close()
		lines := bufio.NewScanner(outR)
		for lines.Scan() {
			var o workerproto.Outcome
			if err := json.Unmarshal(lines.Bytes(), &o); err != nil {
				continue
			}
			p.mu.Lock()
			p.assignmentEnded(w, o)
			p.mu.Unlock()
		}
	}()
	go func() {
		<-outcomes // every outcome the worker wrote is handled first
		err := cmd.Wait()
		p.mu.Lock()
		w.exited = true
		if w.current != nil {
			if err == nil {
				err = errors.New("worker exited before reporting the outcome")
			}
			p.finish(w.current, err)
			w.current = nil
		}
		p.mu.Unlock()
	}()
	return w, nil
}

// assignmentEnded records a worker's outcome and makes the worker idle (or
// lets it go when enough are idle). p.mu is held.
func (p *Process) assignmentEnded(w *worker, o workerproto.Outcome) {
	if w.current == nil || w.current.r.RunnerID != o.ID {
		return
	}
	var err error
	if o.Code != 0 {
		err = errors.New("exit status " + strconv.Itoa(o.Code))
	}
	p.finish(w.current, err)
	w.current = nil
	if len(p.idle) < p.MaxIdle {
		p.idle = append(p.idle, w)
	} else {
		_ = w.stdin.Close()
	}
}

// finish records that a runner ended and has its batch reconciled. p.mu is held.
func (p *Process) finish(proc *process, err error) {
	select {
	case <-proc.done:
		return
	default:
	}
	proc.err = err
	close(proc.done)
	delete(p.live, proc)
	p.events <- event.GenericEvent{Object: &quantumv1alpha1.Batch{
		ObjectMeta: metav1.ObjectMeta{Namespace: proc.r.Namespace, Name: proc.r.Name},
	}}
}

// Observe reports the runner's state; Unknown when this executor did not start it.
func (p *Process) Observe(_ context.Context, r Runner) (Observation, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	proc, ok := p.procs[r.RunnerID]
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

// Stop makes sure the runner stops. A process of its own is killed (its
// process group) at once. A worker's runner gets StopGrace to end on its own
// first (a runner stops by itself when its batch ends or its Lease is
// taken away, and the worker then serves the next batch); after that its
// worker is killed. The runner is forgotten at once either way. p.mu is held
// throughout, so a worker that has just finished the runner is not given
// another one before the kill.
func (p *Process) Stop(_ context.Context, r Runner) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	proc, ok := p.procs[r.RunnerID]
	delete(p.procs, r.RunnerID)
	if !ok {
		return nil
	}
	select {
	case <-proc.done:
		return nil
	default:
	}
	if r.Kind != runnerspec.Workload && p.StopGrace > 0 {
		time.AfterFunc(p.StopGrace, func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			select {
			case <-proc.done:
			default:
				_ = syscall.Kill(-proc.pid, syscall.SIGKILL)
			}
		})
		return nil
	}
	if err := syscall.Kill(-proc.pid, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
		return fmt.Errorf("killing runner %s: %w", r, err)
	}
	return nil
}

// PID returns the id of the process that runs a runner this executor
// started, while it runs.
func (p *Process) PID(r Runner) (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	proc, ok := p.procs[r.RunnerID]
	if !ok {
		return 0, false
	}
	select {
	case <-proc.done:
		return 0, false
	default:
		return proc.pid, true
	}
}

// Running reports whether a process still runs the runner with this ID,
// whether or not Stop has forgotten it.
func (p *Process) Running(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for proc := range p.live {
		if proc.r.RunnerID == id {
			return true
		}
	}
	return false
}

// Watch reconciles a batch when one of its runners ends.
func (p *Process) Watch(b *builder.Builder) *builder.Builder {
	return b.WatchesRawSource(source.Channel(p.events, &handler.EnqueueRequestForObject{}))
}
