package executor

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/internal/runnerspec"
)

// Names of the runner's RBAC objects. The ClusterRoles are shipped in
// config/rbac/runner_role.yaml; the executor binds them per namespace.
const (
	// RunnerServiceAccount is the service account of runner pods in every project namespace.
	RunnerServiceAccount = "tweezer-runner"
	// RunnerClusterRole lets a runner read batches and jobs and write job status and results.
	RunnerClusterRole = "tweezer-runner"
	// RunnerLeaseClusterRole lets a runner renew the QPU leases in the lease namespace.
	RunnerLeaseClusterRole = "tweezer-runner-lease"
	// ManagedByLabel marks every object the manager creates for runners.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of ManagedByLabel.
	ManagedBy = "tweezer"
	// GatewayTokenKey is the key of the gateway token in the runner's Secret.
	GatewayTokenKey = "token"
)

// Pod runs each runner as a Pod from the device's runner image, in the
// batch's namespace, under a per-namespace service account bound to
// RunnerClusterRole.
type Pod struct {
	// Client writes and reads (from the manager's cache) pods and RBAC objects.
	Client client.Client
	// APIReader confirms that a pod missing from the cache is really gone.
	APIReader client.Reader
	// LeaseNamespace holds QPU leases; QPU runners get a RoleBinding there.
	LeaseNamespace string
	// DefaultImage is used when a device names no runner image.
	DefaultImage string
}

// PodName is the name of a runner's pod.
func PodName(r Runner) string { return Name(r) }

// Start creates the runner's service account, role bindings, gateway Secret
// and Pod, each unless it exists.
func (p *Pod) Start(ctx context.Context, r Runner) error {
	if err := p.ensureRBAC(ctx, r); err != nil {
		return err
	}
	pod, err := p.podFor(r)
	if err != nil {
		return err
	}
	if r.GatewayToken != "" {
		sec := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: r.Namespace, Name: Name(r) + "-gateway",
				Labels:          labels(r),
				OwnerReferences: []metav1.OwnerReference{batchOwner(r)},
			},
			Data: map[string][]byte{GatewayTokenKey: []byte(r.GatewayToken)},
		}
		if err := create(ctx, p.Client, sec); err != nil {
			return err
		}
	}
	return create(ctx, p.Client, pod)
}

func (p *Pod) podFor(r Runner) (*corev1.Pod, error) {
	image := p.DefaultImage
	var res corev1.ResourceRequirements
	if r.Device != nil {
		if r.Device.Spec.RunnerImage != "" {
			image = r.Device.Spec.RunnerImage
		}
		res = *r.Device.Spec.Resources.DeepCopy()
	}
	if r.Image != "" {
		image = r.Image
	}
	if image == "" {
		return nil, fmt.Errorf("device of %s names no runner image and the manager has no default", r)
	}
	c := corev1.Container{
		Name:      "runner",
		Image:     image,
		Args:      r.Args(),
		Resources: res,
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			RunAsNonRoot:             ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
	if r.GatewayToken != "" {
		c.Env = []corev1.EnvVar{{Name: runnerspec.TokenEnv, ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: Name(r) + "-gateway"},
				Key:                  GatewayTokenKey,
			},
		}}}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: r.Namespace, Name: PodName(r),
			Labels:          labels(r),
			OwnerReferences: []metav1.OwnerReference{batchOwner(r)},
		},
		Spec: corev1.PodSpec{
			ServiceAccountName: RunnerServiceAccount,
			RestartPolicy:      corev1.RestartPolicyNever,
			Containers:         []corev1.Container{c},
			SecurityContext: &corev1.PodSecurityContext{
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
		},
	}, nil
}

