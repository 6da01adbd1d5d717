// Package testenv is the envtest scaffolding of the test suites: the control
// plane of internal/controlplane, an admin client and project namespaces.
package testenv

import (
	"fmt"

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
