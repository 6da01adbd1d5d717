package executor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/internal/runnerspec"
	"github.com/tweezer-dev/tweezer/runners/qpu"
)

// Names of the runner's RBAC objects. The ClusterRole is shipped in
// config/rbac/runner_role.yaml; the executor binds it per namespace.
const (
	// RunnerServiceAccount is the service account of runner pods in every project namespace.
	RunnerServiceAccount = qpu.RunnerServiceAccount
	// RunnerClusterRole lets a runner read batches and jobs, write job status
	// and results, and renew the Leases of its own namespace (an emulator
	// batch's Lease lives there).
	RunnerClusterRole = "tweezer-runner"
	// ManagedByLabel marks every object the manager creates for runners.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of ManagedByLabel.
	ManagedBy = "tweezer"
	// LeaseAccessLabel marks the Role and RoleBinding that let one batch's
	// runners renew a QPU Lease; its value is LeaseAccessKey of the batch.
	LeaseAccessLabel = "quantum.tweezer.dev/lease-access"
	// GatewayTokenDir is where a QPU runner pod finds its gateway token, a
	// projected service-account token for audience qpu.Audience.
	GatewayTokenDir = "/var/run/secrets/tweezer.dev/gateway"
	// GatewayTokenSeconds is the lifetime of a projected gateway token; the
	// kubelet renews it well before it ends.
	GatewayTokenSeconds = 3600
)

// LeaseAccessKey is the value of LeaseAccessLabel for a batch: a hash, as
// namespace and batch name together may not fit a label value.
func LeaseAccessKey(namespace, batch string) string {
	sum := sha256.Sum256([]byte(namespace + "/" + batch))
	return hex.EncodeToString(sum[:10])
}

// LeaseAccessName is the name of the Role and RoleBinding that let the
// batch's runners get and update the Lease named lease (one per QPU the
// batch ran on).
func LeaseAccessName(namespace, batch, lease string) string {
	sum := sha256.Sum256([]byte(namespace + "/" + batch + "/" + lease))
	return RunnerServiceAccount + "-" + hex.EncodeToString(sum[:10])
}

// Pod runs each runner as a Pod from the device's runner image, in the
// batch's namespace, under the namespace's runner service account bound to
// RunnerClusterRole. A QPU runner may also get and update its QPU's Lease,
// by name, through a Role and RoleBinding in the lease namespace that exist
// while its batch runs (Cleanup removes them); and it authenticates to the
// gateway with a projected service-account token bound to qpu.Audience.
type Pod struct {
	// Client writes and reads (from the manager's cache) pods and RBAC objects.
	Client client.Client
	// APIReader confirms that a pod missing from the cache is really gone.
	APIReader client.Reader
	// LeaseNamespace holds QPU leases; QPU runners get a Role and RoleBinding there.
	LeaseNamespace string
	// DefaultImage is used when a device names no runner image.
	DefaultImage string
	// DefaultResources are the requests and limits of every runner
	// container for what its device does not set (all of them for workload
	// runners, which have no device); DefaultRunnerResources when empty.
	DefaultResources corev1.ResourceRequirements
}

// DefaultRunnerResources are a runner's requests and limits when neither its
// device nor the manager sets them: room for a state vector of 24 atoms
// (runners/emulator sizes its registers from the memory limit).
func DefaultRunnerResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("512Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("2Gi")},
	}
}

// runnerResources completes the device's requests and limits with the
// defaults, key by key; a defaulted request never exceeds the limit.
func (p *Pod) runnerResources(set corev1.ResourceRequirements) corev1.ResourceRequirements {
	def := p.DefaultResources
	if def.Requests == nil && def.Limits == nil {
		def = DefaultRunnerResources()
	}
	out := *set.DeepCopy()
	fill := func(dst *corev1.ResourceList, src corev1.ResourceList) {
		for name, q := range src {
			if _, ok := (*dst)[name]; !ok {
				if *dst == nil {
					*dst = corev1.ResourceList{}
				}
				(*dst)[name] = q.DeepCopy()
			}
		}
	}
	fill(&out.Limits, def.Limits)
	fill(&out.Requests, def.Requests)
	for name, req := range out.Requests {
		if lim, ok := out.Limits[name]; ok && req.Cmp(lim) > 0 {
			if _, own := set.Requests[name]; !own {
				out.Requests[name] = lim.DeepCopy()
			}
		}
	}
	return out
}

// PodName is the name of a runner's pod.
func PodName(r Runner) string { return Name(r) }

// Start creates the runner's service account, role bindings and Pod, each
// unless it exists.
func (p *Pod) Start(ctx context.Context, r Runner) error {
	if err := p.ensureRBAC(ctx, r); err != nil {
		return err
	}
	pod, err := p.podFor(r)
	if err != nil {
		return err
	}
	return create(ctx, p.Client, pod)
}

