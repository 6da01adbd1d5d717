// Package controlplane starts Tweezer's own Kubernetes control plane: etcd and
// kube-apiserver built from Go modules by hack/envtest-bins.sh, with the
// Tweezer CRDs and admission policies installed. Local mode runs on it, and
// every envtest suite starts its control plane through it (via hack/testenv).
package controlplane

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// RepoRoot is the absolute path of the repository checkout.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Scheme knows the built-in kinds and the Tweezer kinds.
func Scheme() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := quantumv1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// AssetsDir returns the folder holding etcd and kube-apiserver: KUBEBUILDER_ASSETS
// when set, else the cache that hack/envtest-bins.sh fills (building it on first use).
func AssetsDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	cmd := exec.Command(filepath.Join(RepoRoot(), "hack", "envtest-bins.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("building the envtest binaries with hack/envtest-bins.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// New returns an envtest environment with the Tweezer CRDs and admission
// policies, not yet started.
func New() (*Environment, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	return &Environment{Environment: &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
		Scheme:                Scheme(),
	}}, nil
}
