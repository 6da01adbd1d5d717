package workload

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers"
	"github.com/tweezer-dev/tweezer/controllers/executor"
	"github.com/tweezer-dev/tweezer/hack/testenv"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
	"github.com/tweezer-dev/tweezer/internal/sequences"
	"github.com/tweezer-dev/tweezer/runners/workloadrunner"
)

// The suite runs the reconciler with the Pod executor against a real API
// server. No kubelet runs pods, so a test plays it: it runs what the pod
// would run (the workload runner, in process) and sets the pod's phase.

const managerNS = "tweezer-system"

const sequence = `{"version":"1","name":"pi","register":[{"name":"q0","x":0,"y":0}],"device":"MockDevice",` +
	`"channels":{"g":"rydberg_global"},"variables":{"t":{"type":"int","value":[500]}},"measurement":"ground-rydberg",` +
	`"operations":[{"op":"pulse","channel":"g","protocol":"min-delay","phase":0.0,"post_phase_shift":0.0,` +
	`"amplitude":{"kind":"constant","duration":{"expression":"index","lhs":{"variable":"t"},"rhs":0},"value":6.283185307179586},` +
	`"detuning":{"kind":"constant","duration":{"expression":"index","lhs":{"variable":"t"},"rhs":0},"value":0.0}}]}`

var (
	ctx = context.Background()
	k8s client.WithWatch
	ns  string
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
		pns := testenv.ProjectNamespace("p-" + rand.String(8))
		for _, n := range []*corev1.Namespace{pns, {ObjectMeta: metav1.ObjectMeta{Name: managerNS}}} {
			if err := k8s.Create(ctx, n); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		ns = pns.Name
		// The manager's trimmed cache: the reconciler never sees a workload's config there.
		mgr, err := ctrl.NewManager(cfg, ctrl.Options{
			Scheme: controlplane.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"},
			Cache: controllers.CacheOptions(), NewClient: controllers.NewClient,
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		r := &Reconciler{
			Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("workload"),
			Executor:  &executor.Pod{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader()},
			Namespace: managerNS, MaxPerProject: 2, ConfigWait: 3 * time.Second,
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

// eventually polls cond until it holds (the reconciler works asynchronously).
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) { return cond() }); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func newWorkload(t *testing.T, wt v1.WorkloadType, backend v1.BackendName, cfg string) *v1.Workload {
	t.Helper()
	wl := &v1.Workload{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "wl-" + rand.String(8)},
		Spec:       v1.WorkloadSpec{WorkloadType: wt, Backend: backend, Config: &apiextensionsv1.JSON{Raw: []byte(cfg)}, UserID: "alice"},
	}
	if err := k8s.Create(ctx, wl); err != nil {
		t.Fatal(err)
	}
	return wl
}

func waitPhase(t *testing.T, wl *v1.Workload, phase v1.WorkloadPhase) *v1.Workload {
	t.Helper()
	got := &v1.Workload{}
	eventually(t, string(phase)+" of "+wl.Name, func() (bool, error) {
		err := k8s.Get(ctx, client.ObjectKeyFromObject(wl), got)
		return err == nil && got.Status.Phase == phase, err
	})
	return got
}

func runnerPod(t *testing.T, wl *v1.Workload) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{}
	eventually(t, "the runner pod of "+wl.Name, func() (bool, error) {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: wl.Namespace, Name: wl.Name + "-runner-1"}, pod)
		return err == nil, client.IgnoreNotFound(err)
	})
	return pod
}

func setPodPhase(t *testing.T, pod *corev1.Pod, phase corev1.PodPhase, msg string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return err
		}
		pod.Status.Phase, pod.Status.Message = phase, msg
		return k8s.Status().Update(ctx, pod)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func eventsOf(t *testing.T, wl *v1.Workload, reason string) []eventsv1.Event {
	t.Helper()
	var out []eventsv1.Event
	eventually(t, "a "+reason+" event", func() (bool, error) {
		list := &eventsv1.EventList{}
		if err := k8s.List(ctx, list, client.InNamespace(wl.Namespace)); err != nil {
			return false, err
		}
		out = nil
		for _, e := range list.Items {
			if e.Regarding.Name == wl.Name && e.Reason == reason {
				out = append(out, e)
			}
		}
		return len(out) > 0, nil
	})
	return out
}

