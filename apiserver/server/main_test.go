package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/budget"
	"github.com/tweezer-dev/tweezer/apiserver/server"
	"github.com/tweezer-dev/tweezer/hack/testenv"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
)

// The suite's control plane, facade and identities.
var (
	admin   client.Client
	restCfg *rest.Config // the control plane, as an administrator
	// facadeCfg is the facade's own identity (for a second replica).
	facadeCfg *rest.Config
	facade    *httptest.Server
	// newFacade starts another replica of the facade, with the same identity
	// and configuration, against the same control plane.
	newFacade func() (*httptest.Server, error)
	// newFacadeWith does the same with its own connection to the control
	// plane (the facade's identity, e.g. with a wrapped transport).
	newFacadeWith func(*rest.Config) (*httptest.Server, error)
	// facadeCache is the informer cache of the first facade.
	facadeCache client.Reader
	// suiteConfig is the facades' configuration.
	suiteConfig server.Config
	tokens      = map[string]string{} // alice, bob, reader, super, worker, nobody
	projA       = "0b6f3c6e-6a43-4d1e-9a55-1f0f6f3d2a01"
	projB       = "7d1c1f0e-2f44-4a8e-8f7e-3c9d5b2e4b02"
	projBig     = "c3a9e0b1-8d2f-4c55-b6e1-5a7f0d9e8c03"
)

const usersNS = "tweezer-users"

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	ctrl.SetLogger(logr.Discard())
	env, err := controlplane.New()
	if err != nil {
		return 0, err
	}
	cfg, err := env.Start()
	if err != nil {
		return 0, err
	}
	defer func() { _ = env.Stop() }()
	restCfg = cfg
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	if admin, err = client.New(cfg, client.Options{Scheme: server.Scheme()}); err != nil {
		return 0, err
	}
	// The facade runs as a plain user holding only its generated role.
	facadeUser, err := env.AddUser(envtest.User{Name: "tweezer-apiserver"}, nil)
	if err != nil {
		return 0, err
	}
	facadeCfg = facadeUser.Config()
	root := controlplane.RepoRoot()
	for _, f := range []string{"config/rbac/apiserver/role.yaml", "config/rbac/roles/tweezer-user.yaml", "config/rbac/roles/tweezer-user-facade.yaml", "config/rbac/roles/tweezer-superuser.yaml", "config/rbac/roles/tweezer-worker.yaml"} {
		raw, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			return 0, err
		}
		for _, doc := range strings.Split(string(raw), "\n---\n") {
			var meta metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
				return 0, fmt.Errorf("%s: %w", f, err)
			}
			var role client.Object = &rbacv1.ClusterRole{}
			if meta.Kind == "Role" {
				role = &rbacv1.Role{}
			}
			if err := yaml.Unmarshal([]byte(doc), role); err != nil {
				return 0, fmt.Errorf("%s: %w", f, err)
			}
			if ns := role.GetNamespace(); ns != "" {
				// The facade's Role in its own namespace, bound as config/rbac does.
				if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
					return 0, err
				}
				rb := binding(ns, role.GetName(), "Role", rbacv1.Subject{Kind: "User", Name: "tweezer-apiserver"})
				if err := admin.Create(ctx, rb); err != nil {
					return 0, err
				}
			}
			if err := admin.Create(ctx, role); err != nil {
				return 0, err
			}
		}
	}
	must := func(objs ...client.Object) error {
		for _, o := range objs {
			if err := admin.Create(ctx, o); err != nil {
				return err
			}
		}
		return nil
	}
	if err := must(
		clusterBinding("tweezer-apiserver", rbacv1.Subject{Kind: "User", Name: "tweezer-apiserver"}),
		testenv.ProjectNamespace(projA), testenv.ProjectNamespace(projB), testenv.ProjectNamespace(projBig),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: usersNS}},
	); err != nil {
		return 0, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return 0, err
	}
	for _, name := range []string{"alice", "bob", "reader", "super", "worker", "nobody"} {
		if err := must(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: usersNS}}); err != nil {
			return 0, err
		}
		tr, err := cs.CoreV1().ServiceAccounts(usersNS).CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			return 0, fmt.Errorf("token for %s: %w", name, err)
		}
		tokens[name] = tr.Status.Token
	}
	sa := func(name string) rbacv1.Subject {
		return rbacv1.Subject{Kind: "ServiceAccount", Name: name, Namespace: usersNS}
	}
	readOnly := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "read-only", Namespace: projA},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{quantumv1alpha1.GroupVersion.Group}, Resources: []string{"batches", "jobs", "devices"}, Verbs: []string{"get", "list", "watch"}}},
	}
	if err := must(
		binding(projA, "tweezer-user", "ClusterRole", sa("alice")),
		binding(projBig, "tweezer-user", "ClusterRole", sa("alice")),
		binding(projB, "tweezer-user", "ClusterRole", sa("bob")),
		readOnly, binding(projA, "read-only", "Role", sa("reader")),
		clusterBinding("tweezer-superuser", sa("super")),
		clusterBinding("tweezer-worker", sa("worker")),
		device("fresnel", quantumv1alpha1.DeviceTypeFresnel, false),
		device("emu-free", quantumv1alpha1.DeviceTypeEmuFree, true),
	); err != nil {
		return 0, err
	}
	for _, m := range []struct{ name, ns, resource string }{
		{"alice", projA, "workloads"}, {"alice", projBig, "workloads"}, {"bob", projB, "workloads"}, {"reader", projA, "batches"},
	} {
		if err := awaitAllowed(ctx, "system:serviceaccount:"+usersNS+":"+m.name, m.ns, "get", m.resource); err != nil {
			return 0, err
		}
	}

	if err := startBatchController(ctx, cfg); err != nil {
		return 0, err
	}
	c := server.Defaults()
	c.AuthCacheTTL = time.Second
	c.BodyReadTimeout = time.Second
	c.NotebookWait = 300 * time.Millisecond // no notebook controller runs here
	// The suite writes far faster than a project's write budget allows;
	// budget_test.go turns it on for its own facade.
	c.ProjectWrites = budget.Limits{}
	var firstCache client.Reader
	suiteConfig = c
	newFacadeWith = func(kube *rest.Config) (*httptest.Server, error) {
		// Each replica's links name its own address, as a configured public URL.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		rc := c
		rc.PublicURL = "http://" + ln.Addr().String()
		s, err := server.New(kube, rc)
		if err != nil {
			return nil, err
		}
		if err := s.StartCache(ctx); err != nil {
			return nil, err
		}
		if firstCache == nil {
			firstCache = s.Cache()
		}
		srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: s.Handler()}}
		srv.Start()
		return srv, nil
	}
	newFacade = func() (*httptest.Server, error) { return newFacadeWith(facadeCfg) }
	if facade, err = newFacade(); err != nil {
		return 0, err
	}
	facadeCache = firstCache
	defer facade.Close()
	return m.Run(), nil
}

