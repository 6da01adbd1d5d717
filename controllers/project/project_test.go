package project

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/hack/testenv"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
)

// The suite runs the reconciler against a real API server, with
// kube-controller-manager's resource quota controller (which computes a
// quota's usage; until it has, kube-apiserver admits nothing the quota counts).

var (
	ctx = context.Background()
	k8s client.WithWatch
)

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
		stopKCM, err := testenv.StartControllerManager(env, io.Discard, "resourcequota-controller")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer stopKCM()
		quota, err := ParseQuota(DefaultQuota)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: controlplane.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		r := &Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("tweezer-project"), Settings: Settings{
			Quota: quota,
			Container: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("2Gi")},
			},
		}}
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
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) { return cond() }); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// newProject creates a project namespace with these annotations.
func newProject(t *testing.T, annotations map[string]string) string {
	t.Helper()
	ns := testenv.ProjectNamespace("p-" + rand.String(8))
	ns.Annotations = annotations
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// quotaInForce waits until the project's quota exists and its usage is
// computed, and returns it.
func quotaInForce(t *testing.T, ns string, check func(*corev1.ResourceQuota) bool) *corev1.ResourceQuota {
	t.Helper()
	q := &corev1.ResourceQuota{}
	eventually(t, "the ResourceQuota of "+ns, func() (bool, error) {
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: Name}, q); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		_, computed := q.Status.Used[quotaKeys["batches"]]
		return computed && (check == nil || check(q)), nil
	})
	return q
}

func hardOf(q *corev1.ResourceQuota, key string) int64 {
	v := q.Spec.Hard[quotaKeys[key]]
	return v.Value()
}

func batch(ns string) *v1.Batch {
	return &v1.Batch{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "b-" + rand.String(8)},
		Spec:       v1.BatchSpec{SequenceBuilder: "{}", DeviceType: v1.DeviceTypeEmuFree},
	}
}

func TestAProjectGetsItsQuotaAndAFloodIsRefusedByTheAPIServer(t *testing.T) {
	ns := newProject(t, map[string]string{v1.QuotaAnnotation: "batches=3"})
	q := quotaInForce(t, ns, nil)
	if got := hardOf(q, "batches"); got != 3 {
		t.Fatalf("count/batches = %d, want the annotation's 3", got)
	}
	if got := hardOf(q, "jobs"); got != 20000 {
		t.Fatalf("count/jobs = %d, want the default 20000", got)
	}
	for _, key := range []string{"workloads", "learners", "pods"} {
		if _, ok := q.Spec.Hard[quotaKeys[key]]; !ok {
			t.Fatalf("the quota has no %s line: %v", key, q.Spec.Hard)
		}
	}
	if len(q.OwnerReferences) != 0 {
		t.Fatalf("the quota has owners %v; it should stand alone in the namespace", q.OwnerReferences)
	}

	for i := range 3 {
		if err := k8s.Create(ctx, batch(ns)); err != nil {
			t.Fatalf("batch %d of 3: %v", i+1, err)
		}
	}
	// kube-controller-manager recounts usage from its own informer, which
	// may lag the three creates and briefly lower status.used (Kubernetes
	// quota is exact only once the recount has caught up): wait for it.
	quotaInForce(t, ns, func(q *corev1.ResourceQuota) bool {
		used := q.Status.Used[quotaKeys["batches"]]
		return used.Value() == 3
	})
	err := k8s.Create(ctx, batch(ns))
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "exceeded quota: "+Name) || !strings.Contains(err.Error(), "count/batches.quantum.tweezer.dev") {
		t.Fatalf("a fourth batch: %v, want a quota refusal naming count/batches", err)
	}
	var list v1.BatchList
	if err := k8s.List(ctx, &list, client.InNamespace(ns)); err != nil || len(list.Items) != 3 {
		t.Fatalf("%d batches stored (%v), want 3", len(list.Items), err)
	}
}

