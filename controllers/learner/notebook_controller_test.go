package learner

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/executor"
	"github.com/tweezer-dev/tweezer/hack/testenv"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
	"github.com/tweezer-dev/tweezer/internal/nbserver"
)

// No kubelet runs in envtest: the tests set the notebook pods' phases, and a
// settable clock stands in for waiting out the idle timeout.

const idle = 30 * time.Minute

var (
	ctx      = context.Background()
	k8s      client.Client
	recorder events.EventRecorder
	ns       string
	clock    = &testClock{t: time.Now()}
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	os.Exit(func() int {
		env, cfg, c, err := testenv.Start()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer func() { _ = env.Stop() }()
		k8s = c
		pns := testenv.ProjectNamespace("p-" + rand.String(8))
		if err := k8s.Create(ctx, pns); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		ns = pns.Name
		// The manager watches the pod-based tests' namespace only; local.go's
		// tests reconcile by hand in their own.
		mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: controlplane.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"},
			Cache: cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}}})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		recorder = mgr.GetEventRecorder("learner")
		r := &Reconciler{
			Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder, Now: clock.Now,
			Settings: Settings{
				Image:       "jupyter/scipy-notebook:2026-01",
				Resources:   corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")}},
				IdleTimeout: idle,
				PublicURL:   "https://learn.example.com/",
				// An ingress controller serves PublicURL.
				IngressNamespace: "ingress-nginx",
			},
		}
		if err := r.SetupWithManager(mgr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		mctx, stop := context.WithCancel(ctx)
		defer stop()
		go func() { _ = mgr.Start(mctx) }()
		return m.Run()
	}())
}

func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) { return cond() }); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func newLearner(t *testing.T, user string, notebooks ...string) *v1.Learner {
	t.Helper()
	user += "-" + rand.String(6)
	l := &v1.Learner{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: v1.LearnerName(user, "LEARN_BY_CODING")},
		Spec:       v1.LearnerSpec{UserID: user, Package: "LEARN_BY_CODING"},
	}
	for _, n := range notebooks {
		l.Spec.Notebooks = append(l.Spec.Notebooks, v1.LearnerNotebook{Name: n, RequestTime: metav1.NewTime(clock.Now())})
	}
	if err := k8s.Create(ctx, l); err != nil {
		t.Fatal(err)
	}
	return l
}

// request asks for a notebook again, as the facade does.
func request(t *testing.T, l *v1.Learner, notebook string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(l), l); err != nil {
			return err
		}
		for i := range l.Spec.Notebooks {
			if l.Spec.Notebooks[i].Name == notebook {
				l.Spec.Notebooks[i].RequestTime = metav1.NewTime(clock.Now())
			}
		}
		return k8s.Update(ctx, l)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func waitState(t *testing.T, l *v1.Learner, notebook string, state v1.NotebookState) v1.NotebookStatus {
	t.Helper()
	var got v1.NotebookStatus
	eventually(t, notebook+" "+string(state), func() (bool, error) {
		cur := &v1.Learner{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(l), cur); err != nil {
			return false, err
		}
		for _, st := range cur.Status.Notebooks {
			if st.Name == notebook && st.State == state {
				got = st
				return true, nil
			}
		}
		return false, nil
	})
	return got
}

func getPod(t *testing.T, l *v1.Learner, notebook string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{}
	eventually(t, "the pod of "+notebook, func() (bool, error) {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: nbserver.ServerName(l.Name, notebook)}, pod)
		return err == nil && pod.DeletionTimestamp == nil, client.IgnoreNotFound(err)
	})
	return pod
}

func setPod(t *testing.T, pod *corev1.Pod, phase corev1.PodPhase, ready bool) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return err
		}
		pod.Status.Phase = phase
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
		if phase == corev1.PodFailed {
			pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "notebook", State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}}}
		}
		return k8s.Status().Update(ctx, pod)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func expectGone(t *testing.T, name string) {
	t.Helper()
	for _, obj := range []client.Object{&corev1.Pod{}, &corev1.Service{}, &corev1.ConfigMap{}, &corev1.Secret{}, &networkingv1.NetworkPolicy{}, &rbacv1.Role{}, &rbacv1.RoleBinding{}} {
		eventually(t, fmt.Sprintf("%T %s to go", obj, name), func() (bool, error) {
			err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj)
			return apierrors.IsNotFound(err) || (err == nil && obj.GetDeletionTimestamp() != nil), client.IgnoreNotFound(err)
		})
	}
}

// poke changes the learner without asking for a notebook, so that it is reconciled.
func poke(t *testing.T, l *v1.Learner, v string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(l), l); err != nil {
			return err
		}
		l.Labels = map[string]string{"poke": v}
		return k8s.Update(ctx, l)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitGeneration waits until the reconciler has seen the learner's spec.
