// Command bench-node (`make bench-node`, as root) compares the two runner
// executors on this machine, in one run: the whole local platform starts
// twice, first on a real node (package node: containerd and a kubelet) with
// the Pod executor, then with the Process executor (runners as local
// processes, the baseline), and each time the same batches go through the
// REST facade:
//
//	go run ./hack/bench-node [-batches 50] [-jobs 5] [-runs 100] [-concurrency 2]
//
// Every batch is submitted at once; each has -jobs jobs of the example
// sequence (4 atoms, 100 ns) on EMU_FREE, whose device runs -concurrency
// batches at a time. Times are taken by this client (a watch on Batches and
// Jobs):
//   - jobs/s: all jobs, from the first submission to the last batch DONE;
//   - start latency: from the batch getting its device to its runner's first
//     write (a job leaving PENDING), i.e. what starting a runner costs;
//   - submission to first result: the same from the POST, queueing included.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
	"github.com/tweezer-dev/tweezer/internal/local"
	"github.com/tweezer-dev/tweezer/internal/node"
)

func main() {
	batches := flag.Int("batches", 50, "batches per executor")
	jobs := flag.Int("jobs", 5, "jobs per batch")
	runs := flag.Int("runs", 100, "shots per job")
	concurrency := flag.Int("concurrency", 2, "batches EMU_FREE runs at once (local mode's default: 2)")
	verbose := flag.Bool("v", false, "print the platform's progress")
	flag.Parse()
	if err := run(*batches, *jobs, *runs, *concurrency, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "bench-node:", err)
		os.Exit(1)
	}
}

// result is one executor's measurement.
type result struct {
	name                   string
	jobsPerSecond          float64
	start, firstResult     [2]time.Duration // p50, p99
	platformStart, elapsed time.Duration
}

func run(batches, jobs, runs, concurrency int, verbose bool) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("a node needs root (containerd, the kubelet, cgroups, network namespaces)")
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return fmt.Errorf("KUBEBUILDER_ASSETS is not set (make bench-node sets it)")
	}
	ctrl.SetLogger(logr.Discard())
	ctx := context.Background()
	nodeBins, err := script(nil, "node-bins.sh")
	if err != nil {
		return err
	}
	kcmDir, err := script([]string{"KUBECTL=0"}, "local-bins.sh")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "tweezer-bench-node-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintln(os.Stderr, "==> building the images (runner, manager, facade, pause)")
	images, err := node.BuildImages(ctx, filepath.Join(dir, "images"))
	if err != nil {
		return err
	}
	progress := func(name string) (io.Writer, error) {
		if verbose {
			return os.Stderr, nil
		}
		return os.Create(filepath.Join(dir, name+".log"))
	}
	fmt.Printf("%d batches × %d jobs (%d shots, 4 atoms, 100 ns) on EMU_FREE, device concurrency %d\n", batches, jobs, runs, concurrency)
	var results []result
	for _, onNode := range []bool{true, false} {
		name := "Process"
		if onNode {
			name = "Pod"
		}
		sub := filepath.Join(dir, strings.ToLower(name))
		out, err := progress(name)
		if err != nil {
			return err
		}
		opts := local.Options{
			DataDir: filepath.Join(sub, "data"), BinDir: filepath.Join(dir, "images", "bin"),
			FacadeAddr: freeAddr(), GatewayAddr: freeAddr(),
			ControllerManager: filepath.Join(kcmDir, "kube-controller-manager"), Progress: out,
		}
		if onNode {
			opts.Node = &node.Options{Dir: filepath.Join(sub, "node"), BinDir: nodeBins, Images: images, Progress: opts.Progress}
		}
		fmt.Fprintf(os.Stderr, "==> %s executor: starting the platform\n", name)
		r, err := measure(ctx, opts, batches, jobs, runs, concurrency)
		if err != nil {
			return fmt.Errorf("%s executor: %w", name, err)
		}
		r.name = name
		fmt.Fprintf(os.Stderr, "==> %s executor: %.1f jobs/s\n", name, r.jobsPerSecond)
		results = append(results, r)
	}
	pod, proc := results[0], results[1]
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
	ratio := func(a, b float64) string { return fmt.Sprintf("%.2f×", a/b) }
	fmt.Println()
	fmt.Println("| | Process executor (baseline) | Pod executor | Pod / Process |")
	fmt.Println("|---|---|---|---|")
	fmt.Printf("| jobs/s | %.1f | %.1f | %s |\n", proc.jobsPerSecond, pod.jobsPerSecond, ratio(pod.jobsPerSecond, proc.jobsPerSecond))
	for i, q := range []string{"p50", "p99"} {
		fmt.Printf("| start latency %s (device → first result) | %s | %s | %s |\n", q, ms(proc.start[i]), ms(pod.start[i]), ratio(float64(pod.start[i]), float64(proc.start[i])))
	}
	for i, q := range []string{"p50", "p99"} {
		fmt.Printf("| submission → first result %s | %s | %s | %s |\n", q, ms(proc.firstResult[i]), ms(pod.firstResult[i]), ratio(float64(pod.firstResult[i]), float64(proc.firstResult[i])))
	}
	fmt.Printf("| all jobs DONE in | %.1f s | %.1f s | %s |\n", proc.elapsed.Seconds(), pod.elapsed.Seconds(), ratio(pod.elapsed.Seconds(), proc.elapsed.Seconds()))
	fmt.Printf("| platform start | %.1f s | %.1f s (with the node) | |\n", proc.platformStart.Seconds(), pod.platformStart.Seconds())
	return nil
}