func TestPodsWithoutResourcesGetTheDefaults(t *testing.T) {
	ns := newProject(t, nil)
	quotaInForce(t, ns, nil)
	lr := &corev1.LimitRange{}
	eventually(t, "the LimitRange", func() (bool, error) {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: Name}, lr)
		return err == nil, client.IgnoreNotFound(err)
	})
	if err := k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bare"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	if err := k8s.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	res := pod.Spec.Containers[0].Resources
	if got := res.Limits.Memory().String(); got != "2Gi" {
		t.Fatalf("memory limit %s, want the default 2Gi", got)
	}
	if got := res.Requests.Cpu().String(); got != "100m" {
		t.Fatalf("cpu request %s, want the default 100m", got)
	}
}

func TestThePlatformTeamsOwnLinesAreKeptAndOursPutBack(t *testing.T) {
	ns := newProject(t, nil)
	quotaInForce(t, ns, nil)

	// The platform team adds a line of its own, with its own field manager.
	theirs := corev1ac.ResourceQuota(Name, ns).WithSpec(corev1ac.ResourceQuotaSpec().
		WithHard(corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("10")}))
	if err := k8s.Apply(ctx, theirs, client.FieldOwner("platform-team")); err != nil {
		t.Fatal(err)
	}
	// A change of the project's annotation makes the controller apply again.
	nsObj := &corev1.Namespace{}
	if err := k8s.Get(ctx, client.ObjectKey{Name: ns}, nsObj); err != nil {
		t.Fatal(err)
	}
	nsObj.Annotations = map[string]string{v1.QuotaAnnotation: "pods=7"}
	if err := k8s.Update(ctx, nsObj); err != nil {
		t.Fatal(err)
	}
	q := quotaInForce(t, ns, func(q *corev1.ResourceQuota) bool { return hardOf(q, "pods") == 7 })
	if v := q.Spec.Hard[corev1.ResourceRequestsCPU]; v.String() != "10" {
		t.Fatalf("the platform team's requests.cpu is %q, want 10 kept: %v", v.String(), q.Spec.Hard)
	}
	if got := hardOf(q, "batches"); got != 1000 {
		t.Fatalf("count/batches = %d, want the default 1000", got)
	}

	// Deleted, it comes back.
	if err := k8s.Delete(ctx, q); err != nil {
		t.Fatal(err)
	}
	quotaInForce(t, ns, func(q2 *corev1.ResourceQuota) bool { return q2.UID != q.UID && hardOf(q2, "pods") == 7 })
}

func TestABadAnnotationLeavesTheQuotaAsItIs(t *testing.T) {
	ns := newProject(t, map[string]string{v1.QuotaAnnotation: "batches=5000"})
	quotaInForce(t, ns, func(q *corev1.ResourceQuota) bool { return hardOf(q, "batches") == 5000 })
	nsObj := &corev1.Namespace{}
	if err := k8s.Get(ctx, client.ObjectKey{Name: ns}, nsObj); err != nil {
		t.Fatal(err)
	}
	nsObj.Annotations[v1.QuotaAnnotation] = "batches=5O00" // a typo
	if err := k8s.Update(ctx, nsObj); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a warning event", func() (bool, error) {
		var list eventsv1.EventList
		if err := k8s.List(ctx, &list, client.InNamespace(metav1.NamespaceDefault)); err != nil {
			return false, err
		}
		for _, e := range list.Items {
			if e.Regarding.Name == ns && e.Reason == ReasonInvalidQuota && strings.Contains(e.Note, `batches="5O00"`) {
				return true, nil
			}
		}
		return false, nil
	})
	q := &corev1.ResourceQuota{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: Name}, q); err != nil {
		t.Fatal(err)
	}
	if got := hardOf(q, "batches"); got != 5000 {
		t.Fatalf("count/batches = %d after a bad annotation, want 5000 kept", got)
	}
}

func TestANamespaceThatIsNoProjectGetsNoQuota(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "plain-" + rand.String(8)}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	// A project created after it is served, so the first has had its turn.
	quotaInForce(t, newProject(t, nil), nil)
	err := k8s.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: Name}, &corev1.ResourceQuota{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("a plain namespace's quota: %v, want none", err)
	}
}