func (p *Pod) podFor(r Runner) (*corev1.Pod, error) {
	image := p.DefaultImage
	var set corev1.ResourceRequirements
	if r.Device != nil {
		if r.Device.Spec.RunnerImage != "" {
			image = r.Device.Spec.RunnerImage
		}
		set = r.Device.Spec.Resources
	}
	res := p.runnerResources(set)
	if r.Image != "" {
		image = r.Image
	}
	if image == "" {
		return nil, fmt.Errorf("device of %s names no runner image and the manager has no default", r)
	}
	if usesGateway(r) {
		// The runner's own identity, bound to the gateway's audience, from
		// a projected volume (below): no shared secret in the namespace.
		r.GatewayTokenFile = GatewayTokenDir + "/token"
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
	var volumes []corev1.Volume
	if usesGateway(r) {
		// The runner's own identity, bound to the gateway's audience: no
		// shared secret is copied into the project's namespace.
		c.VolumeMounts = []corev1.VolumeMount{{Name: "gateway-token", MountPath: GatewayTokenDir, ReadOnly: true}}
		volumes = []corev1.Volume{{Name: "gateway-token", VolumeSource: corev1.VolumeSource{
			Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{
				ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
					Audience: qpu.Audience, ExpirationSeconds: ptr.To(int64(GatewayTokenSeconds)), Path: "token",
				},
			}}},
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
			Volumes:            volumes,
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
	// The QPU's Lease, by name, for as long as the batch runs: not the other
	// Leases of the lease namespace (other QPUs, the manager's leader
	// election). The Role and RoleBinding cannot be owned by the batch (it is
	// in another namespace): Cleanup deletes them when the batch ends.
	meta := metav1.ObjectMeta{
		Namespace: r.LeaseNamespace, Name: LeaseAccessName(r.Namespace, r.Name, r.LeaseName),
		Labels:      map[string]string{ManagedByLabel: ManagedBy, LeaseAccessLabel: LeaseAccessKey(r.Namespace, r.Name)},
		Annotations: map[string]string{LeaseAccessLabel: r.Namespace + "/" + r.Name}, // for humans
	}
	role := &rbacv1.Role{ObjectMeta: meta, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"},
		ResourceNames: []string{r.LeaseName}, Verbs: []string{"get", "update"},
	}}}
	if err := create(ctx, p.Client, role); err != nil {
		return err
	}
	lrb := &rbacv1.RoleBinding{
		ObjectMeta: *meta.DeepCopy(),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   subject,
	}
	return create(ctx, p.Client, lrb)
}

// Cleanup deletes the Roles and RoleBindings that let the batch's runners
// renew QPU Leases. It reads from the API server, not the cache: the
// manager does not watch RBAC objects.
func (p *Pod) Cleanup(ctx context.Context, namespace, batch string) error {
	if p.LeaseNamespace == "" {
		return nil
	}
	sel := client.MatchingLabels{ManagedByLabel: ManagedBy, LeaseAccessLabel: LeaseAccessKey(namespace, batch)}
	bindings := &rbacv1.RoleBindingList{}
	if err := p.APIReader.List(ctx, bindings, client.InNamespace(p.LeaseNamespace), sel); err != nil {
		return fmt.Errorf("listing the lease bindings of %s/%s: %w", namespace, batch, err)
	}
	for i := range bindings.Items {
		if err := p.Client.Delete(ctx, &bindings.Items[i]); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting role binding %s: %w", bindings.Items[i].Name, err)
		}
	}
	roles := &rbacv1.RoleList{}
	if err := p.APIReader.List(ctx, roles, client.InNamespace(p.LeaseNamespace), sel); err != nil {
		return fmt.Errorf("listing the lease roles of %s/%s: %w", namespace, batch, err)
	}
	for i := range roles.Items {
		if err := p.Client.Delete(ctx, &roles.Items[i]); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting role %s: %w", roles.Items[i].Name, err)
		}
	}
	return nil
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
			if t.Reason == "OOMKilled" {
				parts = append(parts, outOfMemory(pod, cs.Name))
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

// outOfMemory explains an OOMKilled container: the kernel killed it when
// it used more than its memory limit (the device's resources).
func outOfMemory(pod *corev1.Pod, container string) string {
	for _, c := range pod.Spec.Containers {
		if q, ok := c.Resources.Limits[corev1.ResourceMemory]; c.Name == container && ok {
			return "the kernel killed it for using more than its memory limit of " + q.String() + " (the device's resources.limits.memory)"
		}
	}
	return "the kernel killed it for lack of memory"
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
