package workloadrunner

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/hack/testenv"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
	"github.com/tweezer-dev/tweezer/internal/sequences"
	"github.com/tweezer-dev/tweezer/internal/workloadconfig"
	"github.com/tweezer-dev/tweezer/runners/emulator"
)

// A one-atom sequence: a resonant pulse of amplitude 2π rad/µs for t ns, so
// t = 500 is a π pulse (always 1) and t = 250 a π/2 pulse.
const sequence = `{"version":"1","name":"pi","register":[{"name":"q0","x":0,"y":0}],"device":"MockDevice",` +
	`"channels":{"g":"rydberg_global"},"variables":{"t":{"type":"int","value":[500]}},"measurement":"ground-rydberg",` +
	`"operations":[{"op":"pulse","channel":"g","protocol":"min-delay","phase":0.0,"post_phase_shift":0.0,` +
	`"amplitude":{"kind":"constant","duration":{"expression":"index","lhs":{"variable":"t"},"rhs":0},"value":6.283185307179586},` +
	`"detuning":{"kind":"constant","duration":{"expression":"index","lhs":{"variable":"t"},"rhs":0},"value":0.0}}]}`

var (
	k8s client.WithWatch
	ns  string
)

func TestMain(m *testing.M) {
	env, err := controlplane.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer func() { _ = env.Stop() }()
		if k8s, err = client.NewWithWatch(cfg, client.Options{Scheme: controlplane.Scheme()}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		pns := testenv.ProjectNamespace("p-" + rand.String(8))
		if err := k8s.Create(context.Background(), pns); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		ns = pns.Name
		return m.Run()
	}()
	os.Exit(code)
}

func pulserConfig(t *testing.T, cfg map[string]any) apiextensionsv1.JSON {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return apiextensionsv1.JSON{Raw: raw}
}

func newWorkload(t *testing.T, backend v1.BackendName, cfg apiextensionsv1.JSON) *v1.Workload {
	t.Helper()
	wl := &v1.Workload{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "wl-" + rand.String(8)},
		Spec:       v1.WorkloadSpec{WorkloadType: "qadence_circuit", Backend: backend, Config: &cfg, UserID: "alice"},
	}
	if err := k8s.Create(context.Background(), wl); err != nil {
		t.Fatal(err)
	}
	return wl
}

func run(t *testing.T, wl *v1.Workload) *v1.Workload {
	t.Helper()
	r := &Runner{Client: k8s, Namespace: wl.Namespace, Name: wl.Name, Log: logr.Discard()}
	if err := r.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := &v1.Workload{}
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(wl), got); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestPulserBasicRunsToDoneWithACounter(t *testing.T) {
	wl := newWorkload(t, v1.BackendPulserBasic, pulserConfig(t, map[string]any{
		"sequence_builder": sequence, "variables": map[string]any{"t": []int{500}}, "runs": 40,
	}))
	got := run(t, wl)
	if got.Status.Phase != v1.WorkloadDone {
		t.Fatalf("phase %q, errors %v", got.Status.Phase, got.Status.Errors)
	}
	if got.Status.Result == nil || string(got.Status.Result.Raw) != `{"counter":{"1":40}}` {
		t.Fatalf("result %v", got.Status.Result)
	}
	if got.Status.StartTime == nil || got.Status.EndTime == nil {
		t.Fatal("start and end times must be set")
	}
	if c := meta.FindStatusCondition(got.Status.Conditions, ConditionExecuted); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("Executed condition: %+v", c)
	}
}

func TestASequenceGivenAsAnObjectRunsToo(t *testing.T) {
	var seq map[string]any
	if err := json.Unmarshal([]byte(sequence), &seq); err != nil {
		t.Fatal(err)
	}
	wl := newWorkload(t, v1.BackendPulserBasic, pulserConfig(t, map[string]any{
		"sequence_builder": seq, "variables": map[string]any{"t": []int{250}}, "runs": 30, "seed": 7,
	}))
	got := run(t, wl)
	var res struct{ Counter map[string]int64 }
	if got.Status.Phase != v1.WorkloadDone || json.Unmarshal(got.Status.Result.Raw, &res) != nil {
		t.Fatalf("phase %q, errors %v", got.Status.Phase, got.Status.Errors)
	}
	if res.Counter["0"]+res.Counter["1"] != 30 || len(res.Counter) != 2 {
		t.Fatalf("a π/2 pulse should give both outcomes over 30 runs: %v", res.Counter)
	}
}

func TestFailuresEndInErrorWithTheReason(t *testing.T) {
	for name, tc := range map[string]struct {
		backend v1.BackendName
		cfg     string
		want    string
	}{
		"missing sequence":  {v1.BackendPulserBasic, `{"runs": 10}`, "config.sequence_builder: required"},
		"zero runs":         {v1.BackendPulserBasic, `{"sequence_builder": "{}", "runs": 0}`, "config.runs: must be between 1 and"},
		"variables a list":  {v1.BackendPulserBasic, `{"sequence_builder": "{}", "runs": 1, "variables": [1]}`, "config.variables: must be an object"},
		"not an object":     {v1.BackendPulserBasic, `[1, 2]`, "config: not a pulser_basic config object"},
		"missing variable":  {v1.BackendPulserBasic, fmt.Sprintf(`{"sequence_builder": %q, "runs": 5}`, sequence), "invalid input: "},
		"bad sequence json": {v1.BackendPulserBasic, `{"sequence_builder": "{not json", "runs": 5}`, "invalid input: "},
		"other backend":     {"pyqtorch", `{}`, "this runner executes backend pulser_basic only, not pyqtorch: map (qadence_circuit, pyqtorch)"},
	} {
		t.Run(name, func(t *testing.T) {
			got := run(t, newWorkload(t, tc.backend, apiextensionsv1.JSON{Raw: []byte(tc.cfg)}))
			if got.Status.Phase != v1.WorkloadError || len(got.Status.Errors) != 1 || !strings.Contains(got.Status.Errors[0], tc.want) {
				t.Fatalf("phase %q errors %q, want ERROR with %q", got.Status.Phase, got.Status.Errors, tc.want)
			}
			if got.Status.EndTime == nil || got.Status.Result != nil {
				t.Fatalf("want an end time and no result: %+v", got.Status)
			}
			if c := meta.FindStatusCondition(got.Status.Conditions, ConditionExecuted); c == nil || c.Status != metav1.ConditionFalse || c.Message != got.Status.Errors[0] {
				t.Fatalf("Executed condition: %+v", c)
			}
		})
	}
}

