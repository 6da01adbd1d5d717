// Command bench-abuse shows that one tenant cannot starve another. On the
// local control plane (etcd, kube-apiserver, kube-controller-manager's
// resource quota controller) it runs the manager (Process executor with the
// real runner) and the REST facade, each as a process of its own as a
// cluster deploys them (with -processes=false: both in this process, Batch,
// Workload and project controllers only), and two projects through the
// facade:
//
//   - project B submits a small batch (1 job, 4 atoms) at a steady rate and
//     reads it back;
//   - project A floods: clients that post batches with a sequence of about
//     1 MiB (one in ten just over the 1 MiB cap) as fast as they are
//     answered, and 50 workloads with a 512 KiB config, against a quota of
//     -a-batches batches and 20 workloads.
//
// Two phases in the same run: quiet (B alone), then flood (A and B). It
// prints B's batch start latency (creation to device, seen by a watch) and
// facade request latency in both phases with their ratio, the peak RSS of
// the facade, of the manager and of this process (the clients; in the
// in-process layout all three share it, and its live Go heap is shown),
// where the CPU went, and A's refused requests by status with a sample
// message.
//
//	make bench-abuse             # or: go run ./hack/bench-abuse -phase 20s -a-batches 20
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/budget"
	"github.com/tweezer-dev/tweezer/apiserver/server"
	"github.com/tweezer-dev/tweezer/controllers"
	"github.com/tweezer-dev/tweezer/controllers/executor"
	"github.com/tweezer-dev/tweezer/controllers/project"
	"github.com/tweezer-dev/tweezer/controllers/workload"
	"github.com/tweezer-dev/tweezer/hack/testenv"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
)

// aDeviceType is the device type of A's batches; cpuProfile and
// apiserverProfile, when set, receive a CPU profile of this process and of
// kube-apiserver during the flood phase.
var aDeviceType, cpuProfile, apiserverProfile string

// writes is the facade's write budget per project.
var writes = server.Defaults().ProjectWrites

// aHonorRetryAfter makes A wait out each 429's Retry-After (an abuser does not).
var aHonorRetryAfter bool

// aDirect sends A's batches straight to kube-apiserver with A's own token,
// past the facade and its write budget (-a-direct).
var aDirect bool

// aRole is the ClusterRole A's member is bound to (-a-role).
var aRole string

// inlineSequenceBytes is the facade's --inline-sequence-bytes.
var inlineSequenceBytes = server.Defaults().InlineSequenceBytes

// inProcess runs the facade and the manager in this process (-processes=false).
var inProcess bool

// slowest is how many of B's slowest flood requests to show, with A's
// accepted writes around each.
var slowest int

// timelineTick is how often the flood's CPU is sampled for the slowest
// requests' lines (the kernel counts CPU time in 10 ms ticks).
const timelineTick = 100 * time.Millisecond

// runnerNice is the niceness the batch runners run at (-runner-nice).
var runnerNice int

// aSequenceBytes is the size of the sequence of A's batches (its workloads'
// configs are half that).
var aSequenceBytes int

const (
	projectA  = "a0a0a0a0-1111-4a4a-8a8a-000000000001"
	projectB  = "b0b0b0b0-2222-4b4b-8b8b-000000000002"
	managerNS = "tweezer-system"
	// memoryLimit is the facade's and the manager's memory limit in
	// config/, each.
	memoryLimit = 512 << 20
)

// sequence is a 4-atom Pulser sequence of 1 µs whose name pads it to size bytes.
func sequence(size int) string {
	const head = `{"version": "1", "name": "`
	const tail = `", "register": [{"name": "q0", "x": 0.0, "y": 0.0}, {"name": "q1", "x": 8.0, "y": 0.0}, {"name": "q2", "x": 0.0, "y": 8.0}, {"name": "q3", "x": 8.0, "y": 8.0}],
 "device": "AnalogDevice", "channels": {"ryd": "rydberg_global"}, "variables": {},
 "operations": [{"op": "pulse", "channel": "ryd", "protocol": "min-delay", "phase": 0.0, "post_phase_shift": 0.0,
   "amplitude": {"kind": "constant", "duration": 1000, "value": 6.283185307179586},
   "detuning": {"kind": "constant", "duration": 1000, "value": 0.0}}],
 "measurement": "ground-rydberg"}`
	return head + strings.Repeat("x", max(4, size-len(head)-len(tail))) + tail
}

