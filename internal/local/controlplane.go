package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/tweezer-dev/tweezer/internal/controlplane"
)

// startControlPlane starts etcd (its data kept under dataDir/etcd, so objects
// survive a restart) and kube-apiserver (fresh certificates each start), and
// installs the CRDs and the admission policies (config/admission). It writes an admin kubeconfig to dataDir/kubeconfig.
// configure, when set, adjusts kube-apiserver before it starts (a node's).
func startControlPlane(dataDir string, configure func(*envtest.APIServer) error) (*envtest.Environment, *rest.Config, string, error) {
	env, err := controlplane.New()
	if err != nil {
		return nil, nil, "", err
	}
	if configure != nil {
		if err := configure(env.ControlPlane.GetAPIServer()); err != nil {
			return nil, nil, "", err
		}
	}
	etcdDir := filepath.Join(dataDir, "etcd")
	if err := os.MkdirAll(etcdDir, 0o700); err != nil {
		return nil, nil, "", err
	}
	env.ControlPlane.Etcd = &envtest.Etcd{DataDir: etcdDir}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, "", fmt.Errorf("starting the control plane: %w", err)
	}
	admin, err := env.AddUser(envtest.User{Name: "tweezer-admin", Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		_ = env.Stop()
		return nil, nil, "", fmt.Errorf("creating the admin user: %w", err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		_ = env.Stop()
		return nil, nil, "", err
	}
	path := filepath.Join(dataDir, "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		_ = env.Stop()
		return nil, nil, "", err
	}
	return env.Environment, admin.Config(), path, nil
}

// applyDir server-side-applies every YAML document of the files in dir.
func applyDir(ctx context.Context, c client.Client, dir string) error {
	return controlplane.ApplyDir(ctx, c, dir, "tweezer-local")
}
