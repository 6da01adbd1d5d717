// Package testenv is the envtest scaffolding of the test suites: the control
// plane of internal/controlplane, an admin client and project namespaces.
package testenv

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
