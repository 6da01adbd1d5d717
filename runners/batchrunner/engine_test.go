package batchrunner

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/runners/engine"
)

// recordingEngine returns one observable for every task and records the tasks.
type recordingEngine struct {
	mu    sync.Mutex
	tasks []engine.Task
}

func (e *recordingEngine) Run(_ context.Context, t engine.Task, _ func(int)) (*engine.Result, error) {
	e.mu.Lock()
	e.tasks = append(e.tasks, t)
	e.mu.Unlock()
	return &engine.Result{
		Counter: map[string]int64{"0": int64(t.Runs)}, Raw: []string{"0"},
		AtomOrder: []string{"q0"}, TotalDuration: 100,
		Observables: []engine.Observed{{Tag: "occupation", UUID: "u1", Aggregation: 2, Times: []float64{1}, Values: []json.RawMessage{json.RawMessage(`[0.5]`)}}},
	}, nil
}

// runBatch runs a runner over a batch and its jobs until the batch is
// complete; the first inline of the jobs are the batch's inline jobs, the
// others Jobs made directly (as kubectl would).
func runBatch(t *testing.T, ns string, b *quantumv1alpha1.Batch, jobs []quantumv1alpha1.JobSpec, inline int, eng engine.Engine) []quantumv1alpha1.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	namespace(t, ns)
	b.Namespace, b.Name = ns, "b"
	b.Spec.UserID = "u"
	b.Spec.Jobs = make([]quantumv1alpha1.InlineJob, inline)
	for i := range b.Spec.Jobs {
		b.Spec.Jobs[i].Runs, b.Spec.Jobs[i].Sequence = jobs[i].Runs, jobs[i].Sequence
	}
	if err := k8s.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	for i, js := range jobs {
		js.BatchName, js.CreationOrder = b.Name, int32(i+1)
		j := &quantumv1alpha1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "j" + string(rune('0'+i)),
			Labels: map[string]string{quantumv1alpha1.BatchLabel: b.Name}}, Spec: js}
		if err := k8s.Create(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "b"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("r1"), LeaseDurationSeconds: ptr.To(int32(15))}}
	if err := k8s.Create(ctx, lease); err != nil {
		t.Fatal(err)
	}
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{quantumv1alpha1.AddToScheme, corev1.AddToScheme, coordinationv1.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	cl, err := NewCluster(restConfig, s)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(cl, Config{Namespace: ns, Batch: "b", RunnerID: "r1", LeaseName: "b", LeaseDuration: 15 * time.Second,
		Engine: eng, ProgressInterval: time.Second, Log: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	list := &quantumv1alpha1.JobList{}
	if err := k8s.List(ctx, list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// A job runs its own sequence, else its batch's; one with neither fails
// naming the field; a result with observables goes to the job's ConfigMap
// with serialised_results.
func TestRunnerHandsTheEngineOneTaskPerJob(t *testing.T) {
	cfg, err := os.ReadFile("../../internal/emulationconfig/testdata/pulser_config.json")
	if err != nil {
		t.Fatal(err)
	}
	eng := &recordingEngine{}
	b := &quantumv1alpha1.Batch{Spec: quantumv1alpha1.BatchSpec{DeviceType: quantumv1alpha1.DeviceTypeEmuFree, BackendConfiguration: strings.TrimSpace(string(cfg))}}
	jobs := runBatch(t, "runner-tasks", b, []quantumv1alpha1.JobSpec{{Runs: 5, Sequence: `{"own":1}`}, {Runs: 6}}, 1, eng)
	if len(eng.tasks) != 1 || eng.tasks[0].Sequence != `{"own":1}` || eng.tasks[0].Emulation == nil || len(eng.tasks[0].Emulation.Observables) != 6 {
		t.Fatalf("tasks %+v", eng.tasks)
	}
	for _, j := range jobs {
		switch j.Name {
		case "j0":
			if j.Status.Phase != quantumv1alpha1.JobDone || j.Status.ResultRef == "" || j.Status.Counter["0"] != 5 {
				t.Fatalf("j0: %+v", j.Status)
			}
			cm := &corev1.ConfigMap{}
			if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: j.Namespace, Name: j.Status.ResultRef}, cm); err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Counter    map[string]int64 `json:"counter"`
				Serialised string           `json:"serialised_results"`
			}
			if err := json.Unmarshal([]byte(cm.Data[quantumv1alpha1.ResultKey]), &doc); err != nil || doc.Counter["0"] != 5 || !strings.Contains(doc.Serialised, `"tagmap":{"occupation":"u1"}`) {
				t.Fatalf("stored result %s (%v)", cm.Data[quantumv1alpha1.ResultKey], err)
			}
		case "j1":
			if j.Status.Phase != quantumv1alpha1.JobError || len(j.Status.Errors) != 1 || !strings.HasPrefix(j.Status.Errors[0], "sequence: ") {
				t.Fatalf("j1 has no sequence: %+v", j.Status)
			}
		}
	}
}

// A batch made with kubectl whose EmulationConfig the engines cannot honour:
// every job fails naming the field, and the engine never runs.
func TestRunnerRefusesAnEmulationConfigNamingTheField(t *testing.T) {
	cfg, err := os.ReadFile("../../internal/emulationconfig/testdata/pulser_config.json")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(strings.TrimSpace(string(cfg)), `"with_modulation": false`, `"with_modulation": true`, 1)
	eng := &recordingEngine{}
	b := &quantumv1alpha1.Batch{Spec: quantumv1alpha1.BatchSpec{SequenceBuilder: `{"batch":1}`, DeviceType: quantumv1alpha1.DeviceTypeEmuFree, BackendConfiguration: bad}}
	jobs := runBatch(t, "runner-refuses", b, []quantumv1alpha1.JobSpec{{Runs: 5}}, 1, eng)
	if len(eng.tasks) != 0 {
		t.Fatalf("the engine ran %+v", eng.tasks)
	}
	if s := jobs[0].Status; s.Phase != quantumv1alpha1.JobError || !strings.HasPrefix(s.Errors[0], "backend_configuration.with_modulation: ") {
		t.Fatalf("job: %+v", s)
	}
}

// A job whose raw shots alone would not fit in a result ConfigMap fails
// naming runs before the engine runs; the batch's other jobs run.
func TestRunnerRefusesAnOversizeResultBeforeRunning(t *testing.T) {
	var reg []string
	for i := range 20 {
		reg = append(reg, `{"name":"q`+string(rune('a'+i))+`","x":0,"y":0}`)
	}
	seq := `{"register":[` + strings.Join(reg, ",") + `]}`
	eng := &recordingEngine{}
	b := &quantumv1alpha1.Batch{Spec: quantumv1alpha1.BatchSpec{SequenceBuilder: seq, DeviceType: quantumv1alpha1.DeviceTypeEmuFree}}
	maxRuns := int32(quantumv1alpha1.MaxRunsForResult(20))
	jobs := runBatch(t, "runner-oversize", b, []quantumv1alpha1.JobSpec{{Runs: 50000}, {Runs: maxRuns}}, 2, eng)
	if len(eng.tasks) != 1 || eng.tasks[0].Runs != int(maxRuns) {
		t.Fatalf("the engine ran %d tasks, want only the one that fits", len(eng.tasks))
	}
	for _, j := range jobs {
		switch j.Name {
		case "j0":
			want := "runs: 50000 runs of 20 atoms make a result of at least 1150052 bytes, more than the 1048576 bytes a job's result may hold: ask for at most 45588 runs"
			if j.Status.Phase != quantumv1alpha1.JobError || len(j.Status.Errors) != 1 || j.Status.Errors[0] != want {
				t.Fatalf("j0: %+v", j.Status)
			}
		case "j1":
			if j.Status.Phase != quantumv1alpha1.JobDone {
				t.Fatalf("j1 at the cap: %+v", j.Status)
			}
		}
	}
	if maxRuns != 45588 || quantumv1alpha1.MinResultBytes(45588, 20) > quantumv1alpha1.MaxResultBytes || quantumv1alpha1.MinResultBytes(45589, 20) <= quantumv1alpha1.MaxResultBytes {
		t.Errorf("MaxRunsForResult(20) = %d is not the largest that fits", maxRuns)
	}
}

// An engine that panics fails its job (ERROR with the panic's message), not
// the runner: the batch's next job still runs.
func TestRunnerTurnsAnEnginePanicIntoError(t *testing.T) {
	eng := engine.Func(func(_ context.Context, t engine.Task, _ func(int)) (*engine.Result, error) {
		if t.Sequence == `{"boom":1}` {
			panic("too many atoms for the bond dimension")
		}
		return &engine.Result{Counter: map[string]int64{"0": int64(t.Runs)}, Raw: []string{"0"}}, nil
	})
	b := &quantumv1alpha1.Batch{Spec: quantumv1alpha1.BatchSpec{DeviceType: quantumv1alpha1.DeviceTypeEmuFree}}
	jobs := runBatch(t, "runner-panic", b, []quantumv1alpha1.JobSpec{{Runs: 1, Sequence: `{"boom":1}`}, {Runs: 2, Sequence: `{"ok":1}`}}, 2, eng)
	for _, j := range jobs {
		switch j.Name {
		case "j0":
			if s := j.Status; s.Phase != quantumv1alpha1.JobError || len(s.Errors) != 1 || s.Errors[0] != "the engine panicked: too many atoms for the bond dimension" {
				t.Fatalf("the panicking job: %+v", s)
			}
		case "j1":
			if s := j.Status; s.Phase != quantumv1alpha1.JobDone || s.Counter["0"] != 2 {
				t.Fatalf("the job after the panic: %+v", s)
			}
		}
	}
}

// A cancel that reaches the runner as its engine returns the job's result
// does not undo the work: the job the engine completed is DONE with its
// result, not CANCELED; a job whose engine stops on the cancel is CANCELED.
func TestRunnerKeepsAJobCompletedAsItIsCanceled(t *testing.T) {
	const ns = "runner-cancel-race"
	cancelJob := func(ctx context.Context, name string) error {
		// The job is marked RUNNING first (one progress interval), as a job
		// canceled through the facade mid-run. The writes do not use the
		// engine's context: the cancel they write ends it, possibly before
		// the answer comes back.
		ctx = context.WithoutCancel(ctx)
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			j := &quantumv1alpha1.Job{}
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, j); err != nil {
				return err
			}
			if j.Status.Phase == quantumv1alpha1.JobRunning {
				j.Spec.Canceled = true
				return k8s.Update(ctx, j)
			}
		}
		return errors.New("job " + name + " was never marked RUNNING")
	}
	eng := engine.Func(func(ctx context.Context, task engine.Task, _ func(int)) (*engine.Result, error) {
		name := map[string]string{`{"completes":1}`: "j0", `{"stops":1}`: "j1"}[task.Sequence]
		if err := cancelJob(ctx, name); err != nil {
			return nil, err
		}
		<-ctx.Done() // the runner has seen the cancel
		if name == "j1" {
			return nil, context.Cause(ctx)
		}
		return &engine.Result{Counter: map[string]int64{"0": int64(task.Runs)}, Raw: []string{"0"}}, nil
	})
	b := &quantumv1alpha1.Batch{Spec: quantumv1alpha1.BatchSpec{DeviceType: quantumv1alpha1.DeviceTypeEmuFree}}
	jobs := runBatch(t, ns, b, []quantumv1alpha1.JobSpec{{Runs: 3, Sequence: `{"completes":1}`}, {Runs: 4, Sequence: `{"stops":1}`}}, 2, eng)
	for _, j := range jobs {
		switch j.Name {
		case "j0":
			if s := j.Status; s.Phase != quantumv1alpha1.JobDone || s.Counter["0"] != 3 || !j.Spec.Canceled {
				t.Errorf("the job completed as it was canceled: canceled %v, %+v; want DONE with its counts", j.Spec.Canceled, s)
			}
		case "j1":
			if s := j.Status; s.Phase != quantumv1alpha1.JobCanceled {
				t.Errorf("the job stopped by its cancel: %+v; want CANCELED", s)
			}
		}
	}
}