func main() {
	phase := flag.Duration("phase", 20*time.Second, "length of the quiet and of the flood phase")
	rate := flag.Duration("b-interval", 250*time.Millisecond, "time between two of B's batches")
	aBatches := flag.Int("a-batches", 20, "project A's batch quota (its jobs quota is 5 jobs per batch)")
	aClients := flag.Int("a-clients", 4, "project A's concurrent flooding clients")
	aWorkloads := flag.Int("a-workloads", 50, "workloads project A posts at the start of the flood (its quota is 20)")
	concurrency := flag.Int("concurrency", 4, "batches the emulator device runs at once")
	flag.IntVar(&runnerNice, "runner-nice", 0, "niceness of the batch runners (processes layout): on a cluster they run on worker nodes, not on the control plane's cores")
	flag.IntVar(&aSequenceBytes, "a-sequence-bytes", 1000<<10, "size of the sequence of A's batches")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of this process (facade, manager, clients) during the flood phase to this file")
	flag.StringVar(&apiserverProfile, "apiserver-cpuprofile", "", "write a CPU profile of kube-apiserver during the flood phase to this file")
	flag.Float64Var(&writes.BytesPerSecond, "project-write-bytes-per-second", writes.BytesPerSecond, "the facade's --project-write-bytes-per-second (0: no byte budget)")
	flag.Int64Var(&writes.BurstBytes, "project-write-burst-bytes", writes.BurstBytes, "the facade's --project-write-burst-bytes")
	flag.Float64Var(&writes.RequestsPerSecond, "project-write-requests-per-second", writes.RequestsPerSecond, "the facade's --project-write-requests-per-second (0: no request budget)")
	flag.IntVar(&writes.BurstRequests, "project-write-burst-requests", writes.BurstRequests, "the facade's --project-write-burst-requests")
	flag.Float64Var(&writes.JobsPerSecond, "project-jobs-per-second", writes.JobsPerSecond, "the facade's --project-jobs-per-second (0: no job budget)")
	flag.IntVar(&writes.BurstJobs, "project-jobs-burst", writes.BurstJobs, "the facade's --project-jobs-burst")
	flag.Float64Var(&writes.RefusedPerSecond, "user-refused-writes-per-second", writes.RefusedPerSecond, "the facade's --user-refused-writes-per-second (0: no limit)")
	flag.IntVar(&writes.BurstRefused, "user-refused-writes-burst", writes.BurstRefused, "the facade's --user-refused-writes-burst")
	flag.Int64Var(&writes.InFlightBytes, "project-write-bytes-in-flight", writes.InFlightBytes, "the facade's --project-write-bytes-in-flight (0: no bound)")
	flag.IntVar(&inlineSequenceBytes, "inline-sequence-bytes", inlineSequenceBytes, "the facade's --inline-sequence-bytes (-1: every sequence in the Batch object, every config in the Workload)")
	flag.IntVar(&slowest, "slowest", 5, "show B's N slowest batch starts and POSTs of the flood, each with A's accepted writes in flight or just before")
	flag.BoolVar(&aDirect, "a-direct", false, "A creates its batches straight through kube-apiserver with its own token, as kubectl would (sequences inline in the Batch; its workloads still go through the facade), past the facade's write budget")
	flag.StringVar(&aRole, "a-role", "tweezer-user", "the ClusterRole (config/rbac/roles) A's member is bound to: tweezer-user, or tweezer-user-facade (writes through the facade only)")
	flag.BoolVar(&aHonorRetryAfter, "a-honor-retry-after", false, "A's clients wait out the Retry-After of a 429 (by default they post again at once, as an abuser would)")
	processes := flag.Bool("processes", true, "run the manager and the facade as processes of their own, as deployed (false: both in this process, sharing its Go runtime with the clients, as bench-abuse did before)")
	flag.StringVar(&aDeviceType, "a-device-type", "EMU_FREE", "device type of A's batches (B's is EMU_FREE; another type gets a device of its own, so A and B share no queue)")
	flag.Parse()
	inProcess = !*processes
	if err := run(*phase, *rate, *aBatches, *aClients, *aWorkloads, *concurrency); err != nil {
		fmt.Fprintln(os.Stderr, "bench-abuse:", err)
		os.Exit(1)
	}
}