// measure starts the platform, runs the batches and stops it.
func measure(ctx context.Context, opts local.Options, batches, jobs, runs, concurrency int) (r result, err error) {
	t0 := time.Now()
	p, err := local.Start(ctx, opts)
	if err != nil {
		return r, err
	}
	r.platformStart = time.Since(t0)
	defer func() {
		if stopErr := p.Stop(); stopErr != nil && err == nil {
			err = fmt.Errorf("tearing down: %w", stopErr)
		}
		if p.Node != nil {
			if left := p.Node.Leftovers(); len(left) > 0 && err == nil {
				err = fmt.Errorf("left behind after Stop: %s", strings.Join(left, "; "))
			}
		}
	}()
	cfg, err := clientcmd.BuildConfigFromFlags("", p.Kubeconfig)
	if err != nil {
		return r, err
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: controlplane.Scheme()})
	if err != nil {
		return r, err
	}
	dev := &v1.Device{}
	if err := c.Get(ctx, client.ObjectKey{Name: "emu-free"}, dev); err != nil {
		return r, err
	}
	if dev.Spec.Concurrency != int32(concurrency) {
		dev.Spec.Concurrency = int32(concurrency)
		if err := c.Update(ctx, dev); err != nil {
			return r, err
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := watch(wctx, c, p.ProjectID)
	if err != nil {
		return r, err
	}
	api := &local.Client{BaseURL: p.FacadeURL, Token: p.Token}
	var jobList []map[string]any
	for range jobs {
		jobList = append(jobList, map[string]any{"runs": runs, "variables": map[string]any{"t": []int{100}}})
	}
	submitted := map[string]time.Time{}
	var ids []string
	first := time.Now()
	for range batches {
		b := &local.Batch{}
		at := time.Now()
		if err := api.Do(ctx, "POST", "/api/v1/batches", map[string]any{
			"project_id": p.ProjectID, "sequence_builder": local.ExampleSequence, "device_type": "EMU_FREE", "jobs": jobList,
		}, b); err != nil {
			return r, err
		}
		submitted[b.ID] = at
		ids = append(ids, b.ID)
	}
	deadline := time.Now().Add(time.Duration(batches) * time.Minute)
	for {
		done, failed := w.finished(ids)
		if failed != "" {
			return r, fmt.Errorf("batch %s", failed)
		}
		if done == len(ids) {
			break
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("%d of %d batches DONE after %s", done, len(ids), time.Since(first).Round(time.Second))
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var last time.Time
	var start, firstResult []time.Duration
	for _, id := range ids {
		t := w.t[id]
		if t.done.After(last) {
			last = t.done
		}
		start = append(start, t.result.Sub(t.device))
		firstResult = append(firstResult, t.result.Sub(submitted[id]))
	}
	r.elapsed = last.Sub(first)
	r.jobsPerSecond = float64(batches*jobs) / r.elapsed.Seconds()
	r.start = percentiles(start)
	r.firstResult = percentiles(firstResult)
	return r, nil
}

// times are when the watch first saw a batch with its device, a job of it
// out of PENDING, and the batch terminal.
type times struct {
	device, result, done time.Time
	phase                v1.BatchStatus
}

type watcher struct {
	mu sync.Mutex
	t  map[string]*times
}

func (w *watcher) get(name string) *times {
	if w.t[name] == nil {
		w.t[name] = &times{}
	}
	return w.t[name]
}

// watch follows the namespace's Batches and Jobs.
func watch(ctx context.Context, c client.WithWatch, ns string) (*watcher, error) {
	w := &watcher{t: map[string]*times{}}
	bw, err := c.Watch(ctx, &v1.BatchList{}, client.InNamespace(ns))
	if err != nil {
		return nil, err
	}
	jw, err := c.Watch(ctx, &v1.JobList{}, client.InNamespace(ns))
	if err != nil {
		return nil, err
	}
	go func() {
		for ev := range bw.ResultChan() {
			b, ok := ev.Object.(*v1.Batch)
			if !ok {
				continue
			}
			now := time.Now()
			w.mu.Lock()
			t := w.get(b.Name)
			if t.device.IsZero() && b.Status.DeviceID != "" {
				t.device = now
			}
			if t.done.IsZero() && b.Status.Phase.Terminal() {
				t.done, t.phase = now, b.Status.Phase
			}
			w.mu.Unlock()
		}
	}()
	go func() {
		for ev := range jw.ResultChan() {
			j, ok := ev.Object.(*v1.Job)
			if !ok || j.CurrentPhase() == v1.JobPending {
				continue
			}
			now := time.Now()
			w.mu.Lock()
			if t := w.get(j.Labels[v1.BatchLabel]); t.result.IsZero() {
				t.result = now
			}
			w.mu.Unlock()
		}
	}()
	return w, nil
}

// finished counts the batches DONE and names one that ended otherwise.
func (w *watcher) finished(ids []string) (int, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	done := 0
	for _, id := range ids {
		t := w.get(id)
		switch {
		case t.done.IsZero():
		case t.phase == v1.BatchDone && !t.result.IsZero() && !t.device.IsZero():
			done++
		case t.phase != v1.BatchDone:
			return done, id + " ended " + string(t.phase)
		}
	}
	return done, ""
}

func percentiles(d []time.Duration) [2]time.Duration {
	slices.Sort(d)
	at := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	return [2]time.Duration{at(0.50), at(0.99)}
}

// script runs a hack/ script and returns its stdout (a path).
func script(env []string, name string) (string, error) {
	cmd := exec.Command(filepath.Join(controlplane.RepoRoot(), "hack", name))
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/%s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}