func waitGeneration(t *testing.T, l *v1.Learner) {
	t.Helper()
	eventually(t, "the status to observe the spec", func() (bool, error) {
		cur := &v1.Learner{}
		err := k8s.Get(ctx, client.ObjectKeyFromObject(l), cur)
		return err == nil && cur.Status.ObservedGeneration == cur.Generation, err
	})
}

func TestNotebookPodServiceAndTokenSpecs(t *testing.T) {
	l := newLearner(t, "ada", "intro")
	name := nbserver.ServerName(l.Name, "intro")
	pod := getPod(t, l, "intro")
	st := waitState(t, l, "intro", v1.NotebookStarting)
	base := "/notebooks/" + ns + "/" + name + "/"
	if st.URL != "https://learn.example.com"+base || st.Pod != name || st.Service != name || st.StartTime == nil {
		t.Fatalf("status %+v", st)
	}

	c := pod.Spec.Containers[0]
	if c.Image != "jupyter/scipy-notebook:2026-01" || c.Resources.Limits.Memory().String() != "2Gi" {
		t.Errorf("image %q resources %v", c.Image, c.Resources)
	}
	// The image's flavour (Jupyter Server by default): ServerApp options, never --allow-root.
	for _, want := range []string{"jupyter notebook ", "--ServerApp.base_url=" + base, "--ServerApp.shutdown_no_activity_timeout=1800", "--MappingKernelManager.cull_idle_timeout=1800",
		"--ServerApp.ip=0.0.0.0", "--ServerApp.port=8888", "--ServerApp.root_dir=" + Workspace} {
		if !strings.Contains(strings.Join(c.Command, " "), want) {
			t.Errorf("command %q lacks %q", c.Command, want)
		}
	}
	if strings.Contains(strings.Join(c.Command, " "), "allow_root") {
		t.Errorf("command %q lets jupyter run as root", c.Command)
	}
	if len(c.Env) == 0 || c.Env[0].Name != "JUPYTER_TOKEN" || c.Env[0].ValueFrom.SecretKeyRef == nil || c.Env[0].ValueFrom.SecretKeyRef.Name != name || c.Env[0].ValueFrom.SecretKeyRef.Key != nbserver.TokenKey {
		t.Errorf("env %+v", c.Env)
	}
	env := map[string]string{}
	for _, e := range c.Env[1:] {
		env[e.Name] = e.Value
	}
	if env["TWEEZER_PROJECT_ID"] != ns || env["TWEEZER_PACKAGE"] != "LEARN_BY_CODING" || env["TWEEZER_API_URL"] != DefaultSettings().APIURL || env["TWEEZER_USER_ID"] != l.Spec.UserID {
		t.Errorf("env %v", env)
	}
	// The starter notebook is copied from its ConfigMap into the workspace.
	if ic := pod.Spec.InitContainers; len(ic) != 1 || strings.Join(ic[0].Command, " ") != "cp /starter/starter.ipynb /workspace/starter.ipynb" || ic[0].Image != c.Image {
		t.Errorf("init containers %+v", ic)
	}
	starter := &corev1.ConfigMap{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, starter); err != nil {
		t.Fatal(err)
	}
	if want, _ := Starter("LEARN_BY_CODING"); string(starter.BinaryData[StarterFile]) != string(want) || len(starter.Data) != 0 {
		t.Errorf("starter ConfigMap %v holds more or less than the starter notebook", starter.Data)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != base+"api" {
		t.Errorf("readiness probe %+v", c.ReadinessProbe)
	}
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever || *pod.Spec.AutomountServiceAccountToken || !*pod.Spec.SecurityContext.RunAsNonRoot {
		t.Errorf("pod spec %+v", pod.Spec)
	}
	wantLabels := map[string]string{executor.ManagedByLabel: executor.ManagedBy, nbserver.LearnerLabel: l.Name, nbserver.NotebookLabel: "intro"}
	svc, sec, policy, role, binding := &corev1.Service{}, &corev1.Secret{}, &networkingv1.NetworkPolicy{}, &rbacv1.Role{}, &rbacv1.RoleBinding{}
	for _, obj := range []client.Object{pod, svc, sec, starter, policy, role, binding} {
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
			t.Fatal(err)
		}
		if o := metav1.GetControllerOf(obj); o == nil || o.Kind != "Learner" || o.UID != l.UID {
			t.Errorf("%T owner %+v", obj, o)
		}
		for k, v := range wantLabels {
			if obj.GetLabels()[k] != v {
				t.Errorf("%T labels %v", obj, obj.GetLabels())
			}
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != Port || svc.Spec.Ports[0].TargetPort.IntValue() != Port || svc.Spec.Selector[nbserver.LearnerLabel] != l.Name || svc.Spec.Selector[nbserver.NotebookLabel] != "intro" {
		t.Errorf("service %+v", svc.Spec)
	}
	if len(sec.Data[nbserver.TokenKey]) != 48 {
		t.Errorf("token %q", sec.Data[nbserver.TokenKey])
	}
}

// The token is in a Secret that the facade's service account, and no
// project member, may read; the NetworkPolicy lets in only the facade and
// lets out neither the cluster's internal ranges nor the metadata address.
func TestNotebookTokenSecretAndNetworkPolicy(t *testing.T) {
	l := newLearner(t, "grace", "intro")
	name := nbserver.ServerName(l.Name, "intro")
	pod := getPod(t, l, "intro")
	sec := &corev1.Secret{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sec); err != nil {
		t.Fatal(err)
	}
	if sec.Type != corev1.SecretTypeOpaque || len(sec.Data) != 1 || len(sec.Data[nbserver.TokenKey]) != 48 {
		t.Errorf("token Secret %s %v", sec.Type, sec.Data)
	}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &corev1.ConfigMap{}); err != nil {
		t.Fatal(err)
	}

	// Who may read the token: asked of the API server's own authorizer.
	// A project viewer reads what Kubernetes' `view` role reads: ConfigMaps
	// among them (envtest runs no aggregation controller to fill `view`).
	viewer := "viewer-" + rand.String(4)
	if err := k8s.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: viewer},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps", "pods", "services"}, Verbs: []string{"get", "list", "watch"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: viewer},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: viewer},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "viewer"}}}); err != nil {
		t.Fatal(err)
	}
	may := func(user, resource, secretName string) (bool, error) {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: user,
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: "get", Resource: resource, Name: secretName}}}
		if strings.HasPrefix(user, "system:serviceaccount:") {
			sar.Spec.Groups = []string{"system:serviceaccounts", "system:serviceaccounts:tweezer-system"}
		}
		err := k8s.Create(ctx, sar)
		return sar.Status.Allowed, err
	}
	facade := "system:serviceaccount:tweezer-system:tweezer-apiserver"
	eventually(t, "the facade to be allowed to read the token", func() (bool, error) { return may(facade, "secrets", name) })
	eventually(t, "a viewer to be allowed to read ConfigMaps", func() (bool, error) { return may("viewer", "configmaps", name) })
	for _, c := range []struct{ user, secret string }{{facade, "another-secret"}, {facade, ""}, {"viewer", name}, {"system:serviceaccount:" + ns + ":tweezer-runner", name}} {
		if ok, err := may(c.user, "secrets", c.secret); err != nil || ok {
			t.Errorf("%s may get Secret %q: %v %v", c.user, c.secret, ok, err)
		}
	}

	policy := &networkingv1.NetworkPolicy{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, policy); err != nil {
		t.Fatal(err)
	}
	p := policy.Spec
	if p.PodSelector.MatchLabels[nbserver.LearnerLabel] != l.Name || p.PodSelector.MatchLabels[nbserver.NotebookLabel] != "intro" ||
		fmt.Sprint(p.PolicyTypes) != "[Ingress Egress]" {
		t.Errorf("selector %v, types %v", p.PodSelector, p.PolicyTypes)
	}
	facadePeer := `{"podSelector":{"matchLabels":{"app.kubernetes.io/component":"apiserver"}},"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"tweezer-system"}}}`
	// Ingress: Jupyter's port, from the facade and the ingress controller's namespace only.
	wantJSON(t, "ingress", p.Ingress, `[{"ports":[{"protocol":"TCP","port":8888}],"from":[`+facadePeer+`,{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"ingress-nginx"}}}]}]`)
	// Egress: anywhere but the internal ranges and the metadata address; DNS; the facade's port.
	wantJSON(t, "egress", p.Egress, `[{"to":[{"ipBlock":{"cidr":"0.0.0.0/0","except":["10.0.0.0/8","172.16.0.0/12","192.168.0.0/16","100.64.0.0/10","169.254.169.254/32"]}},`+
		`{"ipBlock":{"cidr":"::/0","except":["fc00::/7","fe80::/10"]}}]},`+
		`{"ports":[{"protocol":"UDP","port":53},{"protocol":"TCP","port":53}],"to":[{"podSelector":{"matchLabels":{"k8s-app":"kube-dns"}},"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"kube-system"}}}]},`+
		`{"ports":[{"protocol":"TCP","port":8000}],"to":[`+facadePeer+`]}]`)

	// Culled: the Secret, the Role, its binding and the NetworkPolicy go with the server.
	setPod(t, pod, corev1.PodSucceeded, false)
	waitState(t, l, "intro", v1.NotebookCulled)
	expectGone(t, name)
}

