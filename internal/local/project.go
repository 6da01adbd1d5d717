package local

import (
	"context"
	"fmt"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/internal/devices"
)

// DemoProjectID is the project that local mode creates for its demo user.
const DemoProjectID = "5f0b2a5e-7c1d-4b8e-9a3f-2d6e8c4b1a70"

// demoUser is the ServiceAccount, in the demo project's namespace, whose token local mode prints.
const demoUser = "demo-user"

// createIfMissing creates obj and treats AlreadyExists as success, so that a
// second start of local mode reuses what the first one made.
func createIfMissing(ctx context.Context, c client.Client, obj client.Object) error {
	if err := c.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
	}
	return nil
}

// DefaultDevices returns one Device per documented device type, carrying the
// built-in catalog's Pulser specs. FRESNEL is the QPU, reached through the
// gateway at gatewayURL; the emulators run two batches at a time. Local mode
// creates them; config/devices holds the same objects for a cluster.
func DefaultDevices(gatewayURL, runnerImage string) []v1.Device {
	var out []v1.Device
	for _, dt := range v1.DeviceTypes {
		specs, _ := devices.Specs(string(dt))
		d := v1.Device{
			TypeMeta:   metav1.TypeMeta{APIVersion: v1.GroupVersion.String(), Kind: "Device"},
			ObjectMeta: metav1.ObjectMeta{Name: strings.ReplaceAll(strings.ToLower(string(dt)), "_", "-")},
			Spec: v1.DeviceSpec{
				DeviceType:         dt,
				Availability:       v1.DeviceUp,
				Active:             ptr.To(true),
				Public:             true,
				Specs:              specs,
				IsEmulator:         dt != v1.DeviceTypeFresnel,
				AllowedResultTypes: []v1.ResultsType{"counter", "run"},
				DefaultResultTypes: []v1.ResultsType{"counter"},
				RunnerImage:        runnerImage,
				Concurrency:        2,
				TimeLimit:          &metav1.Duration{Duration: time.Hour},
			},
		}
		d.Spec.Resources = DeviceResources(dt)
		if dt == v1.DeviceTypeFresnel {
			d.Spec.Concurrency = 1
			d.Spec.Gateway = &v1.QPUGateway{URL: gatewayURL}
		}
		out = append(out, d)
	}
	return out
}

// DeviceResources are the runner pods' requests and limits of a default
// device. A QPU runner only talks to its gateway; an emulator's memory
// limit sizes the largest register it takes (runners/emulator.MaxAtoms:
// 4 GiB holds a state vector of 26 atoms).
func DeviceResources(dt v1.DeviceType) corev1.ResourceRequirements {
	rl := func(cpu, mem string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
	}
	switch dt {
	case v1.DeviceTypeFresnel:
		return corev1.ResourceRequirements{Requests: rl("100m", "128Mi"), Limits: rl("500m", "512Mi")}
	case v1.DeviceTypeEmuMPS, v1.DeviceTypeEmuTN:
		return corev1.ResourceRequirements{Requests: rl("1", "1Gi"), Limits: rl("2", "4Gi")}
	default:
		return corev1.ResourceRequirements{Requests: rl("500m", "1Gi"), Limits: rl("2", "4Gi")}
	}
}

// ensureDevices creates the default devices that do not exist yet; devices
// changed by an operator are left as they are.
func ensureDevices(ctx context.Context, c client.Client, gatewayURL, runnerImage string) error {
	for _, d := range DefaultDevices(gatewayURL, runnerImage) {
		if err := createIfMissing(ctx, c, &d); err != nil {
			return err
		}
	}
	return nil
}

// ensureProject creates the demo project (a labelled namespace whose maximum
// queue priority is HIGH) with its user bound to the tweezer-user ClusterRole,
// and returns a fresh bearer token for that user.
func ensureProject(ctx context.Context, c client.Client, cs kubernetes.Interface, projectID string) (string, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: projectID,
		Labels: map[string]string{
			v1.ProjectIDLabel:        projectID,
			v1.MaxQueuePriorityLabel: string(v1.QueuePriorityHigh),
		},
	}}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: projectID, Name: demoUser}}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: projectID, Name: demoUser + "-tweezer-user"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "tweezer-user"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: projectID, Name: demoUser}},
	}
	for _, obj := range []client.Object{ns, sa, rb} {
		if err := createIfMissing(ctx, c, obj); err != nil {
			return "", err
		}
	}
	tr, err := cs.CoreV1().ServiceAccounts(projectID).CreateToken(ctx, demoUser, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(24 * 3600))},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting a token for %s: %w", demoUser, err)
	}
	return tr.Status.Token, nil
}

// AddProject creates another project like the demo one (a labelled namespace
// with a user bound to tweezer-user; nothing when it exists) and returns a
// fresh token of its user, who belongs to that project only.
func (p *Platform) AddProject(ctx context.Context, projectID string) (string, error) {
	cs, err := kubernetes.NewForConfig(p.env.Config)
	if err != nil {
		return "", err
	}
	return ensureProject(ctx, p.Admin, cs, projectID)
}