func run(phase, rate time.Duration, aBatches, aClients, aWorkloads, concurrency int) error {
	ctrl.SetLogger(logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "tweezer-bench-abuse-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cmds := []string{"runner"}
	if !inProcess {
		cmds = append(cmds, "manager", "apiserver")
	}
	fmt.Fprintf(os.Stderr, "building %s...\n", strings.Join(cmds, ", "))
	if err := build(dir, cmds...); err != nil {
		return err
	}
	runner := filepath.Join(dir, "runner")
	env, err := controlplane.New()
	if err != nil {
		return err
	}
	cfg, err := env.Start()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	stopKCM, err := testenv.StartControllerManager(env.Environment, io.Discard, "resourcequota-controller")
	if err != nil {
		return err
	}
	defer stopKCM()
	runnerUser, err := env.AddUser(envtest.User{Name: "runner", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kc, err := runnerUser.KubeConfig()
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return err
	}
	admin, err := client.NewWithWatch(cfg, client.Options{Scheme: controlplane.Scheme()})
	if err != nil {
		return err
	}
	tokens, err := setup(ctx, cfg, admin, aBatches, concurrency)
	if err != nil {
		return err
	}
	facadeURL, managerMetrics, facadeMetrics := "", "", ""
	procs := map[string]int{}
	if inProcess {
		if err := startManager(ctx, cfg, runner, kubeconfig); err != nil {
			return err
		}
		if err := waitQuotas(ctx, admin); err != nil {
			return err
		}
		fc := server.Defaults()
		fc.ProjectWrites = writes
		fc.InlineSequenceBytes = inlineSequenceBytes
		s, err := server.New(cfg, fc)
		if err != nil {
			return err
		}
		if err := s.StartCache(ctx); err != nil {
			return err
		}
		facade := httptest.NewServer(s.Handler())
		defer facade.Close()
		facadeURL = facade.URL
	} else {
		d, err := deploy(ctx, dir, kubeconfig)
		if err != nil {
			return err
		}
		defer d.stop()
		if err := waitQuotas(ctx, admin); err != nil {
			return err
		}
		facadeURL, managerMetrics, facadeMetrics = d.facadeURL, d.managerMetrics, d.facadeMetrics
		procs["facade process"], procs["manager process"] = d.facade.Pid(), d.manager.Pid()
	}
	procs[thisProcess()] = os.Getpid()
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}, Timeout: time.Minute}

	w, err := newWatcher(ctx, admin)
	if err != nil {
		return err
	}
	mem := newMemSampler(procs)
	load0 := loadavg()
	b := &tenantB{c: httpc, url: facadeURL, token: tokens[projectB], w: w, rate: rate}

	fmt.Fprintf(os.Stderr, "quiet phase: B alone for %s\n", phase)
	mem.reset()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	req0, err := sampleRequests(ctx, cs)
	if err != nil {
		return err
	}
	cpu0, queue0 := sampleCPU(), sampleQueue(managerMetrics)
	quiet := b.run(ctx, phase)
	quietMem := mem.peak()
	cpu1, queue1 := sampleCPU(), sampleQueue(managerMetrics)
	req1, err := sampleRequests(ctx, cs)
	if err != nil {
		return err
	}

	fmt.Fprintf(os.Stderr, "flood phase: A floods while B goes on, %s\n", phase)
	mem.reset()
	a := &tenantA{c: httpc, url: facadeURL, token: tokens[projectA], counts: map[int]int{}, samples: map[int]string{}}
	if aDirect {
		if a.kube, a.kubeURL, err = directClient(cfg, tokens[projectA]); err != nil {
			return err
		}
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	profiled := profileAPIServer(ctx, cfg, phase)
	refused0 := refusals(facadeMetrics)
	tctx, stopTimeline := context.WithCancel(ctx)
	tl := startTimeline(tctx, timelineTick)
	floodStart := time.Now()
	actx, stopA := context.WithCancel(ctx)
	var aDone sync.WaitGroup
	aDone.Add(1)
	go func() { defer aDone.Done(); a.flood(actx, aClients, aWorkloads) }()
	flood := b.run(ctx, phase)
	stopA()
	aDone.Wait()
	stopTimeline()
	floodMem := mem.peak()
	refused1 := refusals(facadeMetrics)
	cpu2, queue2 := sampleCPU(), sampleQueue(managerMetrics)
	req2, err := sampleRequests(ctx, cs)
	if err != nil {
		return err
	}
	pprof.StopCPUProfile()
	if err := <-profiled; err != nil {
		return err
	}
	mem.stop()
	load1 := loadavg()

	fmt.Fprintf(os.Stderr, "waiting for B's batches to start...\n")
	w.waitStarted(append(quiet.names, flood.names...), time.Minute)
	qs, fs := w.starts(quiet.names), w.starts(flood.names)

	fmt.Printf("\n%-42s %10s %10s %8s\n", "B (steady tenant)", "quiet", "flood", "ratio")
	row := func(name string, q, f time.Duration) {
		fmt.Printf("%-42s %10.1f %10.1f %7.2fx\n", name, ms(q), ms(f), ratio(f, q))
	}
	row("batch start p50 (ms)", pct(qs, 50), pct(fs, 50))
	row("batch start p99 (ms)", pct(qs, 99), pct(fs, 99))
	row("facade POST /api/v1/batches p99 (ms)", pct(quiet.post, 99), pct(flood.post, 99))
	row("facade GET /api/v2/batches/{id} p99 (ms)", pct(quiet.get, 99), pct(flood.get, 99))
	all := func(r phaseResult) []time.Duration { return append(slices.Clone(r.post), r.get...) }
	row("facade requests p99 (ms)", pct(all(quiet), 99), pct(all(flood), 99))
	fmt.Printf("%-42s %10d %10d\n", "batches submitted (not started)", len(quiet.names), len(flood.names))
	fmt.Printf("%-42s %10d %10d\n", "  of which never started", len(quiet.names)-len(qs), len(flood.names)-len(fs))
	fmt.Printf("%-42s %10d %10d\n", "B request errors", quiet.errors, flood.errors)

	fmt.Printf("\n%-42s %10s %10s %10s\n", "memory, peak (MiB)", "quiet", "flood", "limit")
	if inProcess {
		fmt.Printf("%-42s %10.0f %10.0f %10.0f\n", "this process: live Go heap", mib(quietMem.heap), mib(floodMem.heap), mib(memoryLimit))
	}
	for _, name := range slices.Sorted(maps.Keys(procs)) {
		limit := "-" // the clients are not deployed
		if name != thisProcess() || inProcess {
			limit = fmt.Sprintf("%.0f", mib(memoryLimit))
		}
		fmt.Printf("%-42s %10.0f %10.0f %10s\n", name+": RSS", mib(quietMem.rss[name]), mib(floodMem.rss[name]), limit)
	}

	printCPU(cpu1.since(cpu0), cpu2.since(cpu1), phase)
	printRequests(req1.since(req0), req2.since(req1), 15)
	printQueue(queue1.since(queue0), queue2.since(queue1))

	if slowest > 0 {
		var posts []span
		w.mu.Lock()
		for i, n := range flood.names {
			posts = append(posts, span{w.create[n], w.create[n].Add(flood.post[i])})
		}
		w.mu.Unlock()
		a.mu.Lock()
		written := slices.Clone(a.written)
		a.mu.Unlock()
		printSlowest("batch starts", w.spans(flood.names), written, floodStart, phase, tl)
		printSlowest("POST /api/v1/batches", posts, written, floodStart, phase, tl)
	}

	batchesTo := "batch posts"
	if aDirect {
		batchesTo = "batches created straight through kube-apiserver"
	}
	fmt.Printf("\nA (flooding tenant): %d requests in %s (%d %s of %d KiB, %d workload posts)\n", a.sent.Load(), phase, a.batchPosts.Load(), batchesTo, aSequenceBytes>>10, a.workloadPosts.Load())
	for _, code := range slices.Sorted(maps.Keys(a.counts)) {
		fmt.Printf("  %d × %d", a.counts[code], code)
		if msg := a.samples[code]; msg != "" {
			fmt.Printf("  e.g. %.300s", msg)
		}
		fmt.Println()
	}
	fmt.Printf("  the facade's write budget refusals, by stage (held: before the body is read) and limit:")
	for _, k := range slices.Sorted(maps.Keys(refused1)) {
		if n := refused1[k] - refused0[k]; n > 0 {
			fmt.Printf(" %s %.0f;", k, n)
		}
	}
	fmt.Println()
	fmt.Printf("\nload average (1 min) %s at the start, %s at the end; GOMAXPROCS=%d; B every %s on EMU_FREE; A: %d clients on %s, quota %d batches / %d jobs / 20 workloads, role %s.\n",
		load0, load1, runtime.GOMAXPROCS(0), rate, aClients, aDeviceType, aBatches, 5*aBatches, aRole)
	budgetText := "off"
	if !writes.Off() {
		budgetText = fmt.Sprintf("%s/s, burst %s; %g requests/s, burst %d; %g jobs/s, burst %d; %s in flight; per user, %g refused writes/s, burst %d", budget.Size(writes.BytesPerSecond), budget.Size(float64(writes.BurstBytes)), writes.RequestsPerSecond, writes.BurstRequests, writes.JobsPerSecond, writes.BurstJobs, budget.Size(float64(writes.InFlightBytes)), writes.RefusedPerSecond, writes.BurstRefused)
	}
	fmt.Printf("write budget per project: %s; sequences (a workload's config) over %d bytes kept out of the Batch (the Workload).\n", budgetText, inlineSequenceBytes)
	return nil
}

// setup creates the projects (A with a small quota), their members, the
// device and the workload image mapping; it returns each project's token.
func setup(ctx context.Context, cfg *rest.Config, admin client.Client, aBatches, concurrency int) (map[string]string, error) {
	roles := map[string]client.Object{}
	for _, name := range []string{"tweezer-user", aRole} {
		raw, err := os.ReadFile(filepath.Join(controlplane.RepoRoot(), "config/rbac/roles", name+".yaml"))
		if err != nil {
			return nil, err
		}
		role := &rbacv1.ClusterRole{}
		if err := yaml.Unmarshal(raw, role); err != nil {
			return nil, err
		}
		roles[name] = role
	}
	nsA := testenv.ProjectNamespace(projectA)
	nsA.Annotations = map[string]string{quantumv1alpha1.QuotaAnnotation: fmt.Sprintf("batches=%d,jobs=%d,workloads=20", aBatches, 5*aBatches)}
	images := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: managerNS, Name: workload.ImagesConfigMap},
		Data: map[string]string{workload.ImageKey("qadence_circuit", "pulser_basic"): "runner:bench"}}
	objs := []client.Object{
		nsA, testenv.ProjectNamespace(projectB),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: managerNS}}, images,
		&quantumv1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: "emu-free"}, Spec: quantumv1alpha1.DeviceSpec{
			DeviceType: quantumv1alpha1.DeviceTypeEmuFree, IsEmulator: true,
			Availability: quantumv1alpha1.DeviceUp, Concurrency: int32(concurrency)}},
	}
	if aDeviceType != string(quantumv1alpha1.DeviceTypeEmuFree) {
		objs = append(objs, &quantumv1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: "a-device"}, Spec: quantumv1alpha1.DeviceSpec{
			DeviceType: quantumv1alpha1.DeviceType(aDeviceType), IsEmulator: true,
			Availability: quantumv1alpha1.DeviceUp, Concurrency: int32(concurrency)}})
	}
	for _, r := range roles {
		objs = append(objs, r)
	}
	for p, role := range map[string]string{projectA: aRole, projectB: "tweezer-user"} {
		objs = append(objs,
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "member", Namespace: p}},
			&rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: "member", Namespace: p},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
				Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "member", Namespace: p}},
			})
	}
	for _, o := range objs {
		if err := admin.Create(ctx, o); err != nil {
			return nil, err
		}
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	tokens := map[string]string{}
	for _, p := range []string{projectA, projectB} {
		tr, err := cs.CoreV1().ServiceAccounts(p).CreateToken(ctx, "member", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			return nil, err
		}
		tokens[p] = tr.Status.Token
	}
	return tokens, nil
}

