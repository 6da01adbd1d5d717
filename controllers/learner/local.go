package learner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/executor"
	"github.com/tweezer-dev/tweezer/internal/nbserver"
)

// Local runs notebook servers as `jupyter notebook` processes on the
// manager's machine, for local mode where no kubelet runs Pods. The token
// still lives in a ConfigMap, so the facade hands out URLs the same way.
type Local struct {
	// Jupyter is the jupyter command, looked up in PATH when it has no slash.
	Jupyter string

	mu     sync.Mutex
	procs  map[string]*localProc
	events chan event.GenericEvent
}

type localProc struct {
	cmd  *exec.Cmd
	port int
	done chan struct{}
	err  error
}

// NewLocal returns a Local runner of the jupyter command.
func NewLocal(jupyter string) *Local {
	if jupyter == "" {
		jupyter = "jupyter"
	}
	return &Local{Jupyter: jupyter, procs: map[string]*localProc{}, events: make(chan event.GenericEvent, 256)}
}

// localPhase is what Local knows of a server.
type localPhase int

const (
	localMissing localPhase = iota
	localStarting
	localReady
	localExited
	localFailed
)

func (p *Local) observe(key string) (localPhase, int, string) {
	p.mu.Lock()
	proc, ok := p.procs[key]
	p.mu.Unlock()
	if !ok {
		return localMissing, 0, ""
	}
	select {
	case <-proc.done:
		if proc.err != nil {
			return localFailed, proc.port, "jupyter exited: " + proc.err.Error()
		}
		return localExited, proc.port, ""
	default:
	}
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(proc.port), 200*time.Millisecond)
	if err != nil {
		return localStarting, proc.port, "waiting for jupyter to listen on port " + strconv.Itoa(proc.port)
	}
	_ = c.Close()
	return localReady, proc.port, ""
}

// start runs jupyter for a learner's server; its exit reconciles the learner.
func (p *Local) start(key string, l *quantumv1alpha1.Learner, path, base, token string, idle time.Duration) (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	secs := strconv.Itoa(int(idle.Seconds()))
	cmd := exec.Command(path, "notebook", "--no-browser", "--ip=127.0.0.1", "--port="+strconv.Itoa(port),
		"--ServerApp.base_url="+base, "--ServerApp.shutdown_no_activity_timeout="+secs,
		"--MappingKernelManager.cull_idle_timeout="+secs, "--MappingKernelManager.cull_interval=60")
	cmd.Env = append(os.Environ(), "JUPYTER_TOKEN="+token)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting %s: %w", path, err)
	}
	proc := &localProc{cmd: cmd, port: port, done: make(chan struct{})}
	p.mu.Lock()
	p.procs[key] = proc
	p.mu.Unlock()
	owner := &quantumv1alpha1.Learner{ObjectMeta: metav1.ObjectMeta{Namespace: l.Namespace, Name: l.Name}}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		proc.err = err
		close(proc.done)
		p.mu.Unlock()
		p.events <- event.GenericEvent{Object: owner}
	}()
	return port, nil
}

// stop kills a server's process group and forgets it.
func (p *Local) stop(key string) {
	p.mu.Lock()
	proc, ok := p.procs[key]
	delete(p.procs, key)
	p.mu.Unlock()
	if !ok {
		return
	}
	select {
	case <-proc.done:
	default:
		_ = syscall.Kill(-proc.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// localNotebook is notebook() for local processes.
func (r *Reconciler) localNotebook(ctx context.Context, l *quantumv1alpha1.Learner, nb quantumv1alpha1.LearnerNotebook, st quantumv1alpha1.NotebookStatus, name string) (quantumv1alpha1.NotebookStatus, time.Duration, error) {
	key := l.Namespace + "/" + name
	phase, port, msg := r.Local.observe(key)
	url := "http://127.0.0.1:" + strconv.Itoa(port) + nbserver.BasePath(l.Namespace, name)
	switch phase {
	case localReady:
		st.State, st.Message, st.URL = quantumv1alpha1.NotebookRunning, "", url
		return st, 0, nil
	case localStarting:
		st.State, st.Message, st.URL = quantumv1alpha1.NotebookStarting, msg, url
		return st, time.Second, nil
	case localExited:
		st.Pod = name
		return r.cull(l, st, quantumv1alpha1.NotebookCulled, "the server shut down after "+r.Settings.IdleTimeout.String()+" without activity")
	case localFailed:
		st.Pod = name
		return r.cull(l, st, quantumv1alpha1.NotebookFailed, msg)
	}
	if stale, err := r.staleCache(ctx, l, nb.Name); err != nil || stale {
		return st, 0, err
	}
	path, err := exec.LookPath(r.Local.Jupyter)
	if err != nil {
		msg := fmt.Sprintf("jupyter is not installed on this machine (%v): install Jupyter (pip install notebook) to run notebooks in local mode", errors.Unwrap(err))
		now := metav1.NewTime(r.Now())
		r.Recorder.Eventf(l, nil, corev1.EventTypeWarning, "NotebookFailed", "Start", "%s", msg)
		return quantumv1alpha1.NotebookStatus{Name: nb.Name, State: quantumv1alpha1.NotebookFailed, Message: msg, CullTime: &now}, 0, nil
	}
	token := make([]byte, 24)
	if _, err := rand.Read(token); err != nil {
		return st, 0, err
	}
	sec := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: l.Namespace, Name: name, Labels: map[string]string{executor.ManagedByLabel: executor.ManagedBy, nbserver.LearnerLabel: l.Name, nbserver.NotebookLabel: nb.Name}},
		Data:       map[string]string{nbserver.TokenKey: hex.EncodeToString(token)},
	}
	if err := controllerutil.SetControllerReference(l, sec, r.Client.Scheme()); err != nil {
		return st, 0, err
	}
	if err := r.Client.Create(ctx, sec); err != nil {
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(sec), sec); err != nil {
			return st, 0, err
		}
	}
	port, err = r.Local.start(key, l, path, nbserver.BasePath(l.Namespace, name), sec.Data[nbserver.TokenKey], r.Settings.IdleTimeout)
	if err != nil {
		return st, 0, err
	}
	now := metav1.NewTime(r.Now())
	r.Recorder.Eventf(l, nil, corev1.EventTypeNormal, "NotebookStarted", "Start", "started jupyter for %s on port %d", nb.Name, port)
	return quantumv1alpha1.NotebookStatus{
		Name: nb.Name, State: quantumv1alpha1.NotebookStarting, Pod: name,
		URL: "http://127.0.0.1:" + strconv.Itoa(port) + nbserver.BasePath(l.Namespace, name), StartTime: &now, CullTime: st.CullTime,
	}, time.Second, nil
}
