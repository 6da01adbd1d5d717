package executor

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tweezer-dev/tweezer/internal/controlplane"
	"github.com/tweezer-dev/tweezer/internal/runnerspec"
)

// buildRunner builds the runner binary once per test binary run.
func buildRunner(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "runner")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/runner")
	cmd.Dir = controlplane.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the runner: %v\n%s", err, out)
	}
	return bin
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

func runner(id string) Runner {
	return Runner{Generation: 1, Spec: runnerspec.Spec{Kind: runnerspec.Batch, Namespace: "ns", Name: "b-" + id, RunnerID: id,
		LeaseNamespace: "ns", LeaseName: "b-" + id, LeaseDuration: time.Minute}}
}

// TestProcessWorkers drives the Process executor with the real runner
// binary and no API server: runners that fail at once show the exit code a
// process of their own would have had, one after another on the same
// worker; a runner that hangs is killed when stopped, after the grace; a
// killed worker fails the runner it ran.
func TestProcessWorkers(t *testing.T) {
	bin := buildRunner(t)
	ctx := context.Background()
	ended := func(p *Process, r Runner) func() bool {
		return func() bool {
			o, err := p.Observe(ctx, r)
			return err == nil && o.Ended()
		}
	}

	t.Run("runners run one after another on one worker and keep their exit codes", func(t *testing.T) {
		// A kubeconfig that does not exist: the batch runner exits 1 at once.
		p := NewProcess(bin, filepath.Join(t.TempDir(), "missing-kubeconfig"), nil)
		a, b := runner("a"), runner("b")
		if err := p.Start(ctx, a); err != nil {
			t.Fatal(err)
		}
		pidA, ok := p.PID(a)
		if !ok {
			t.Fatal("no process for runner a")
		}
		waitFor(t, "runner a ends", ended(p, a))
		o, _ := p.Observe(ctx, a)
		if o.Phase != Failed || o.Reason != "runner process exit status 1" {
			t.Errorf("runner a: %+v", o)
		}
		waitFor(t, "the worker is idle", func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.idle) == 1 })
		if err := p.Start(ctx, b); err != nil {
			t.Fatal(err)
		}
		p.mu.Lock()
		pidB := p.procs[b.RunnerID].pid
		p.mu.Unlock()
		if pidB != pidA {
			t.Errorf("runner b got a new process %d, want the idle worker %d", pidB, pidA)
		}
		waitFor(t, "runner b ends", ended(p, b))
		if err := p.Start(ctx, a); err != nil {
			t.Fatal(err)
		}
		if o, _ := p.Observe(ctx, a); o.Phase != Failed {
			t.Errorf("starting a runner twice must not run it again: %+v", o)
		}
	})

	t.Run("a runner that does not end is killed with its worker after the grace", func(t *testing.T) {
		// An API server that accepts connections and never answers.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
			}
		}()
		kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
		if err := os.WriteFile(kubeconfig, []byte(strings.ReplaceAll(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://ADDR", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`, "ADDR", l.Addr().String())), 0o600); err != nil {
			t.Fatal(err)
		}
		p := NewProcess(bin, kubeconfig, nil)
		p.StopGrace = 300 * time.Millisecond
		h := runner("hangs")
		if err := p.Start(ctx, h); err != nil {
			t.Fatal(err)
		}
		pid, _ := p.PID(h)
		time.Sleep(200 * time.Millisecond)
		if !p.Running(h.RunnerID) {
			t.Fatal("the hanging runner is not running")
		}
		start := time.Now()
		if err := p.Stop(ctx, h); err != nil {
			t.Fatal(err)
		}
		if o, _ := p.Observe(ctx, h); o.Phase != Unknown {
			t.Errorf("a stopped runner is forgotten at once: %+v", o)
		}
		waitFor(t, "the runner is killed", func() bool { return !p.Running(h.RunnerID) })
		if waited := time.Since(start); waited < p.StopGrace {
			t.Errorf("killed after %s, before the grace of %s", waited, p.StopGrace)
		}
		waitFor(t, "the worker is gone", func() bool { return syscall.Kill(pid, 0) != nil })

		k := runner("killed")
		if err := p.Start(ctx, k); err != nil {
			t.Fatal(err)
		}
		pid, _ = p.PID(k)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the killed runner ends", ended(p, k))
		if o, _ := p.Observe(ctx, k); o.Phase != Failed || o.Reason != "runner process signal: killed" {
			t.Errorf("killed runner: %+v", o)
		}
	})
}