// startManager runs the manager's reconcilers (batch, project, workload)
// in this process until ctx ends. Workload runners run nothing (parked):
// the bench is about the control plane, not the workloads' compute.
func startManager(ctx context.Context, cfg *rest.Config, runner, kubeconfig string) error {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: controlplane.Scheme(), Cache: controllers.CacheOptions(), NewClient: controllers.NewClient,
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
	})
	if err != nil {
		return err
	}
	if err := controllers.Setup(ctx, mgr, controllers.Config{
		Options:  controllers.Options{Namespace: managerNS, LeaseDuration: 10 * time.Second},
		Executor: executor.NewProcess(runner, kubeconfig, nil),
	}); err != nil {
		return err
	}
	quota, err := project.ParseQuota(project.DefaultQuota)
	if err != nil {
		return err
	}
	pr := &project.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("tweezer-project"), Settings: project.Settings{
		Quota: quota,
		Container: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("2Gi")},
		},
	}}
	if err := pr.SetupWithManager(mgr); err != nil {
		return err
	}
	wr := &workload.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("tweezer-workload"),
		Executor: parked{}, Namespace: managerNS, MaxPerProject: 4, TimeLimit: time.Hour,
	}
	if err := wr.SetupWithManager(mgr); err != nil {
		return err
	}
	go func() { _ = mgr.Start(ctx) }()
	return nil
}

