package learner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/internal/nbserver"
)

// InstallHint says how to get the Jupyter that local mode runs.
const InstallHint = "run hack/jupyter/install.sh, or as root: apt-get update && apt-get install -y --no-install-recommends jupyter-notebook python3-ipykernel"

// Local runs notebook servers as `jupyter notebook` processes on the
// manager's machine, for local mode where no kubelet runs Pods. The token
// still lives in a Secret, so the facade hands out URLs the same way. Each
// learner's workspace is DataDir/notebooks/<namespace>/<learner>/ (it keeps
// the learner's files across servers) and each server logs to
// DataDir/logs/notebook-<namespace>-<server>.log.
type Local struct {
	// Jupyter is the jupyter command, looked up in PATH when it has no slash.
	Jupyter string
	// DataDir holds the workspaces and the logs.
	DataDir string
	// APIURL is the facade's URL, handed to notebooks as TWEEZER_API_URL.
	APIURL string

	mu       sync.Mutex
	procs    map[string]*localProc
	flavours map[string]Flavour // by jupyter path
	events   chan event.GenericEvent
}

type localProc struct {
	cmd   *exec.Cmd
	port  int
	token string
	log   string
	done  chan struct{}
	err   error
}

// NewLocal returns a Local runner of the jupyter command, keeping its files in dataDir.
func NewLocal(jupyter, dataDir string) *Local {
	if jupyter == "" {
		jupyter = "jupyter"
	}
	return &Local{Jupyter: jupyter, DataDir: dataDir, procs: map[string]*localProc{}, flavours: map[string]Flavour{}, events: make(chan event.GenericEvent, 256)}
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

// activity is what a running server says of itself (GET <base>api/status).
type activity struct {
	LastActivity time.Time `json:"last_activity"`
	Kernels      int       `json:"kernels"`
	Connections  int       `json:"connections"`
}

func (p *Local) observe(ctx context.Context, key, base string) (localPhase, *localProc, activity, string) {
	p.mu.Lock()
	proc, ok := p.procs[key]
	p.mu.Unlock()
	if !ok {
		return localMissing, nil, activity{}, ""
	}
	select {
	case <-proc.done:
		if proc.err != nil {
			return localFailed, proc, activity{}, failure(proc)
		}
		return localExited, proc, activity{}, ""
	default:
	}
	act, err := status(ctx, proc, base)
	if err != nil {
		return localStarting, proc, activity{}, startingMessage(proc)
	}
	return localReady, proc, act, ""
}

func startingMessage(proc *localProc) string {
	return "waiting for jupyter to answer on port " + strconv.Itoa(proc.port)
}

// status asks the server for its activity, with its token. Jupyter does not
// count this request as activity.
func status(ctx context.Context, proc *localProc, base string) (activity, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(proc.port)+base+"api/status", nil)
	if err != nil {
		return activity{}, err
	}
	req.Header.Set("Authorization", "token "+proc.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return activity{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return activity{}, fmt.Errorf("GET %sapi/status: %s", base, resp.Status)
	}
	var a activity
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return activity{}, fmt.Errorf("GET %sapi/status: %w", base, err)
	}
	return a, nil
}

// failure is the message of a server that exited with an error: the exit
// status and the last lines Jupyter wrote, whose whole log stays on disk.
func failure(proc *localProc) string {
	msg := "jupyter exited: " + proc.err.Error()
	if tail := lastLines(proc.log, 8, 1500); tail != "" {
		msg += "; its last lines:\n" + tail
	}
	return msg + "\n(full log: " + proc.log + ")"
}

// lastLines returns up to n non-empty last lines of a file, at most limit bytes.
func lastLines(path string, n, limit int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimRight(l, "\r "); l != "" {
			lines = append(lines, l)
		}
	}
	lines = lines[max(0, len(lines)-n):]
	out := strings.Join(lines, "\n")
	if len(out) > limit {
		out = "…" + out[len(out)-limit:]
	}
	return out
}

// flavour finds out (once per command) which Jupyter the command runs.
func (p *Local) flavour(ctx context.Context, path string) (Flavour, error) {
	p.mu.Lock()
	f, ok := p.flavours[path]
	p.mu.Unlock()
	if ok {
		return f, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "notebook", "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("`%s notebook --version` failed (%v): %s", path, err, strings.TrimSpace(string(out)))
	}
	if f, err = FlavourOfVersion(string(out)); err != nil {
		return "", err
	}
	p.mu.Lock()
	p.flavours[path] = f
	p.mu.Unlock()
	return f, nil
}

// workspace makes the learner's folder and puts the package's starter
// notebook in it unless the learner already has one (it may hold edits).
func (p *Local) workspace(l *quantumv1alpha1.Learner) (string, error) {
	dir, err := filepath.Abs(filepath.Join(p.DataDir, "notebooks", l.Namespace, l.Name))
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	starter, err := Starter(l.Spec.Package)
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(filepath.Join(dir, StarterFile), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, os.ErrExist) {
		return dir, nil
	}
	if err != nil {
		return "", err
	}
	if _, err := f.Write(starter); err != nil {
		_ = f.Close()
		return "", err
	}
	return dir, f.Close()
}

