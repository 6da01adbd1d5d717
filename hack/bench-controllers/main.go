// Command bench-controllers measures the execution path end to end on the
// local control plane: it starts envtest (etcd + kube-apiserver), the manager
// with the Process executor and the real runner binary, submits batches of a
// small sequence (4 atoms, 1 µs) and prints throughput and start latency.
//
//	go run ./hack/bench-controllers [-batches 200] [-jobs 5] [-concurrency 8]
//
// Two runs:
//   - throughput: every batch submitted at once; jobs/s from the first
//     creation to the last DONE, and creation-to-start latency (this one
//     includes the wait in the queue);
//   - free device: batches submitted one by one while the device has room;
//     creation-to-start latency when a device is free.
//
// Times are taken by this client: creation = just before the Create call,
// start = when a watch first sees the batch with a device, done = when it
// first sees it DONE.
//
// A warm-up batch runs to DONE before the throughput run. Without it the
// first batches exist before the manager's informers have listed, and
// controller-runtime's priority queue reconciles objects of the initial list
// at low priority: later batches then get their jobs, and so their place in
// the queue, first, and the queued creation-to-start p50 jumps between about
// 0.35 and 0.65 of the run from one run to the next (docs/bench-controllers.md).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers"
	"github.com/tweezer-dev/tweezer/controllers/executor"
	"github.com/tweezer-dev/tweezer/controllers/jobbudget"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
)

const sequence = `{"version": "1", "name": "bench", "register": [{"name": "q0", "x": 0.0, "y": 0.0}, {"name": "q1", "x": 8.0, "y": 0.0}, {"name": "q2", "x": 0.0, "y": 8.0}, {"name": "q3", "x": 8.0, "y": 8.0}],
 "device": "AnalogDevice", "channels": {"ryd": "rydberg_global"},
 "variables": {"duration": {"type": "int", "value": [1000]}},
 "operations": [{"op": "pulse", "channel": "ryd", "protocol": "min-delay", "phase": 0.0, "post_phase_shift": 0.0,
   "amplitude": {"kind": "constant", "duration": {"expression": "index", "lhs": {"variable": "duration"}, "rhs": 0}, "value": 6.283185307179586},
   "detuning": {"kind": "constant", "duration": {"expression": "index", "lhs": {"variable": "duration"}, "rhs": 0}, "value": 0.0}}],
 "measurement": "ground-rydberg"}`

// profile, when set, is where a 20 s CPU profile of kube-apiserver taken
// during the throughput run is written (read it with go tool pprof).
var profile = flag.String("apiserver-profile", "", "write a CPU profile of kube-apiserver during the throughput run to this file")

// selfProfile, when set, is where a CPU profile of this process (manager and
// client) during the throughput run is written.
var selfProfile = flag.String("cpuprofile", "", "write a CPU profile of the manager and client during the throughput run to this file")

func main() {
	batches := flag.Int("batches", 200, "batches in the throughput run")
	jobs := flag.Int("jobs", 5, "jobs per batch")
	runs := flag.Int("runs", 100, "shots per job")
	concurrency := flag.Int("concurrency", 8, "batches the emulator device runs at once")
	freeBatches := flag.Int("free-batches", 50, "batches in the free-device run")
	flag.Parse()
	if err := run(*batches, *jobs, *runs, *concurrency, *freeBatches); err != nil {
		fmt.Fprintln(os.Stderr, "bench-controllers:", err)
		os.Exit(1)
	}
}