// waitQuotas waits until both projects' quotas are in force (usage computed).
func waitQuotas(ctx context.Context, c client.Client) error {
	deadline := time.Now().Add(time.Minute)
	for _, p := range []string{projectA, projectB} {
		for {
			q := &corev1.ResourceQuota{}
			err := c.Get(ctx, client.ObjectKey{Namespace: p, Name: project.Name}, q)
			if _, ok := q.Status.Used[corev1.ResourceName("count/batches."+quantumv1alpha1.GroupVersion.Group)]; err == nil && ok {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the quota of project %s is not in force after a minute", p)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// parked is an executor whose runners never run and never end.
type parked struct{}

func (parked) Start(context.Context, executor.Runner) error { return nil }
func (parked) Observe(context.Context, executor.Runner) (executor.Observation, error) {
	return executor.Observation{Phase: executor.Running}, nil
}
func (parked) Stop(context.Context, executor.Runner) error   { return nil }
func (parked) Watch(b *ctrl.Builder) *ctrl.Builder           { return b }
func (parked) Cleanup(context.Context, string, string) error { return nil }

// tenantB submits small batches at a steady rate and reads each back.
type tenantB struct {
	c          *http.Client
	url, token string
	w          *watcher
	rate       time.Duration
}

type phaseResult struct {
	names     []string
	post, get []time.Duration
	errors    int
}

func (b *tenantB) run(ctx context.Context, d time.Duration) phaseResult {
	body, _ := json.Marshal(map[string]any{
		"project_id": projectB, "sequence_builder": sequence(1500), "device_type": "EMU_FREE",
		"jobs": []map[string]any{{"runs": 100}},
	})
	var (
		mu  sync.Mutex
		res phaseResult
		wg  sync.WaitGroup
	)
	tick := time.NewTicker(b.rate)
	defer tick.Stop()
	end := time.After(d)
	for {
		select {
		case <-ctx.Done():
			return res
		case <-end:
			wg.Wait()
			return res
		case <-tick.C:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			created := time.Now()
			_, raw, err := send(b.c, http.MethodPost, b.url+"/api/v1/batches", b.token, body, 200)
			post := time.Since(created)
			var doc struct {
				Data struct{ ID string } `json:"data"`
			}
			if err == nil {
				err = json.Unmarshal(raw, &doc)
			}
			if err != nil || doc.Data.ID == "" {
				mu.Lock()
				res.errors++
				mu.Unlock()
				fmt.Fprintln(os.Stderr, "B:", err)
				return
			}
			b.w.created(doc.Data.ID, created)
			t := time.Now()
			_, _, gerr := send(b.c, http.MethodGet, b.url+"/api/v2/batches/"+doc.Data.ID, b.token, nil, 200)
			get := time.Since(t)
			mu.Lock()
			defer mu.Unlock()
			res.names = append(res.names, doc.Data.ID)
			res.post = append(res.post, post)
			if gerr != nil {
				res.errors++
				return
			}
			res.get = append(res.get, get)
		}()
	}
}

// tenantA floods the facade (or, with kube set, kube-apiserver) and counts
// its answers.
type tenantA struct {
	c                               *http.Client
	url, token                      string
	kube                            *http.Client
	kubeURL                         string
	sent, batchPosts, workloadPosts atomic.Int64
	mu                              sync.Mutex
	counts                          map[int]int
	samples                         map[int]string
	// written holds the requests answered 200: when each was sent and answered.
	written []span
}

// span is a request's time from sent to answered.
type span struct{ from, to time.Time }

func (s span) length() time.Duration { return s.to.Sub(s.from) }

func (a *tenantA) record(code int, body []byte, s span) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.counts[code]++
	if code == http.StatusOK {
		a.written = append(a.written, s)
	}
	if _, ok := a.samples[code]; !ok && code != 200 {
		var env struct {
			Data struct{ Description string } `json:"data"`
		}
		if json.Unmarshal(body, &env) == nil && env.Data.Description != "" {
			a.samples[code] = env.Data.Description
		} else {
			a.samples[code] = string(body)
		}
	}
}

// backOff waits out a 429's Retry-After when A honours it (-a-honor-retry-after).
func (a *tenantA) backOff(ctx context.Context, code int, hdr http.Header) {
	if !aHonorRetryAfter || code != http.StatusTooManyRequests {
		return
	}
	secs, err := strconv.Atoi(hdr.Get("Retry-After"))
	if err != nil {
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Duration(secs) * time.Second):
	}
}

func (a *tenantA) flood(ctx context.Context, clients, workloads int) {
	big := sequence(aSequenceBytes)
	tooBig := sequence(quantumv1alpha1.MaxSequenceBytes + 100)
	var jobs []map[string]any
	for range 5 {
		jobs = append(jobs, map[string]any{"runs": 100})
	}
	batch := func(seq string) []byte {
		raw, _ := json.Marshal(map[string]any{"project_id": projectA, "sequence_builder": seq, "device_type": aDeviceType, "jobs": jobs})
		return raw
	}
	bodies := [][]byte{batch(big), batch(tooBig)}
	if a.kube != nil {
		bodies = [][]byte{directBatch(aSequenceBytes), directBatch(quantumv1alpha1.MaxSequenceBytes + 100)}
	}
	wl, _ := json.Marshal(map[string]any{"project_id": projectA, "workload_type": "qadence_circuit", "backend": "pulser_basic",
		"config": map[string]any{"sequence_builder": sequence(aSequenceBytes / 2), "runs": 100}})

	var wg sync.WaitGroup
	var next atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range workloads {
			if ctx.Err() != nil {
				return
			}
			a.sent.Add(1)
			a.workloadPosts.Add(1)
			sent := time.Now()
			code, raw, hdr, _ := sendH(a.c, http.MethodPost, a.url+"/api/v1/workloads", a.token, wl, 0)
			a.record(code, raw, span{sent, time.Now()})
			a.backOff(ctx, code, hdr)
		}
	}()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				body := bodies[0]
				if next.Add(1)%10 == 0 {
					body = bodies[1] // one in ten over the sequence cap
				}
				a.sent.Add(1)
				a.batchPosts.Add(1)
				sent := time.Now()
				if a.kube != nil {
					code, msg := a.createDirect(ctx, body)
					a.record(code, []byte(msg), span{sent, time.Now()})
					continue
				}
				code, raw, hdr, _ := sendH(a.c, http.MethodPost, a.url+"/api/v1/batches", a.token, body, 0)
				a.record(code, raw, span{sent, time.Now()})
				a.backOff(ctx, code, hdr)
			}
		}()
	}
	wg.Wait()
}