func wantJSON(t *testing.T, what string, v any, want string) {
	t.Helper()
	got, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s:\n got %s\nwant %s", what, got, want)
	}
}

func TestARunningNotebookIsReusedAndAnIdleOneCulled(t *testing.T) {
	l := newLearner(t, "grace", "vqe")
	pod := getPod(t, l, "vqe")
	setPod(t, pod, corev1.PodRunning, true)
	waitState(t, l, "vqe", v1.NotebookRunning)
	eventually(t, "NotebooksReady", func() (bool, error) {
		err := k8s.Get(ctx, client.ObjectKeyFromObject(l), l)
		c := meta.FindStatusCondition(l.Status.Conditions, v1.ConditionNotebooksReady)
		return err == nil && c != nil && c.Status == metav1.ConditionTrue, err
	})

	clock.Advance(time.Minute)
	request(t, l, "vqe")
	again := getPod(t, l, "vqe")
	if again.UID != pod.UID {
		t.Fatal("asking again for a running notebook started a new server")
	}
	waitState(t, l, "vqe", v1.NotebookRunning)

	// Jupyter shuts itself down after the idle timeout: the pod succeeds.
	setPod(t, pod, corev1.PodSucceeded, false)
	st := waitState(t, l, "vqe", v1.NotebookCulled)
	if st.CullTime == nil || st.Pod != "" || st.URL != "" || st.Message != "the server shut down after 30m0s without activity" {
		t.Fatalf("status %+v", st)
	}
	expectGone(t, nbserver.ServerName(l.Name, "vqe"))

	// Asked for again after the cull: a new server.
	clock.Advance(time.Second)
	request(t, l, "vqe")
	fresh := getPod(t, l, "vqe")
	if fresh.UID == pod.UID {
		t.Fatal("no new server")
	}
	waitState(t, l, "vqe", v1.NotebookStarting)
}