func TestParseQuota(t *testing.T) {
	got, err := ParseQuota(" batches=10, pods=0 ")
	if err != nil {
		t.Fatal(err)
	}
	if b, p := got[quotaKeys["batches"]], got[corev1.ResourcePods]; b.Value() != 10 || p.Value() != 0 || len(got) != 2 {
		t.Fatalf("got %v", got)
	}
	for in, want := range map[string]string{
		"batches":              "not name=count",
		"gpus=1":               `unknown quota "gpus"`,
		"batches=1,batches=2":  "given twice",
		"jobs=-1":              "whole number",
		"jobs=1.5":             "whole number",
		"workloads=lots,pods=": "whole number",
	} {
		if _, err := ParseQuota(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseQuota(%q) = %v, want an error with %q", in, err, want)
		}
	}
	if _, err := ParseQuota(DefaultQuota); err != nil {
		t.Fatalf("the default quota: %v", err)
	}
}

// Applying the same guard rails again writes nothing and tells nobody.
func TestReapplyingIsANoOp(t *testing.T) {
	ns := newProject(t, nil)
	quotaInForce(t, ns, nil)
	quota, err := ParseQuota(DefaultQuota)
	if err != nil {
		t.Fatal(err)
	}
	rec := events.NewFakeRecorder(10)
	r := &Reconciler{Client: k8s, Recorder: rec, Settings: Settings{Quota: quota, Container: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("2Gi")},
	}}}
	// The running controller writes the quota before the LimitRange: wait
	// for both before applying again.
	lr := &corev1.LimitRange{}
	eventually(t, "the LimitRange of "+ns, func() (bool, error) {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: Name}, lr)
		return err == nil, client.IgnoreNotFound(err)
	})
	for range 2 {
		if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKey{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	again := &corev1.LimitRange{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: Name}, again); err != nil {
		t.Fatal(err)
	}
	if again.ResourceVersion != lr.ResourceVersion {
		t.Fatalf("the LimitRange was written again (resourceVersion %s → %s)", lr.ResourceVersion, again.ResourceVersion)
	}
	select {
	case e := <-rec.Events:
		t.Fatalf("an event for a no-op apply: %s", e)
	default:
	}
}

func TestOnlyChangesThatMayUndoTheGuardRailsReconcile(t *testing.T) {
	quota := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: Name, Labels: map[string]string{ManagedByLabel: ManagedBy}},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("5")}},
	}
	counted := quota.DeepCopy()
	counted.ResourceVersion = "2"
	counted.Status.Used = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1")}
	edited := quota.DeepCopy()
	edited.Spec.Hard[corev1.ResourcePods] = resource.MustParse("50")
	// The same quantity spelt differently is no change.
	respelt := quota.DeepCopy()
	respelt.Spec.Hard[corev1.ResourcePods] = resource.MustParse("5000m")
	relabelled := quota.DeepCopy()
	relabelled.Labels = nil

	lr := &corev1.LimitRange{ObjectMeta: quota.ObjectMeta, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type: corev1.LimitTypeContainer, Default: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
	}}}}
	lrEdited := lr.DeepCopy()
	lrEdited.Spec.Limits[0].Default[corev1.ResourceCPU] = resource.MustParse("1")
	lrAnnotated := lr.DeepCopy()
	lrAnnotated.Annotations = map[string]string{"note": "x"}

	for _, c := range []struct {
		name     string
		old, cur client.Object
		want     bool
	}{
		{"the quota controller counts usage", quota, counted, false},
		{"someone edits the quota's hard limits", quota, edited, true},
		{"the same hard limits, spelt differently", quota, respelt, false},
		{"someone removes the managed-by label", quota, relabelled, true},
		{"someone edits the LimitRange's defaults", lr, lrEdited, true},
		{"someone annotates the LimitRange", lr, lrAnnotated, false},
	} {
		if got := guardRailChanged(event.UpdateEvent{ObjectOld: c.old, ObjectNew: c.cur}); got != c.want {
			t.Errorf("%s: reconcile = %v, want %v", c.name, got, c.want)
		}
	}
}