// directClient is an HTTP client of kube-apiserver with a tenant's token,
// and the URL of its project's batches there.
func directClient(cfg *rest.Config, token string) (*http.Client, string, error) {
	tc := rest.AnonymousClientConfig(cfg)
	tc.BearerToken = token
	c, err := rest.HTTPClientFor(tc)
	if err != nil {
		return nil, "", err
	}
	return c, strings.TrimSuffix(cfg.Host, "/") + "/apis/" + quantumv1alpha1.GroupVersion.String() + "/namespaces/" + projectA + "/batches", nil
}

// directBatch is the body of one of A's batches created straight through
// kube-apiserver, as a tenant with kubectl would: five jobs, its sequence
// of size bytes inline. It is encoded once: the abuser's own CPU is not
// the control plane's.
func directBatch(size int) []byte {
	b := &quantumv1alpha1.Batch{
		TypeMeta:   metav1.TypeMeta{APIVersion: quantumv1alpha1.GroupVersion.String(), Kind: "Batch"},
		ObjectMeta: metav1.ObjectMeta{Namespace: projectA, GenerateName: "direct-"},
		Spec: quantumv1alpha1.BatchSpec{
			SequenceBuilder: sequence(size), DeviceType: quantumv1alpha1.DeviceType(aDeviceType),
			QueuePriority: quantumv1alpha1.QueuePriorityMedium,
			UserID:        "system:serviceaccount:" + projectA + ":member",
		},
	}
	for range 5 {
		b.Spec.Jobs = append(b.Spec.Jobs, quantumv1alpha1.InlineJob{Runs: 100})
	}
	raw, _ := json.Marshal(b)
	return raw
}