func run(batches, jobs, runs, concurrency, freeBatches int) error {
	ctrl.SetLogger(logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "tweezer-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	runner := filepath.Join(dir, "runner")
	build := exec.Command("go", "build", "-o", runner, "./cmd/runner")
	build.Dir, build.Stdout, build.Stderr = controlplane.RepoRoot(), os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building the runner: %w", err)
	}
	env, err := controlplane.New()
	if err != nil {
		return err
	}
	cfg, err := env.Start()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	user, err := env.AddUser(envtest.User{Name: "runner", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return err
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: controlplane.Scheme()})
	if err != nil {
		return err
	}
	for _, ns := range []string{"tweezer-system", "bench"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: controlplane.Scheme(), Cache: controllers.CacheOptions(), NewClient: controllers.NewClient,
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
	})
	if err != nil {
		return err
	}
	if err := controllers.Setup(ctx, mgr, controllers.Config{
		// One project submits every batch: its job budget would bound the
		// throughput measured here, so it is off.
		Options: controllers.Options{Namespace: "tweezer-system", LeaseDuration: 10 * time.Second,
			JobBudget: jobbudget.Limits{PerSecond: -1}},
		Executor: executor.NewProcess(runner, kubeconfig, runnerLog()),
	}); err != nil {
		return err
	}
	go func() { _ = mgr.Start(ctx) }()

	dev := &quantumv1alpha1.Device{
		ObjectMeta: metav1.ObjectMeta{Name: "emu-free"},
		Spec: quantumv1alpha1.DeviceSpec{DeviceType: quantumv1alpha1.DeviceTypeEmuFree, IsEmulator: true,
			Availability: quantumv1alpha1.DeviceUp, Concurrency: int32(concurrency)},
	}
	if err := c.Create(ctx, dev); err != nil {
		return err
	}
	w := newWatcher(ctx, c)
	meter := newCPUMeter()
	if *profile != "" {
		go captureProfile(ctx, cfg, *profile)
	}
	warm, err := submit(ctx, c, w, 1, 1, runs, 0)
	if err != nil {
		return err
	}
	if err := w.waitDone(ctx, warm, 2*time.Minute); err != nil {
		return fmt.Errorf("warm-up batch: %w", err)
	}
	cpu0, req0 := meter.sample(), requestCounts(ctx, cfg)
	if *selfProfile != "" {
		f, err := os.Create(*selfProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}

	fmt.Printf("throughput run: %d batches × %d jobs (%d shots, 4 atoms, 1 µs), device concurrency %d\n", batches, jobs, runs, concurrency)
	names, err := submit(ctx, c, w, batches, jobs, runs, 0)
	if err != nil {
		return err
	}
	if err := w.waitDone(ctx, names, 10*time.Minute); err != nil {
		return err
	}
	first, last := w.span(names)
	total := float64(batches * jobs)
	fmt.Printf("  %d jobs DONE in %.2f s: %.1f jobs/s end to end\n", batches*jobs, last.Sub(first).Seconds(), total/last.Sub(first).Seconds())
	fmt.Printf("  creation to start (with queueing): %s\n", w.latencies(names))
	fmt.Printf("  creations took %.2f s; batches started out of creation order: %.0f %% of pairs\n", w.creationSpan(names).Seconds(), 100*w.inversions(names))
	if *selfProfile != "" {
		pprof.StopCPUProfile()
	}
	fmt.Printf("  CPU per job: %s\n", report(cpu0, meter.sample(), batches*jobs))
	fmt.Printf("  kube-apiserver requests per batch:\n%s", requestReport(req0, requestCounts(ctx, cfg), batches))

	fmt.Printf("free-device run: %d batches × %d jobs submitted one after another while the device has room\n", freeBatches, jobs)
	freeNames, err := submit(ctx, c, w, freeBatches, jobs, runs, concurrency/2)
	if err != nil {
		return err
	}
	if err := w.waitDone(ctx, freeNames, 10*time.Minute); err != nil {
		return err
	}
	fmt.Printf("  creation to start (device free): %s\n", w.latencies(freeNames))
	return nil
}

// submit creates n batches. With maxRunning > 0 it waits, before each
// creation, until fewer than maxRunning of its batches are unfinished, so the
// device always has room.
func submit(ctx context.Context, c client.Client, w *watcher, n, jobs, runs, maxRunning int) ([]string, error) {
	var names []string
	for i := 0; i < n; i++ {
		if maxRunning > 0 {
			for w.unfinished(names) >= maxRunning {
				time.Sleep(5 * time.Millisecond)
			}
		}
		b := &quantumv1alpha1.Batch{
			ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: uuid.NewString()},
			Spec: quantumv1alpha1.BatchSpec{SequenceBuilder: sequence, DeviceType: quantumv1alpha1.DeviceTypeEmuFree,
				QueuePriority: quantumv1alpha1.QueuePriorityMedium},
		}
		for j := 0; j < jobs; j++ {
			b.Spec.Jobs = append(b.Spec.Jobs, quantumv1alpha1.InlineJob{Runs: int32(runs),
				Variables: &apiextensionsv1.JSON{Raw: []byte(`{"duration": [1000]}`)}})
		}
		w.created(b.Name)
		if os.Getenv("BENCH_TRACE") != "" {
			fmt.Fprintf(os.Stderr, "%s create %s\n", time.Now().Format("15:04:05.000000"), b.Name)
		}
		if err := c.Create(ctx, b); err != nil {
			return nil, err
		}
		names = append(names, b.Name)
	}
	return names, nil
}