// newUser creates the service account name in usersNS and returns a token
// of it.
func newUser(ctx context.Context, name string) (string, error) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: usersNS}}
	if err := admin.Create(ctx, sa); err != nil {
		return "", err
	}
	tr := &authenticationv1.TokenRequest{}
	if err := admin.SubResource("token").Create(ctx, sa, tr); err != nil {
		return "", err
	}
	return tr.Status.Token, nil
}

// bindMember makes the service account name (in usersNS) a member of
// project ns and waits until kube-apiserver's authorizer says so: RBAC
// reads bindings from its own informer, so a request made right after the
// Create may still be refused, and the facade would answer 404.
func bindMember(ctx context.Context, ns, name string) error {
	subject := rbacv1.Subject{Kind: "ServiceAccount", Name: name, Namespace: usersNS}
	if err := admin.Create(ctx, binding(ns, "tweezer-user", "ClusterRole", subject)); err != nil {
		return err
	}
	return awaitAllowed(ctx, "system:serviceaccount:"+usersNS+":"+name, ns, "create", "workloads")
}

// awaitAllowed polls a SubjectAccessReview for ten seconds until user may
// verb resource (of the Tweezer group) in ns.
func awaitAllowed(ctx context.Context, user, ns, verb, resource string) error {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: ns, Verb: verb, Group: quantumv1alpha1.GroupVersion.Group, Resource: resource,
			},
		}}
		if err := admin.Create(ctx, sar); err != nil {
			return err
		}
		if sar.Status.Allowed {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still may not %s %s in %s after ten seconds", user, verb, resource, ns)
		}
	}
}

func binding(ns, role, kind string, subject rbacv1.Subject) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{GenerateName: role + "-", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: role},
		Subjects:   []rbacv1.Subject{subject},
	}
}

func clusterBinding(role string, subject rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{GenerateName: role + "-"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{subject},
	}
}

func device(name string, t quantumv1alpha1.DeviceType, public bool) *quantumv1alpha1.Device {
	return &quantumv1alpha1.Device{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       quantumv1alpha1.DeviceSpec{DeviceType: t, Availability: quantumv1alpha1.DeviceUp, Public: public, IsEmulator: t != quantumv1alpha1.DeviceTypeFresnel},
	}
}

// response is a decoded facade answer.
type response struct {
	status int
	body   map[string]any
	raw    []byte
	header http.Header
}

func (r response) data() map[string]any {
	d, _ := r.body["data"].(map[string]any)
	return d
}

func (r response) list() []any {
	d, _ := r.body["data"].([]any)
	return d
}

// call sends a request as the SDK does: JSON, optionally gzip-compressed,
// with a bearer token when one is given.
func call(t testing.TB, method, path, token string, body any, gz bool) response {
	t.Helper()
	var rd io.Reader
	hdr := http.Header{"Content-Type": {"application/json"}, "User-Agent": {"PasqalCloudSDK/test"}}
	if body != nil {
		var raw []byte
		switch b := body.(type) {
		case []byte:
			raw = b
		default:
			var err error
			if raw, err = json.Marshal(body); err != nil {
				t.Fatal(err)
			}
		}
		if gz {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			_, _ = zw.Write(raw)
			_ = zw.Close()
			raw = buf.Bytes()
			hdr.Set("Content-Encoding", "gzip")
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, facade.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = hdr
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{status: resp.StatusCode, raw: raw, header: resp.Header}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

// expect fails unless the response has this status; it returns it for chaining.
func expect(t testing.TB, r response, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	return r
}