// createDirect posts one of A's batches to kube-apiserver. It returns 200
// for a batch created, else kube-apiserver's status code and message.
func (a *tenantA) createDirect(ctx context.Context, body []byte) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.kubeURL, bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.kube.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusCreated {
		return http.StatusOK, ""
	}
	var status metav1.Status
	if json.Unmarshal(raw, &status) == nil && status.Message != "" {
		return resp.StatusCode, status.Message
	}
	return resp.StatusCode, string(raw)
}

// send makes a request; with want > 0 any other status is an error.
func send(c *http.Client, method, url, token string, body []byte, want int) (int, []byte, error) {
	code, raw, _, err := sendH(c, method, url, token, body, want)
	return code, raw, err
}

// sendH is send that also returns the response's headers.
func sendH(c *http.Client, method, url, token string, body []byte, want int) (int, []byte, http.Header, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, resp.Header, err
	}
	if want > 0 && resp.StatusCode != want {
		return resp.StatusCode, raw, resp.Header, fmt.Errorf("%s %s: %d %.200s", method, req.URL.Path, resp.StatusCode, raw)
	}
	return resp.StatusCode, raw, resp.Header, nil
}

// watcher records when each of B's batches first has a device.
type watcher struct {
	mu      sync.Mutex
	create  map[string]time.Time
	started map[string]time.Time
}

