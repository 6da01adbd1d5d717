// Package childproc starts and stops the child processes of local mode and
// of a real node (kube-controller-manager, the manager, the facade,
// containerd, the kubelet…): each in its own process group, with its output
// appended to a log file.
package childproc

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Process is a started child process.
type Process struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// Start runs the binary at path with args, appending its stdout and stderr
// to logPath (whose folder it creates). attr is the process's attributes;
// Setpgid is always set, so that a signal to the parent's group does not
// reach the child before its parent asks it to stop.
func Start(path, logPath string, attr *syscall.SysProcAttr, args ...string) (*Process, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o700); err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	if attr == nil {
		attr = &syscall.SysProcAttr{}
	}
	attr.Setpgid = true
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", filepath.Base(path), err)
	}
	p := &Process{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is how the process ended; read it after Done is closed.
func (p *Process) Err() error { return p.err }

// Pid is the process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Stop asks the process to end (SIGTERM) and kills it after grace. A nil
// or already ended process is left alone.
func (p *Process) Stop(grace time.Duration) {
	if p == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// AwaitHTTP polls url until it answers 200. It gives up when the process
// ends, naming its log, or after a minute.
func (p *Process) AwaitHTTP(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before answering: %v (see %s)", p.cmd.Path, p.err, p.log)
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for %s (see %s)", url, p.log)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