func TestANotebookThatNeverGetsReadyIsCulledAfterTheIdleTimeout(t *testing.T) {
	l := newLearner(t, "hopper", "stuck")
	getPod(t, l, "stuck")
	waitState(t, l, "stuck", v1.NotebookStarting)
	clock.Advance(idle - time.Minute)
	request(t, l, "stuck") // asking again gives it another idle timeout
	clock.Advance(idle - time.Minute)
	poke(t, l, "1")
	waitGeneration(t, l)
	if st := waitState(t, l, "stuck", v1.NotebookStarting); st.Pod == "" {
		t.Fatalf("status %+v", st)
	}
	clock.Advance(2 * time.Minute)
	poke(t, l, "2")
	st := waitState(t, l, "stuck", v1.NotebookCulled)
	if st.Message != "the server did not become ready within 30m0s" {
		t.Fatalf("message %q", st.Message)
	}
	expectGone(t, nbserver.ServerName(l.Name, "stuck"))
}

func TestAFailedNotebookStaysFailedUntilAskedAgainAndAnUnwantedOneIsRemoved(t *testing.T) {
	l := newLearner(t, "turing", "a", "b")
	setPod(t, getPod(t, l, "a"), corev1.PodFailed, false)
	st := waitState(t, l, "a", v1.NotebookFailed)
	if st.Message != "the server failed: exit code 137 OOMKilled " {
		t.Fatalf("message %q", st.Message)
	}
	expectGone(t, nbserver.ServerName(l.Name, "a"))
	eventually(t, "NotebooksReady false", func() (bool, error) {
		err := k8s.Get(ctx, client.ObjectKeyFromObject(l), l)
		c := meta.FindStatusCondition(l.Status.Conditions, v1.ConditionNotebooksReady)
		return err == nil && c != nil && c.Status == metav1.ConditionFalse && c.Reason == "NotebookFailed", err
	})

	getPod(t, l, "b")
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(l), l); err != nil {
			return err
		}
		l.Spec.Notebooks = l.Spec.Notebooks[:1]
		return k8s.Update(ctx, l)
	})
	if err != nil {
		t.Fatal(err)
	}
	expectGone(t, nbserver.ServerName(l.Name, "b"))
	eventually(t, "b to leave the status", func() (bool, error) {
		err := k8s.Get(ctx, client.ObjectKeyFromObject(l), l)
		return err == nil && len(l.Status.Notebooks) == 1 && l.Status.Notebooks[0].Name == "a" && l.Status.Notebooks[0].State == v1.NotebookFailed, err
	})
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: nbserver.ServerName(l.Name, "a")}, &corev1.Pod{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a failed notebook was restarted without a request: %v", err)
	}
}

func TestServerNamesAreValidAndDistinct(t *testing.T) {
	a, b := nbserver.ServerName(v1.LearnerName("u", "VQPU"), "n"), nbserver.ServerName(v1.LearnerName("v", "VQPU"), "n")
	long := nbserver.ServerName(v1.LearnerName("u", "VQPU"), strings.Repeat("x", 40))
	if a == b || len(long) > 63 || !strings.HasPrefix(a, "nb-n-") {
		t.Fatalf("%q %q %q", a, b, long)
	}
}