type times struct{ created, started, done time.Time }

type watcher struct {
	mu sync.Mutex
	t  map[string]*times
}

func newWatcher(ctx context.Context, c client.WithWatch) *watcher {
	w := &watcher{t: map[string]*times{}}
	wi, err := c.Watch(ctx, &quantumv1alpha1.BatchList{}, client.InNamespace("bench"))
	if err != nil {
		panic(err)
	}
	go func() {
		for ev := range wi.ResultChan() {
			b, ok := ev.Object.(*quantumv1alpha1.Batch)
			if !ok {
				continue
			}
			now := time.Now()
			w.mu.Lock()
			t := w.t[b.Name]
			if t != nil {
				if t.started.IsZero() && b.Status.DeviceID != "" {
					t.started = now
					if os.Getenv("BENCH_TRACE") != "" {
						fmt.Fprintf(os.Stderr, "%s started %s\n", now.Format("15:04:05.000000"), b.Name)
					}
				}
				if t.done.IsZero() && b.Status.Phase.Terminal() {
					t.done = now
					if os.Getenv("BENCH_TRACE") != "" {
						fmt.Fprintf(os.Stderr, "%s done %s\n", now.Format("15:04:05.000000"), b.Name)
					}
					if b.Status.Phase != quantumv1alpha1.BatchDone {
						fmt.Fprintf(os.Stderr, "batch %s ended %s\n", b.Name, b.Status.Phase)
					}
				}
			}
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *watcher) created(name string) {
	w.mu.Lock()
	w.t[name] = &times{created: time.Now()}
	w.mu.Unlock()
}

func (w *watcher) unfinished(names []string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, name := range names {
		if w.t[name].done.IsZero() {
			n++
		}
	}
	return n
}

func (w *watcher) waitDone(ctx context.Context, names []string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for w.unfinished(names) > 0 {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%d batches unfinished after %s", w.unfinished(names), limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func (w *watcher) span(names []string) (time.Time, time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	first, last := w.t[names[0]].created, w.t[names[0]].done
	for _, n := range names {
		if w.t[n].created.Before(first) {
			first = w.t[n].created
		}
		if w.t[n].done.After(last) {
			last = w.t[n].done
		}
	}
	return first, last
}

func (w *watcher) creationSpan(names []string) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.t[names[len(names)-1]].created.Sub(w.t[names[0]].created)
}

// inversions is the fraction of pairs of batches (names in creation order)
// that started in the opposite order: 0 is first come, first served, 0.5 a
// random order. Batches created within one second tie on creationTimestamp
// and start in name order, so a fast client sees some.
func (w *watcher) inversions(names []string) float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	inv, pairs := 0, 0
	for i := range names {
		for j := i + 1; j < len(names); j++ {
			pairs++
			if w.t[names[i]].started.After(w.t[names[j]].started) {
				inv++
			}
		}
	}
	if pairs == 0 {
		return 0
	}
	return float64(inv) / float64(pairs)
}

func (w *watcher) latencies(names []string) string {
	w.mu.Lock()
	var d []time.Duration
	for _, n := range names {
		d = append(d, w.t[n].started.Sub(w.t[n].created))
	}
	w.mu.Unlock()
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	pct := func(p float64) time.Duration { return d[int(p*float64(len(d)-1)+0.5)] }
	var b strings.Builder
	fmt.Fprintf(&b, "p50 %s, p99 %s, max %s", pct(0.5).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond))
	return b.String()
}

// runnerLog is where runner output goes: $BENCH_RUNNER_LOG, else nowhere.
func runnerLog() *os.File {
	path := os.Getenv("BENCH_RUNNER_LOG")
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		panic(err)
	}
	return f
}
