// Package testenv is the envtest scaffolding of the test suites: the control
// plane of internal/controlplane, an admin client and project namespaces.
package testenv

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
)

// ProjectNamespace returns a namespace object for a project: a namespace
// labelled with the project id, named after it.
func ProjectNamespace(projectID string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   projectID,
		Labels: map[string]string{quantumv1alpha1.ProjectIDLabel: projectID},
	}}
}

// Start starts a control plane with the Tweezer CRDs and admission policies
// and returns it with its
// config and an admin client (that can also watch). Stop the environment when done.
func Start() (*envtest.Environment, *rest.Config, client.WithWatch, error) {
	env, err := controlplane.New()
	if err != nil {
		return nil, nil, nil, err
	}
	return start(env)
}

func start(env *controlplane.Environment) (*envtest.Environment, *rest.Config, client.WithWatch, error) {
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("starting the control plane: %w", err)
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: controlplane.Scheme()})
	if err != nil {
		_ = env.Stop()
		return nil, nil, nil, err
	}
	return env.Environment, cfg, c, nil
}

// Restartable is a control plane whose kube-apiserver can be stopped and
// started again, for tests of API outages: it comes back on the same port,
// with the same serving certificate and client CA and on the same etcd, so
// that clients made before the outage work after it.
type Restartable struct {
	Env    *envtest.Environment
	Config *rest.Config
	Client client.WithWatch
	dir    string
}

// StartRestartable is Start for a Restartable control plane. Stop it when done.
func StartRestartable() (*Restartable, error) {
	env, err := controlplane.New()
	if err != nil {
		return nil, err
	}
	// envtest deletes a certificate folder of its own at every stop and
	// makes a new CA at the next start; a folder given to it is kept.
	dir, err := os.MkdirTemp("", "tweezer-apiserver-")
	if err != nil {
		return nil, err
	}
	env.ControlPlane.GetAPIServer().CertDir = dir
	// kube-apiserver may take tens of seconds to drain its clients' watches
	// after SIGTERM: it is killed after a short grace, as a crash would end
	// it. A restart on a loaded machine may take longer than envtest's 20 s.
	env.ControlPlaneStopTimeout = stopGrace
	env.ControlPlaneStartTimeout = 2 * time.Minute
	e, cfg, c, err := start(env)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return &Restartable{Env: e, Config: cfg, Client: c, dir: dir}, nil
}

// stopGrace is how long kube-apiserver gets between SIGTERM and SIGKILL.
const stopGrace = 2 * time.Second

// StopAPIServer stops kube-apiserver (SIGTERM, SIGKILL after a 2 s grace)
// and waits until its port refuses connections; etcd keeps running.
func (r *Restartable) StopAPIServer() error {
	api := r.Env.ControlPlane.APIServer
	if err := killed(api.Stop()); err != nil {
		return err
	}
	addr := net.JoinHostPort(api.SecureServing.Address, api.SecureServing.Port)
	for deadline := time.Now().Add(time.Minute); ; {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return nil
		}
		_ = conn.Close()
		if time.Now().After(deadline) {
			return fmt.Errorf("kube-apiserver still accepts connections on %s a minute after it was stopped", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// killed accepts envtest's reports that processes had to be killed.
func killed(err error) error {
	errs := []error{err}
	if agg, ok := err.(kerrors.Aggregate); ok {
		errs = agg.Errors()
	}
	for _, e := range errs {
		if e != nil && !strings.HasPrefix(e.Error(), "timeout waiting for process ") {
			return err
		}
	}
	return nil
}

// StartAPIServer starts kube-apiserver again and waits until it is healthy.
func (r *Restartable) StartAPIServer() error { return r.Env.ControlPlane.APIServer.Start() }

// Stop stops the control plane and removes its certificates.
func (r *Restartable) Stop() error {
	err := killed(r.Env.Stop())
	if rmErr := os.RemoveAll(r.dir); err == nil {
		err = rmErr
	}
	return err
}

// ControllerManagerBinary is where hack/local-bins.sh caches
// kube-controller-manager (make test builds it; so does make run).
func ControllerManagerBinary() string {
	return filepath.Join(controlplane.RepoRoot(), "bin", "k8s", "kube-controller-manager-v1.37.2", "kube-controller-manager")
}

// StartControllerManager runs kube-controller-manager against env with the
// given controllers (e.g. "resourcequota-controller",
// "garbage-collector-controller"), as an administrator, logging to w. It
// fails when the binary is missing (run KUBECTL=0 hack/local-bins.sh). Call
// stop when done: it ends the process it started.
func StartControllerManager(env *envtest.Environment, w io.Writer, controllers ...string) (stop func(), err error) {
	bin := ControllerManagerBinary()
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("no kube-controller-manager (build it with KUBECTL=0 hack/local-bins.sh; make test does): %w", err)
	}
	admin, err := env.AddUser(envtest.User{Name: "tweezer-kcm", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, err
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tweezer-kcm-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(bin,
		"--kubeconfig", path,
		"--controllers", strings.Join(controllers, ","),
		"--leader-elect=false",
		"--secure-port", "0",
		"--use-service-account-credentials=false",
	)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("starting kube-controller-manager: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = os.RemoveAll(dir)
	}, nil
}