func newWatcher(ctx context.Context, c client.WithWatch) (*watcher, error) {
	w := &watcher{create: map[string]time.Time{}, started: map[string]time.Time{}}
	wi, err := c.Watch(ctx, &quantumv1alpha1.BatchList{}, client.InNamespace(projectB))
	if err != nil {
		return nil, err
	}
	go func() {
		for ev := range wi.ResultChan() {
			b, ok := ev.Object.(*quantumv1alpha1.Batch)
			if !ok || b.Status.DeviceID == "" {
				continue
			}
			now := time.Now()
			w.mu.Lock()
			if _, seen := w.started[b.Name]; !seen {
				w.started[b.Name] = now
			}
			w.mu.Unlock()
		}
	}()
	return w, nil
}

func (w *watcher) created(name string, t time.Time) {
	w.mu.Lock()
	w.create[name] = t
	w.mu.Unlock()
}

// spans returns each started batch's time from creation to start.
func (w *watcher) spans(names []string) []span {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []span
	for _, n := range names {
		if s, ok := w.started[n]; ok {
			out = append(out, span{w.create[n], s})
		}
	}
	return out
}

// starts returns the creation-to-start latencies of the started batches.
func (w *watcher) starts(names []string) []time.Duration {
	var out []time.Duration
	for _, s := range w.spans(names) {
		out = append(out, s.length())
	}
	return out
}

func (w *watcher) waitStarted(names []string, limit time.Duration) {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if len(w.starts(names)) == len(names) {
			return
		}
	}
}

// memSampler keeps the peak RSS of some processes, by name, and the peak
// live Go heap of this process.
type memSampler struct {
	mu    sync.Mutex
	procs map[string]int
	heap  uint64
	rss   map[string]uint64
	done  chan struct{}
}

type memPeak struct {
	heap uint64
	rss  map[string]uint64
}

func newMemSampler(procs map[string]int) *memSampler {
	m := &memSampler{procs: procs, rss: map[string]uint64{}, done: make(chan struct{})}
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.done:
				return
			case <-t.C:
			}
			metrics.Read(samples)
			heap := samples[0].Value.Uint64()
			m.mu.Lock()
			m.heap = max(m.heap, heap)
			for name, pid := range m.procs {
				m.rss[name] = max(m.rss[name], rss(pid))
			}
			m.mu.Unlock()
		}
	}()
	return m
}

func (m *memSampler) reset() { m.mu.Lock(); m.heap, m.rss = 0, map[string]uint64{}; m.mu.Unlock() }
func (m *memSampler) peak() memPeak {
	m.mu.Lock()
	defer m.mu.Unlock()
	return memPeak{m.heap, maps.Clone(m.rss)}
}
func (m *memSampler) stop() { close(m.done) }

// rss reads the resident set size of a process from /proc/<pid>/status, in
// bytes (0 if it cannot).
func rss(pid int) uint64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func loadavg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(raw))[0]
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
func mib(b uint64) float64       { return float64(b) / (1 << 20) }

// printSlowest prints the slowest of B's spans in the flood, each with when
// it began in the phase and A's accepted writes that overlapped it or ended
// in the second before it began.
func printSlowest(kind string, spans, written []span, from time.Time, phase time.Duration, tl *timeline) {
	spans = slices.Clone(spans)
	slices.SortFunc(spans, func(x, y span) int { return cmp.Compare(y.length(), x.length()) })
	fmt.Printf("\nB's %d slowest %s in the flood (when in the phase, how long; A's accepted writes in flight then, or ended in the second before; A had one in flight %.0f%% of the time)\n",
		min(slowest, len(spans)), kind, 100*busy(written).Seconds()/phase.Seconds())
	for _, s := range spans[:min(slowest, len(spans))] {
		inFlight, before := 0, time.Duration(-1)
		for _, a := range written {
			switch {
			case a.from.Before(s.to) && a.to.After(s.from):
				inFlight++
			case !a.to.After(s.from) && s.from.Sub(a.to) <= time.Second:
				if d := s.from.Sub(a.to); before < 0 || d < before {
					before = d
				}
			}
		}
		note := fmt.Sprintf("%d in flight", inFlight)
		if before >= 0 {
			note += fmt.Sprintf(", one ended %.0f ms before", ms(before))
		}
		fmt.Printf("  +%5.1f s %8.1f ms   %s\n", s.from.Sub(from).Seconds(), ms(s.length()), note)
		if d := tl.describe(s.from, s.to); d != "" {
			fmt.Printf("            %s\n", d)
		}
	}
}

// busy is the time covered by at least one of spans.
func busy(spans []span) time.Duration {
	spans = slices.Clone(spans)
	slices.SortFunc(spans, func(x, y span) int { return x.from.Compare(y.from) })
	var total time.Duration
	var end time.Time
	for _, s := range spans {
		if s.from.After(end) {
			end = s.from
		}
		if s.to.After(end) {
			total += s.to.Sub(end)
			end = s.to
		}
	}
	return total
}