func (p *Pod) ensureRBAC(ctx context.Context, r Runner) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
		Namespace: r.Namespace, Name: RunnerServiceAccount,
		Labels: map[string]string{ManagedByLabel: ManagedBy},
	}}
	if err := create(ctx, p.Client, sa); err != nil {
		return err
	}
	subject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: r.Namespace, Name: RunnerServiceAccount}}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: r.Namespace, Name: RunnerServiceAccount,
			Labels: map[string]string{ManagedByLabel: ManagedBy},
		},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: RunnerClusterRole},
		Subjects: subject,
	}
	if err := create(ctx, p.Client, rb); err != nil {
		return err
	}
	if r.LeaseNamespace == "" || r.LeaseNamespace == r.Namespace { // workload runners hold no Lease
		return nil
	}
	lrb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: r.LeaseNamespace, Name: RunnerServiceAccount + "-" + r.Namespace,
			Labels: map[string]string{ManagedByLabel: ManagedBy},
		},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: RunnerLeaseClusterRole},
		Subjects: subject,
	}
	return create(ctx, p.Client, lrb)
}

// Observe maps the pod's phase: Pending and Running are Running; a deleted
// or deleting pod is Gone.
func (p *Pod) Observe(ctx context.Context, r Runner) (Observation, error) {
	pod := &corev1.Pod{}
	key := client.ObjectKey{Namespace: r.Namespace, Name: PodName(r)}
	err := p.Client.Get(ctx, key, pod)
	if apierrors.IsNotFound(err) {
		err = p.APIReader.Get(ctx, key, pod)
	}
	if apierrors.IsNotFound(err) {
		return Observation{Phase: Gone, Reason: "runner pod " + key.Name + " was deleted"}, nil
	}
	if err != nil {
		return Observation{}, err
	}
	if pod.DeletionTimestamp != nil {
		return Observation{Phase: Gone, Reason: "runner pod " + key.Name + " is being deleted"}, nil
	}
	switch pod.Status.Phase {
	case corev1.PodSucceeded:
		return Observation{Phase: Succeeded, Reason: "runner pod " + key.Name + " succeeded"}, nil
	case corev1.PodFailed:
		return Observation{Phase: Failed, Reason: "runner pod " + key.Name + " failed: " + podFailure(pod)}, nil
	}
	return Observation{Phase: Running}, nil
}

func podFailure(pod *corev1.Pod) string {
	var parts []string
	if pod.Status.Reason != "" {
		parts = append(parts, pod.Status.Reason)
	}
	if pod.Status.Message != "" {
		parts = append(parts, pod.Status.Message)
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil {
			parts = append(parts, fmt.Sprintf("container %s exited with code %d", cs.Name, t.ExitCode))
			if t.Reason != "" {
				parts = append(parts, t.Reason)
			}
			if t.Message != "" {
				parts = append(parts, t.Message)
			}
		}
	}
	if len(parts) == 0 {
		return "no reason given"
	}
	return strings.Join(parts, "; ")
}

// Stop deletes the runner's pod unless it has already finished (finished pods
// stay for their logs until the batch is deleted).
func (p *Pod) Stop(ctx context.Context, r Runner) error {
	pod := &corev1.Pod{}
	err := p.Client.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: PodName(r)}, pod)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil
	}
	return client.IgnoreNotFound(p.Client.Delete(ctx, pod, client.PropagationPolicy(metav1.DeletePropagationBackground)))
}

// Watch reconciles a batch when one of its runner pods changes.
func (p *Pod) Watch(b *builder.Builder) *builder.Builder {
	return b.Owns(&corev1.Pod{})
}

func labels(r Runner) map[string]string {
	if r.Kind == runnerspec.Workload {
		return map[string]string{ManagedByLabel: ManagedBy, WorkloadLabel: r.Name}
	}
	return map[string]string{ManagedByLabel: ManagedBy, quantumv1alpha1.BatchLabel: r.Name}
}

// WorkloadLabel on a workload runner's pod names its Workload.
const WorkloadLabel = "quantum.tweezer.dev/workload"

func batchOwner(r Runner) metav1.OwnerReference {
	kind := "Batch"
	if r.Kind == runnerspec.Workload {
		kind = "Workload"
	}
	return metav1.OwnerReference{
		APIVersion: quantumv1alpha1.GroupVersion.String(), Kind: kind,
		Name: r.Name, UID: r.OwnerUID,
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}
}

func create(ctx context.Context, c client.Client, obj client.Object) error {
	if err := c.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating %T %s/%s: %w", obj, obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}