func TestCanceledOrFinishedWorkloadsAreLeftAlone(t *testing.T) {
	cfg := pulserConfig(t, map[string]any{"sequence_builder": sequence, "variables": map[string]any{"t": []int{500}}, "runs": 5})
	canceled := newWorkload(t, v1.BackendPulserBasic, cfg)
	canceled.Spec.Canceled = true
	if err := k8s.Update(context.Background(), canceled); err != nil {
		t.Fatal(err)
	}
	if got := run(t, canceled); got.Status.Phase != "" || got.Status.Result != nil {
		t.Fatalf("a canceled workload was run: %+v", got.Status)
	}

	done := newWorkload(t, v1.BackendPulserBasic, cfg)
	done.Status.Phase = v1.WorkloadDone
	done.Status.Result = &apiextensionsv1.JSON{Raw: []byte(`{"counter":{"0":5}}`)}
	if err := k8s.Status().Update(context.Background(), done); err != nil {
		t.Fatal(err)
	}
	if got := run(t, done); string(got.Status.Result.Raw) != `{"counter":{"0":5}}` {
		t.Fatalf("a finished workload was run again: %s", got.Status.Result.Raw)
	}
}

// A config kept in a ConfigMap (spec.configFrom, as the facade stores a
// large one) runs as the same config in the spec would; one that is missing
// or not the workload's own ends the workload in ERROR naming the field.
func TestAConfigFromItsConfigMapRuns(t *testing.T) {
	ctx := context.Background()
	cfg := pulserConfig(t, map[string]any{"sequence_builder": sequence, "variables": map[string]any{"t": []int{500}}, "runs": 12})
	withConfigMap := func(t *testing.T, owned bool) *v1.Workload {
		t.Helper()
		wl := &v1.Workload{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "wl-" + rand.String(8)},
			Spec:       v1.WorkloadSpec{WorkloadType: "qadence_circuit", Backend: v1.BackendPulserBasic, Config: &cfg, UserID: "alice"},
		}
		cm := sequences.SplitWorkload(wl, 0)
		if cm == nil || wl.Spec.Config != nil || wl.Spec.ConfigFrom != cm.Name {
			t.Fatalf("SplitWorkload kept the config in the spec: %+v", wl.Spec)
		}
		if err := k8s.Create(ctx, wl); err != nil {
			t.Fatal(err)
		}
		if owned {
			sequences.OwnWorkload(cm, wl)
		}
		if err := k8s.Create(ctx, cm); err != nil {
			t.Fatal(err)
		}
		return wl
	}

	got := run(t, withConfigMap(t, true))
	if got.Status.Phase != v1.WorkloadDone || got.Status.Result == nil || string(got.Status.Result.Raw) != `{"counter":{"1":12}}` {
		t.Fatalf("phase %q, errors %v, result %v", got.Status.Phase, got.Status.Errors, got.Status.Result)
	}

	for name, wl := range map[string]*v1.Workload{"not owned": withConfigMap(t, false), "missing": func() *v1.Workload {
		wl := &v1.Workload{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "wl-" + rand.String(8)},
			Spec:       v1.WorkloadSpec{WorkloadType: "qadence_circuit", Backend: v1.BackendPulserBasic, ConfigFrom: "nowhere", UserID: "alice"},
		}
		if err := k8s.Create(ctx, wl); err != nil {
			t.Fatal(err)
		}
		return wl
	}()} {
		want := map[string]string{"not owned": "not owned by the workload", "missing": `configmaps "nowhere" not found`}[name]
		got := run(t, wl)
		if got.Status.Phase != v1.WorkloadError || len(got.Status.Errors) != 1 ||
			!strings.HasPrefix(got.Status.Errors[0], "spec.configFrom: ") || !strings.Contains(got.Status.Errors[0], want) {
			t.Errorf("%s: phase %q errors %q, want ERROR naming spec.configFrom with %q", name, got.Status.Phase, got.Status.Errors, want)
		}
	}
}

func TestAMissingWorkloadIsAnError(t *testing.T) {
	r := &Runner{Client: k8s, Namespace: ns, Name: "nope", Log: logr.Discard()}
	if err := r.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "reading workload "+ns+"/nope") {
		t.Fatalf("got %v", err)
	}
}

func TestWorkloadBoundsMatchTheEmulator(t *testing.T) {
	if workloadconfig.MaxRuns != emulator.MaxRuns {
		t.Fatalf("workloadconfig.MaxRuns = %d, emulator.MaxRuns = %d", workloadconfig.MaxRuns, emulator.MaxRuns)
	}
}