// start runs jupyter for a learner's server; its exit reconciles the learner.
func (p *Local) start(key string, l *quantumv1alpha1.Learner, path string, opts ServerOptions, env []string, token string) (*localProc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	opts.IP, opts.Port = "127.0.0.1", ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	logDir, err := filepath.Abs(filepath.Join(p.DataDir, "logs"))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return nil, err
	}
	logPath := filepath.Join(logDir, "notebook-"+strings.ReplaceAll(key, "/", "-")+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer func() { _ = logFile.Close() }() // the child keeps its own descriptor
	cmd := exec.Command(path, opts.Args()...)
	cmd.Dir = opts.Root
	cmd.Env = append(append(os.Environ(), env...), "JUPYTER_TOKEN="+token)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	proc := &localProc{cmd: cmd, port: opts.Port, token: token, log: logPath, done: make(chan struct{})}
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
	return proc, nil
}

// stop ends a server's process group (SIGTERM, then SIGKILL after five
// seconds) and forgets it.
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
		return
	default:
	}
	_ = syscall.Kill(-proc.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-proc.done:
	case <-time.After(5 * time.Second):
	}
	_ = syscall.Kill(-proc.cmd.Process.Pid, syscall.SIGKILL)
}

// localNotebook is notebook() for local processes.
func (r *Reconciler) localNotebook(ctx context.Context, l *quantumv1alpha1.Learner, nb quantumv1alpha1.LearnerNotebook, st quantumv1alpha1.NotebookStatus, name string) (quantumv1alpha1.NotebookStatus, time.Duration, error) {
	key := l.Namespace + "/" + name
	base := nbserver.BasePath(l.Namespace, name)
	phase, proc, act, msg := r.Local.observe(ctx, key, base)
	if proc != nil {
		st.Pod, st.URL = name, "http://127.0.0.1:"+strconv.Itoa(proc.port)+base
	}
	switch phase {
	case localReady:
		// Jupyter shuts itself down after the idle time, but checks only once
		// a minute: the reconciler applies the same rule (no kernel left, no
		// activity for the idle time) when it looks.
		if idle := r.Now().Sub(act.LastActivity); act.Kernels == 0 && !act.LastActivity.IsZero() && idle >= r.Settings.IdleTimeout {
			r.Local.stop(key)
			return r.cull(l, st, quantumv1alpha1.NotebookCulled, "the server shut down after "+r.Settings.IdleTimeout.String()+" without activity")
		}
		st.State, st.Message = quantumv1alpha1.NotebookRunning, ""
		return st, min(30*time.Second, max(time.Second, r.Settings.IdleTimeout/4)), nil
	case localStarting:
		st.State, st.Message = quantumv1alpha1.NotebookStarting, msg
		return st, time.Second, nil
	case localExited:
		return r.cull(l, st, quantumv1alpha1.NotebookCulled, "the server shut down after "+r.Settings.IdleTimeout.String()+" without activity")
	case localFailed:
		return r.cull(l, st, quantumv1alpha1.NotebookFailed, msg)
	}
	if stale, err := r.staleCache(ctx, l, nb.Name); err != nil || stale {
		return st, 0, err
	}
	failed := func(msg string) (quantumv1alpha1.NotebookStatus, time.Duration, error) {
		now := metav1.NewTime(r.Now())
		r.Recorder.Eventf(l, nil, corev1.EventTypeWarning, "NotebookFailed", "Start", "%s", msg)
		return quantumv1alpha1.NotebookStatus{Name: nb.Name, State: quantumv1alpha1.NotebookFailed, Message: msg, CullTime: &now}, 0, nil
	}
	path, err := exec.LookPath(r.Local.Jupyter)
	if err != nil {
		return failed(fmt.Sprintf("jupyter is not installed on this machine (%v): %s", errors.Unwrap(err), InstallHint))
	}
	flavour, err := r.Local.flavour(ctx, path)
	if err != nil {
		return failed(err.Error() + ": " + InstallHint)
	}
	dir, err := r.Local.workspace(l)
	if err != nil {
		return failed("preparing the workspace: " + err.Error())
	}
	token, err := r.ensureToken(ctx, l, nb.Name, name)
	if err != nil {
		return st, 0, err
	}
	env, err := r.notebookEnv(ctx, l, r.Local.APIURL)
	if err != nil {
		return st, 0, err
	}
	opts := ServerOptions{Flavour: flavour, BaseURL: base, Root: dir, Idle: r.Settings.IdleTimeout, AllowRoot: os.Geteuid() == 0}
	proc, err = r.Local.start(key, l, path, opts, envStrings(env), token)
	if err != nil {
		return st, 0, err
	}
	now := metav1.NewTime(r.Now())
	r.Recorder.Eventf(l, nil, corev1.EventTypeNormal, "NotebookStarted", "Start", "started jupyter (%s) for %s on port %d, log %s", flavour, nb.Name, proc.port, proc.log)
	return quantumv1alpha1.NotebookStatus{
		Name: nb.Name, State: quantumv1alpha1.NotebookStarting, Message: startingMessage(proc), Pod: name,
		URL: "http://127.0.0.1:" + strconv.Itoa(proc.port) + base, StartTime: &now, CullTime: st.CullTime,
	}, time.Second, nil
}

func envStrings(env []corev1.EnvVar) []string {
	out := make([]string, 0, len(env))
	for _, e := range env {
		out = append(out, e.Name+"="+e.Value)
	}
	return out
}
