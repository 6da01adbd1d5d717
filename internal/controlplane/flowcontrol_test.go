package controlplane_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/tweezer-dev/tweezer/hack/testenv"
)

// kube-apiserver classifies a tenant's requests on Tweezer's kinds in a
// namespace by the FlowSchema tweezer-tenants (fair queuing by namespace),
// the platform's service accounts by tweezer-platform, and a tenant's other
// requests as before: config/flowcontrol is applied by Start and in force.
func TestFlowControlIsApplied(t *testing.T) {
	env, cfg, admin, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	ctx := context.Background()
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "p1"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tweezer-system"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "tweezer-manager", Namespace: "tweezer-system"}},
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "everyone-reads"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects: []rbacv1.Subject{
				{Kind: "User", Name: "tenant", APIGroup: rbacv1.GroupName},
				{Kind: "ServiceAccount", Name: "tweezer-manager", Namespace: "tweezer-system"},
			},
		},
	} {
		if err := admin.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	tenant, err := env.AddUser(envtest.User{Name: "tenant"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts("tweezer-system").CreateToken(ctx, "tweezer-manager", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	manager := rest.AnonymousClientConfig(cfg)
	manager.BearerToken = tr.Status.Token

	uid := func(name string) string {
		var fs flowcontrolv1.FlowSchema
		if err := admin.Get(ctx, client.ObjectKey{Name: name}, &fs); err != nil {
			t.Fatal(err)
		}
		return string(fs.UID)
	}
	tenants, platform := uid("tweezer-tenants"), uid("tweezer-platform")
	// The FlowSchema kube-apiserver matched a request to, by its response
	// header, retried while kube-apiserver answers other than 200 (a new
	// kind's storage answers 429 while it initializes).
	matched := func(as *rest.Config, path string) string {
		hc, err := rest.HTTPClientFor(as)
		if err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			resp, err := hc.Get(strings.TrimRight(as.Host, "/") + path)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return resp.Header.Get("X-Kubernetes-PF-FlowSchema-UID")
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s: %d %s", path, resp.StatusCode, raw)
			}
		}
	}
	const batches = "/apis/quantum.tweezer.dev/v1alpha1/namespaces/p1/batches"
	// kube-apiserver takes the configuration up within a moment.
	for deadline := time.Now().Add(30 * time.Second); matched(tenant.Config(), batches) != tenants; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a tenant's list of batches is matched by FlowSchema %s, not tweezer-tenants (%s)", matched(tenant.Config(), batches), tenants)
		}
	}
	if got := matched(manager, batches); got != platform {
		t.Errorf("the manager's list of batches is matched by FlowSchema %s, not tweezer-platform (%s)", got, platform)
	}
	if got := matched(tenant.Config(), "/api/v1/namespaces/p1/configmaps"); got == tenants || got == platform || got == "" {
		t.Errorf("a tenant's list of ConfigMaps is matched by FlowSchema %q, want one of the cluster's own", got)
	}
	var fs flowcontrolv1.FlowSchema
	if err := admin.Get(ctx, client.ObjectKey{Name: "tweezer-tenants"}, &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Spec.DistinguisherMethod == nil || fs.Spec.DistinguisherMethod.Type != flowcontrolv1.FlowDistinguisherMethodByNamespaceType {
		t.Errorf("tweezer-tenants distinguishes flows by %v, want ByNamespace", fs.Spec.DistinguisherMethod)
	}
	for _, c := range fs.Status.Conditions {
		if c.Type == flowcontrolv1.FlowSchemaConditionDangling && c.Status != flowcontrolv1.ConditionFalse {
			t.Errorf("tweezer-tenants is dangling: %s", c.Message)
		}
	}
}