func setImages(t *testing.T, data map[string]string) {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: managerNS, Name: ImagesConfigMap}}
	err := k8s.Get(ctx, client.ObjectKeyFromObject(cm), cm)
	cm.Data = data
	switch {
	case apierrors.IsNotFound(err):
		err = k8s.Create(ctx, cm)
	case err == nil:
		err = k8s.Update(ctx, cm)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func expectNoPod(t *testing.T, wl *v1.Workload) {
	t.Helper()
	err := k8s.Get(ctx, client.ObjectKey{Namespace: wl.Namespace, Name: wl.Name + "-runner-1"}, &corev1.Pod{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("want no runner pod, got %v", err)
	}
}

// Runs first (source order): the mapping does not exist yet.
func TestUnmappedPairsFailFastNamingTheMapping(t *testing.T) {
	wl := newWorkload(t, "algorithm_dqgm", "pyq", `{}`)
	got := waitPhase(t, wl, v1.WorkloadError)
	want := fmt.Sprintf(`no runner image for workload_type algorithm_dqgm with backend pyq: ConfigMap %s/%s, which maps "algorithm_dqgm.pyq" to an image, does not exist`, managerNS, ImagesConfigMap)
	if len(got.Status.Errors) != 1 || got.Status.Errors[0] != want {
		t.Fatalf("errors %q", got.Status.Errors)
	}
	expectNoPod(t, wl)

	setImages(t, map[string]string{"qadence_circuit.pulser_basic": "runner:v1"})
	wl = newWorkload(t, "algorithm_dqgm", "pulser_basic", `{}`)
	got = waitPhase(t, wl, v1.WorkloadError)
	want = fmt.Sprintf(`no runner image for workload_type algorithm_dqgm with backend pulser_basic: ConfigMap %s/%s has no key "algorithm_dqgm.pulser_basic"`, managerNS, ImagesConfigMap)
	if len(got.Status.Errors) != 1 || got.Status.Errors[0] != want || got.Status.EndTime == nil {
		t.Fatalf("status %+v", got.Status)
	}
	c := meta.FindStatusCondition(got.Status.Conditions, ConditionScheduled)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != ReasonNoRunnerImage || c.Message != want {
		t.Fatalf("Scheduled condition %+v", c)
	}
	if e := eventsOf(t, wl, ReasonNoRunnerImage); e[0].Type != corev1.EventTypeWarning || e[0].Note != want {
		t.Fatalf("event %+v", e[0])
	}
	expectNoPod(t, wl)
}

func TestPulserBasicRunsToDoneWithAResult(t *testing.T) {
	setImages(t, map[string]string{"qadence_circuit.pulser_basic": " registry.example/tweezer-runner:v1 "})
	cfg, _ := json.Marshal(map[string]any{"sequence_builder": sequence, "variables": map[string]any{"t": []int{500}}, "runs": 25})
	wl := newWorkload(t, "qadence_circuit", "pulser_basic", string(cfg))
	pod := runnerPod(t, wl)

	c := pod.Spec.Containers[0]
	if c.Image != "registry.example/tweezer-runner:v1" {
		t.Errorf("image %q", c.Image)
	}
	if want := []string{"workload", "--namespace", ns, "--name", wl.Name}; strings.Join(c.Args, " ") != strings.Join(want, " ") {
		t.Errorf("args %q", c.Args)
	}
	if o := metav1.GetControllerOf(pod); o == nil || o.Kind != "Workload" || o.Name != wl.Name || o.UID != wl.UID {
		t.Errorf("owner %+v", o)
	}
	if pod.Labels[executor.WorkloadLabel] != wl.Name || pod.Spec.ServiceAccountName != executor.RunnerServiceAccount {
		t.Errorf("labels %v, service account %q", pod.Labels, pod.Spec.ServiceAccountName)
	}
	pending := waitPhase(t, wl, v1.WorkloadPending)
	if s := meta.FindStatusCondition(pending.Status.Conditions, ConditionScheduled); s == nil || s.Status != metav1.ConditionTrue {
		t.Fatalf("Scheduled %+v", s)
	}

	// The kubelet's part: run the container's command, then report the pod done.
	r := &workloadrunner.Runner{Client: k8s, Namespace: c.Args[2], Name: c.Args[4], Log: logr.Discard()}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	setPodPhase(t, pod, corev1.PodSucceeded, "")
	got := waitPhase(t, wl, v1.WorkloadDone)
	if got.Status.Result == nil || string(got.Status.Result.Raw) != `{"counter":{"1":25}}` {
		t.Fatalf("result %v", got.Status.Result)
	}
	eventually(t, "the Runner condition to turn false", func() (bool, error) {
		err := k8s.Get(ctx, client.ObjectKeyFromObject(wl), got)
		c := meta.FindStatusCondition(got.Status.Conditions, ConditionRunner)
		return err == nil && c != nil && c.Status == metav1.ConditionFalse && c.Reason == ReasonFinished, err
	})
	if got.Status.Phase != v1.WorkloadDone || len(got.Status.Errors) != 0 {
		t.Fatalf("status changed after the runner finished: %+v", got.Status)
	}
	eventsOf(t, wl, ReasonStarted)
}

func TestARunnerThatDiesWithoutAnOutcomeEndsTheWorkloadInError(t *testing.T) {
	setImages(t, map[string]string{"algorithm_pde_basf.emu_c": "emu-c-runner:v2"})
	wl := newWorkload(t, "algorithm_pde_basf", "emu_c", `{"x": 1}`)
	pod := runnerPod(t, wl)
	if pod.Spec.Containers[0].Image != "emu-c-runner:v2" {
		t.Fatalf("image %q", pod.Spec.Containers[0].Image)
	}
	setPodPhase(t, pod, corev1.PodFailed, "OOMKilled")
	got := waitPhase(t, wl, v1.WorkloadError)
	want := "the runner ended without recording an outcome: runner pod " + pod.Name + " failed: OOMKilled"
	if len(got.Status.Errors) != 1 || got.Status.Errors[0] != want {
		t.Fatalf("errors %q", got.Status.Errors)
	}
	if c := meta.FindStatusCondition(got.Status.Conditions, ConditionRunner); c == nil || c.Reason != ReasonRunnerEnded {
		t.Fatalf("Runner condition %+v", c)
	}
	eventsOf(t, wl, ReasonRunnerEnded)
}

func TestADeletedRunnerPodEndsTheWorkloadInError(t *testing.T) {
	setImages(t, map[string]string{"algorithm_qel_posco.digital": "digital:v1"})
	wl := newWorkload(t, "algorithm_qel_posco", "digital", `{}`)
	pod := runnerPod(t, wl)
	waitPhase(t, wl, v1.WorkloadPending)
	if err := k8s.Delete(ctx, pod); err != nil {
		t.Fatal(err)
	}
	got := waitPhase(t, wl, v1.WorkloadError)
	// Without a kubelet the pod may still be terminating when it is noticed.
	if want := "the runner ended without recording an outcome: runner pod " + pod.Name + " "; len(got.Status.Errors) != 1 ||
		!strings.HasPrefix(got.Status.Errors[0], want) || !strings.Contains(got.Status.Errors[0], "delete") {
		t.Fatalf("errors %q", got.Status.Errors)
	}
}

func TestCancelStopsTheRunner(t *testing.T) {
	setImages(t, map[string]string{"qadence_circuit.pulser_basic": "runner:v1"})
	wl := newWorkload(t, "qadence_circuit", "pulser_basic", `{"runs": 1}`)
	runnerPod(t, wl)
	waitPhase(t, wl, v1.WorkloadPending)
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(wl), wl); err != nil {
		t.Fatal(err)
	}
	wl.Spec.Canceled = true
	if err := k8s.Update(ctx, wl); err != nil {
		t.Fatal(err)
	}
	got := waitPhase(t, wl, v1.WorkloadCanceled)
	if got.Status.EndTime == nil {
		t.Fatal("no end time")
	}
	if c := meta.FindStatusCondition(got.Status.Conditions, ConditionRunner); c == nil || c.Status != metav1.ConditionFalse || c.Reason != ReasonCanceled {
		t.Fatalf("Runner condition %+v", c)
	}
	eventually(t, "the runner pod to go", func() (bool, error) {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: wl.Namespace, Name: wl.Name + "-runner-1"}, &corev1.Pod{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	eventsOf(t, wl, ReasonCanceled)
}

// otherProject creates a project namespace of its own for a test.
func otherProject(t *testing.T) string {
	t.Helper()
	pns := testenv.ProjectNamespace("p-" + rand.String(8))
	if err := k8s.Create(ctx, pns); err != nil {
		t.Fatal(err)
	}
	return pns.Name
}

func workloadIn(t *testing.T, namespace string, annotations map[string]string) *v1.Workload {
	t.Helper()
	wl := &v1.Workload{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "wl-" + rand.String(8), Annotations: annotations},
		Spec:       v1.WorkloadSpec{WorkloadType: "algorithm_pde_equality", Backend: "pyq", Config: &apiextensionsv1.JSON{Raw: []byte(`{}`)}, UserID: "alice"},
	}
	if err := k8s.Create(ctx, wl); err != nil {
		t.Fatal(err)
	}
	return wl
}

func scheduled(t *testing.T, wl *v1.Workload) *metav1.Condition {
	t.Helper()
	got := &v1.Workload{}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(wl), got); err != nil {
		t.Fatal(err)
	}
	return meta.FindStatusCondition(got.Status.Conditions, ConditionScheduled)
}

func TestAProjectRunsAtMostItsCapAndTheRestWaitInOrder(t *testing.T) {
	setImages(t, map[string]string{"algorithm_pde_equality.pyq": "pyq:v1"})
	p := otherProject(t)
	first, second := workloadIn(t, p, nil), workloadIn(t, p, nil)
	// Workload runners have no device: they get the executor's default requests and limits.
	res := runnerPod(t, first).Spec.Containers[0].Resources
	if res.Requests.Cpu().String() != "250m" || res.Requests.Memory().String() != "512Mi" || res.Limits.Cpu().String() != "2" || res.Limits.Memory().String() != "2Gi" {
		t.Errorf("workload runner resources %+v", res)
	}
	runnerPod(t, second)
	third := workloadIn(t, p, nil)
	waitPhase(t, third, v1.WorkloadPending)
	eventually(t, "the third workload to say why it waits", func() (bool, error) {
		c := scheduled(t, third)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == ReasonConcurrencyLimit, nil
	})
	if c := scheduled(t, third); !strings.Contains(c.Message, "runs 2 workloads, at most 2 at a time") {
		t.Errorf("Scheduled message %q", c.Message)
	}
	expectNoPod(t, third)
	// Another project is not held back.
	elsewhere := workloadIn(t, otherProject(t), nil)
	runnerPod(t, elsewhere)

	// The first one ends (its runner records DONE and exits): the third starts.
	got := waitPhase(t, first, v1.WorkloadPending)
	got.Status.Phase = v1.WorkloadDone
	if err := k8s.Status().Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	runnerPod(t, third)
	eventually(t, "the third workload to be scheduled", func() (bool, error) {
		c := scheduled(t, third)
		return c != nil && c.Status == metav1.ConditionTrue, nil
	})
	eventsOf(t, third, ReasonConcurrencyLimit)
}

func TestAWorkloadOverItsTimeLimitIsStoppedInError(t *testing.T) {
	setImages(t, map[string]string{"algorithm_pde_equality.pyq": "pyq:v1"})
	wl := workloadIn(t, otherProject(t), map[string]string{TimeLimitAnnotation: "2s"})
	runnerPod(t, wl)
	got := waitPhase(t, wl, v1.WorkloadError)
	want := "the workload ran longer than its time limit of 2s and was stopped"
	if len(got.Status.Errors) != 1 || got.Status.Errors[0] != want {
		t.Fatalf("errors %q", got.Status.Errors)
	}
	if c := meta.FindStatusCondition(got.Status.Conditions, ConditionRunner); c == nil || c.Reason != ReasonTimedOut || c.Message != want {
		t.Fatalf("Runner condition %+v", c)
	}
	if s := meta.FindStatusCondition(got.Status.Conditions, ConditionScheduled); got.Status.EndTime.Sub(s.LastTransitionTime.Time) < 2*time.Second {
		t.Errorf("stopped %s after its start", got.Status.EndTime.Sub(s.LastTransitionTime.Time))
	}
	eventually(t, "the runner pod to go", func() (bool, error) {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: wl.Namespace, Name: wl.Name + "-runner-1"}, &corev1.Pod{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	eventsOf(t, wl, ReasonTimedOut)

	bad := workloadIn(t, otherProject(t), map[string]string{TimeLimitAnnotation: "soon"})
	got = waitPhase(t, bad, v1.WorkloadError)
	if len(got.Status.Errors) != 1 || !strings.Contains(got.Status.Errors[0], TimeLimitAnnotation) {
		t.Fatalf("errors %q", got.Status.Errors)
	}
	expectNoPod(t, bad)
}

// A workload whose config the facade keeps in a ConfigMap (spec.configFrom)
// starts once that ConfigMap is there, and its runner runs that config; one
// whose ConfigMap does not come within ConfigWait, or is not its own, ends
// in ERROR naming the field, without a runner.
func TestAConfigInAConfigMapStartsOnceItIsThere(t *testing.T) {
	setImages(t, map[string]string{"qadence_circuit.pulser_basic": "runner:v1"})
	p := otherProject(t)
	cfg, _ := json.Marshal(map[string]any{"sequence_builder": sequence, "variables": map[string]any{"t": []int{500}}, "runs": 9})
	withConfigFrom := func() (*v1.Workload, *corev1.ConfigMap) {
		wl := &v1.Workload{
			ObjectMeta: metav1.ObjectMeta{Namespace: p, Name: "wl-" + rand.String(8)},
			Spec:       v1.WorkloadSpec{WorkloadType: "qadence_circuit", Backend: "pulser_basic", Config: &apiextensionsv1.JSON{Raw: cfg}, UserID: "alice"},
		}
		cm := sequences.SplitWorkload(wl, 0)
		if err := k8s.Create(ctx, wl); err != nil {
			t.Fatal(err)
		}
		return wl, cm
	}

	late, cm := withConfigFrom()
	time.Sleep(time.Second) // the controller has looked and waits
	expectNoPod(t, late)
	sequences.OwnWorkload(cm, late)
	if err := k8s.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	pod := runnerPod(t, late)
	c := pod.Spec.Containers[0]
	r := &workloadrunner.Runner{Client: k8s, Namespace: c.Args[2], Name: c.Args[4], Log: logr.Discard()}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := waitPhase(t, late, v1.WorkloadDone); got.Status.Result == nil || string(got.Status.Result.Raw) != `{"counter":{"1":9}}` {
		t.Fatalf("result %v", got.Status.Result)
	}

	never, _ := withConfigFrom()
	got := waitPhase(t, never, v1.WorkloadError)
	want := "spec.configFrom: ConfigMap " + never.Spec.ConfigFrom + " does not exist (waited 3s after the workload's creation)"
	if len(got.Status.Errors) != 1 || got.Status.Errors[0] != want {
		t.Fatalf("errors %q, want %q", got.Status.Errors, want)
	}
	if got.Status.EndTime.Sub(got.CreationTimestamp.Time) < 2*time.Second {
		t.Errorf("failed %s after its creation, before ConfigWait", got.Status.EndTime.Sub(got.CreationTimestamp.Time))
	}
	if c := meta.FindStatusCondition(got.Status.Conditions, ConditionScheduled); c == nil || c.Reason != ReasonConfigMissing || c.Message != want {
		t.Fatalf("Scheduled condition %+v", c)
	}
	if e := eventsOf(t, never, ReasonConfigMissing); e[0].Type != corev1.EventTypeWarning {
		t.Fatalf("event %+v", e[0])
	}
	expectNoPod(t, never)

	foreign, cm := withConfigFrom()
	if err := k8s.Create(ctx, cm); err != nil { // not owned by the workload
		t.Fatal(err)
	}
	got = waitPhase(t, foreign, v1.WorkloadError)
	if len(got.Status.Errors) != 1 || got.Status.Errors[0] != "spec.configFrom: ConfigMap "+cm.Name+" is not owned by the workload" {
		t.Fatalf("errors %q", got.Status.Errors)
	}
	expectNoPod(t, foreign)
}
