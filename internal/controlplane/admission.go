package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// Environment is an envtest control plane whose Start also installs
// Tweezer's admission policies (config/admission) and flow control
// (config/flowcontrol), so that every suite and local mode run under the
// rules a cluster enforces.
type Environment struct {
	*envtest.Environment
}

// Start starts etcd and kube-apiserver, installs the CRDs, the admission
// policies and the flow control configuration, and waits until the
// policies are in force.
func (e *Environment) Start() (*rest.Config, error) {
	cfg, err := e.Environment.Start()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := InstallAdmission(ctx, cfg); err != nil {
		_ = e.Environment.Stop()
		return nil, fmt.Errorf("installing the admission policies: %w", err)
	}
	if err := InstallFlowControl(ctx, cfg); err != nil {
		_ = e.Environment.Stop()
		return nil, fmt.Errorf("installing the flow control configuration: %w", err)
	}
	return cfg, nil
}

// FlowControlDir is the folder of the API Priority and Fairness configuration.
func FlowControlDir() string { return filepath.Join(RepoRoot(), "config", "flowcontrol") }

// InstallFlowControl applies config/flowcontrol with cfg (an administrator):
// tenants' requests on Tweezer's kinds queue fairly by namespace. It does
// not wait: kube-apiserver takes the configuration up within a moment, and
// until then requests are classified as before.
func InstallFlowControl(ctx context.Context, cfg *rest.Config) error {
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return err
	}
	return ApplyDir(ctx, c, FlowControlDir(), "tweezer-controlplane")
}

// AdmissionDir is the folder of the admission policies.
func AdmissionDir() string { return filepath.Join(RepoRoot(), "config", "admission") }

// InstallAdmission applies config/admission with cfg (an administrator) and
// waits until kube-apiserver enforces it: policies are loaded by informers,
// so a write right after their creation could still pass unchecked.
func InstallAdmission(ctx context.Context, cfg *rest.Config) error {
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return err
	}
	if err := ApplyDir(ctx, c, AdmissionDir(), "tweezer-controlplane"); err != nil {
		return err
	}
	return waitForAdmission(ctx, c, cfg)
}

// ApplyDir server-side-applies every YAML document of the files in dir
// (kustomization.yaml aside) as fieldOwner.
func ApplyDir(ctx context.Context, c client.Client, dir, fieldOwner string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		if err := applyFile(ctx, c, f, fieldOwner); err != nil {
			return err
		}
	}
	return nil
}

func applyFile(ctx context.Context, c client.Client, path, fieldOwner string) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = fh.Close() }()
	dec := utilyaml.NewYAMLOrJSONDecoder(fh, 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("%s: %w", path, err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		if err := c.Patch(ctx, obj, client.Apply, client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying %s %s from %s: %w", obj.GetKind(), obj.GetName(), path, err)
		}
	}
}

// probeUser may create use cases and nothing else; waitForAdmission writes
// as this user, with dry-run, until both kinds of policy answer.
const probeUser = "tweezer:admission-probe"

func waitForAdmission(ctx context.Context, admin client.Client, cfg *rest.Config) error {
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "tweezer-admission-probe"},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{quantumv1alpha1.GroupVersion.Group}, Resources: []string{"usecases"}, Verbs: []string{"create"},
		}},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "tweezer-admission-probe"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: probeUser}},
	}
	for _, o := range []client.Object{role, binding} {
		if err := admin.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	defer func() {
		_ = admin.Delete(context.Background(), binding)
		_ = admin.Delete(context.Background(), role)
	}()
	pcfg := rest.CopyConfig(cfg)
	pcfg.Impersonate = rest.ImpersonationConfig{UserName: probeUser, Groups: []string{"system:authenticated"}}
	probe, err := client.New(pcfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return err
	}
	newUseCase := func() *quantumv1alpha1.UseCase {
		return &quantumv1alpha1.UseCase{
			ObjectMeta: metav1.ObjectMeta{Name: "admission-probe", Namespace: metav1.NamespaceDefault},
			Spec:       quantumv1alpha1.UseCaseSpec{Title: "probe", ValidationStatus: quantumv1alpha1.ValidationDraft},
		}
	}
	for {
		// The mutating policy fills in the owner...
		mutated := false
		u := newUseCase()
		err := probe.Create(ctx, u, client.DryRunAll)
		if err == nil && u.Spec.UserID == probeUser {
			mutated = true
		}
		// ...and the validating ones refuse an example from a non-reviewer.
		validated := false
		u = newUseCase()
		u.Spec.UserID, u.Spec.Example = probeUser, true
		if err := probe.Create(ctx, u, client.DryRunAll); err != nil && strings.Contains(err.Error(), "tweezer-use-case-review") {
			validated = true
		}
		if mutated && validated {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the admission policies are not in force (owner filled in: %v, example refused: %v; last error: %v)", mutated, validated, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
