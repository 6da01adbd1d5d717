// Package e2e runs the platform on a real node (package node): containerd,
// a kubelet and kube-scheduler beside the private control plane, the
// manager with the Pod executor, and runner Pods from the locally built
// image. It is its own package so that `make test` can include or leave out
// its minutes; it needs root and what hack/node-bins.sh builds and installs,
// and fails with the reason when the node cannot start.
package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/controllers/executor"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
	"github.com/tweezer-dev/tweezer/internal/local"
	"github.com/tweezer-dev/tweezer/internal/node"
	"github.com/tweezer-dev/tweezer/runners/qpu"
)

// script runs a hack/ script and returns its stdout, failing with its stderr.
func script(t *testing.T, env []string, name string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(controlplane.RepoRoot(), "hack", name))
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the node cannot start: hack/%s failed: %v\n%s", name, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func netns() []string {
	entries, _ := os.ReadDir("/var/run/netns")
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func TestRunnerPodsOnARealNode(t *testing.T) {
	ctx := context.Background()
	nodeBins := script(t, nil, "node-bins.sh")
	kcm := filepath.Join(script(t, []string{"KUBECTL=0"}, "local-bins.sh"), "kube-controller-manager")

	dir := t.TempDir()
	images, err := node.BuildImages(ctx, filepath.Join(dir, "images"))
	if err != nil {
		t.Fatalf("building the images: %v", err)
	}
	binDir := filepath.Join(dir, "images", "bin") // runner, manager, apiserver

	netnsBefore := netns()
	opts := local.Options{
		DataDir: filepath.Join(dir, "data"), BinDir: binDir,
		FacadeAddr: freeAddr(t), GatewayAddr: freeAddr(t),
		ControllerManager: kcm, Progress: logWriter{t},
		Node: &node.Options{Dir: filepath.Join(dir, "node"), BinDir: nodeBins, Images: images, Progress: logWriter{t}},
	}
	start := time.Now()
	p, err := local.Start(ctx, opts)
	if err != nil {
		t.Fatalf("the node cannot start: %v", err)
	}
	t.Logf("platform and node started in %s", time.Since(start).Round(time.Second))
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		if err := p.Stop(); err != nil {
			t.Errorf("tearing down: %v", err)
		}
		if left := p.Node.Leftovers(); len(left) > 0 {
			t.Errorf("left behind after Stop: %s", strings.Join(left, "\n"))
		}
		for _, ns := range netns() {
			if !slices.Contains(netnsBefore, ns) {
				t.Errorf("network namespace %s left behind", ns)
			}
		}
	}
	t.Cleanup(stop)
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range []string{"logs/manager.log"} {
				if b, err := os.ReadFile(filepath.Join(opts.DataDir, name)); err == nil {
					t.Logf("%s:\n%s", name, tail(string(b), 6000))
				}
			}
			for _, name := range []string{"kubelet", "containerd"} {
				if b, err := os.ReadFile(filepath.Join(opts.Node.Dir, "logs", name+".log")); err == nil {
					t.Logf("%s.log:\n%s", name, tail(string(b), 6000))
				}
			}
		}
	})
	api := &local.Client{BaseURL: p.FacadeURL, Token: p.Token}
	ns := p.ProjectID

	var example *local.Batch
	t.Run("a batch of 3 jobs runs as a Pod under tweezer-runner and ends DONE", func(t *testing.T) {
		b, err := api.SubmitExample(ctx, p.ProjectID)
		if err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		if example, err = api.WaitBatch(wctx, b.ID, nil); err != nil {
			t.Fatal(err)
		}
		if example.Status != "DONE" || len(example.Jobs) != 3 {
			t.Fatalf("batch %s is %s with %d jobs, want DONE with 3", example.ID, example.Status, len(example.Jobs))
		}
		for _, j := range example.Jobs {
			var total int64
			for _, n := range j.Result {
				total += n
			}
			if j.Status != "DONE" || total != int64(j.Runs) {
				t.Errorf("job %s: %s, counter sums to %d of %d runs (%v)", j.ID, j.Status, total, j.Runs, j.Errors)
			}
		}
		// The batch is DONE once the runner has written it; its pod ends
		// a moment later.
		pods := &corev1.PodList{}
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(250 * time.Millisecond) {
			if err := p.Admin.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{v1.BatchLabel: example.ID}); err != nil {
				t.Fatal(err)
			}
			if len(pods.Items) != 1 {
				t.Fatalf("%d runner pods for batch %s, want 1", len(pods.Items), example.ID)
			}
			if pods.Items[0].Status.Phase != corev1.PodRunning || time.Now().After(deadline) {
				break
			}
		}
		pod := pods.Items[0]
		if pod.Spec.ServiceAccountName != executor.RunnerServiceAccount || pod.Spec.NodeName != node.NodeName ||
			pod.Status.Phase != corev1.PodSucceeded || pod.Spec.Containers[0].Image != node.TweezerImage {
			t.Errorf("runner pod %s: account %q, node %q, phase %s, image %s", pod.Name, pod.Spec.ServiceAccountName, pod.Spec.NodeName, pod.Status.Phase, pod.Spec.Containers[0].Image)
		}
		events := &corev1.EventList{}
		if err := p.Admin.List(ctx, events, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		pulled := false
		for _, e := range events.Items {
			if e.InvolvedObject.Name != pod.Name {
				continue
			}
			if e.Reason == "Pulling" {
				t.Errorf("the kubelet pulled: %s", e.Message)
			}
			pulled = pulled || (e.Reason == "Pulled" && strings.Contains(e.Message, "already present"))
		}
		if !pulled {
			t.Errorf("no event says the image was already present on the node")
		}
	})
	if t.Failed() {
		return
	}

	t.Run("a killed runner container is retried", func(t *testing.T) {
		// An open batch: its runner waits for more jobs after the first,
		// so it is surely running when its container is killed.
		b := &local.Batch{}
		job := func(t int) []map[string]any {
			return []map[string]any{{"runs": 100, "variables": map[string]any{"t": []int{t}}}}
		}
		if err := api.Do(ctx, "POST", "/api/v1/batches", map[string]any{
			"project_id": p.ProjectID, "sequence_builder": local.ExampleSequence, "device_type": "EMU_FREE",
			"open": true, "jobs": job(100),
		}, b); err != nil {
			t.Fatal(err)
		}
		first := b.ID + "-runner-1"
		var containerID string
		deadline := time.Now().Add(2 * time.Minute)
		for containerID == "" {
			if time.Now().After(deadline) {
				t.Fatalf("runner pod %s never ran its first job", first)
			}
			time.Sleep(250 * time.Millisecond)
			cur := &local.Batch{}
			if err := api.Do(ctx, "GET", "/api/v1/batches/"+b.ID, nil, cur); err != nil || len(cur.Jobs) != 1 || cur.Jobs[0].Status != "DONE" {
				continue
			}
			pod := &corev1.Pod{}
			if err := p.Admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: first}, pod); err == nil {
				for _, cs := range pod.Status.ContainerStatuses {
					if cs.State.Running != nil {
						containerID = strings.TrimPrefix(cs.ContainerID, "containerd://")
					}
				}
			}
		}
		out, err := exec.Command("ctr", "--address", filepath.Join(opts.Node.Dir, "containerd", "containerd.sock"),
			"--namespace", "k8s.io", "tasks", "kill", "--signal", "SIGKILL", containerID).CombinedOutput()
		if err != nil {
			t.Fatalf("killing the runner container: %v: %s", err, out)
		}
		killed := &corev1.Pod{}
		for deadline := time.Now().Add(time.Minute); killed.Status.Phase != corev1.PodFailed; time.Sleep(250 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("killed runner pod is %s a minute later, want Failed", killed.Status.Phase)
			}
			if err := p.Admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: first}, killed); err != nil {
				t.Fatal(err)
			}
		}
		if err := api.Do(ctx, "POST", "/api/v1/batches/"+b.ID+"/jobs", job(250), nil); err != nil {
			t.Fatal(err)
		}
		if err := api.Do(ctx, "PUT", "/api/v1/batches/"+b.ID+"/complete", nil, nil); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		final, err := api.WaitBatch(wctx, b.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if final.Status != "DONE" || len(final.Jobs) != 2 {
			t.Fatalf("batch %s is %s with %d jobs after its runner was killed, want DONE with 2", final.ID, final.Status, len(final.Jobs))
		}
		second := &corev1.Pod{}
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(250 * time.Millisecond) {
			if err := p.Admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: b.ID + "-runner-2"}, second); err != nil {
				t.Fatalf("no second runner pod: %v", err)
			}
			if second.Status.Phase != corev1.PodRunning || time.Now().After(deadline) {
				break
			}
		}
		if second.Status.Phase != corev1.PodSucceeded {
			t.Errorf("second runner pod is %s, want Succeeded", second.Status.Phase)
		}
	})

	t.Run("deleting a batch garbage-collects its jobs, results and pods", func(t *testing.T) {
		batch := &v1.Batch{}
		if err := p.Admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: example.ID}, batch); err != nil {
			t.Fatal(err)
		}
		if err := p.Admin.Delete(ctx, batch); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			jobs, cms, pods := &v1.JobList{}, &corev1.ConfigMapList{}, &corev1.PodList{}
			sel := client.MatchingLabels{v1.BatchLabel: example.ID}
			for _, l := range []client.ObjectList{jobs, cms, pods} {
				if err := p.Admin.List(ctx, l, client.InNamespace(ns), sel); err != nil {
					t.Fatal(err)
				}
			}
			if len(jobs.Items)+len(cms.Items)+len(pods.Items) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("a minute after deleting batch %s: %d jobs, %d configmaps, %d pods remain", example.ID, len(jobs.Items), len(cms.Items), len(pods.Items))
			}
			time.Sleep(250 * time.Millisecond)
		}
	})

	t.Run("a learner's notebook runs as a Pod and answers through the facade", func(t *testing.T) {
		// The manager maps notebook servers to the notebook stand-in
		// (--notebook-image): the learner flow is the real one.
		type notebook struct {
			State   string  `json:"state"`
			URL     *string `json:"url"`
			Message string  `json:"message"`
		}
		spawn := "/api/v1/learners/VQPU/notebooks/intro?project_id=" + p.ProjectID
		var nb notebook
		for deadline := time.Now().Add(2 * time.Minute); nb.State != "RUNNING"; time.Sleep(500 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the notebook is %s two minutes after it was asked for: %s", nb.State, nb.Message)
			}
			if err := api.Do(ctx, "POST", spawn, nil, &nb); err != nil {
				t.Fatal(err)
			}
		}
		if nb.URL == nil {
			t.Fatal("a RUNNING notebook without a URL")
		}
		u, err := url.Parse(*nb.URL)
		if err != nil {
			t.Fatal(err)
		}
		// The URL handed to the learner is the facade's (--notebook-public-url).
		token := u.Query().Get("token")
		server := path.Base(u.Path)
		if u.Scheme+"://"+u.Host != p.FacadeURL || !strings.HasPrefix(u.Path, "/notebooks/"+ns+"/nb-intro-") || token == "" {
			t.Fatalf("notebook URL %s: want %s/notebooks/%s/nb-intro-…/ with a token", *nb.URL, p.FacadeURL, ns)
		}
		pod := &corev1.Pod{}
		if err := p.Admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: server}, pod); err != nil {
			t.Fatal(err)
		}
		if pod.Status.Phase != corev1.PodRunning || pod.Spec.NodeName != node.NodeName || pod.Spec.Containers[0].Image != node.NotebookImage {
			t.Errorf("notebook pod %s: phase %s, node %q, image %s", pod.Name, pod.Status.Phase, pod.Spec.NodeName, pod.Spec.Containers[0].Image)
		}
		get := func(target string, auth string) (int, string) {
			t.Helper()
			req, err := http.NewRequestWithContext(ctx, "GET", target, nil)
			if err != nil {
				t.Fatal(err)
			}
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(body)
		}
		// Through the facade's /notebooks/ proxy, as the learner's browser.
		base := p.FacadeURL + u.Path
		if code, body := get(base+"api", ""); code != 200 || !strings.Contains(body, `"version"`) {
			t.Errorf("GET %sapi through the facade: %d %s", base, code, body)
		}
		if code, body := get(base+"api/contents", ""); code != 403 {
			t.Errorf("GET %sapi/contents without the token: %d %s, want 403", base, code, body)
		}
		if code, body := get(base+"api/contents", "token "+token); code != 200 || !strings.Contains(body, `"starter.ipynb"`) {
			t.Errorf("GET %sapi/contents with the token: %d %s, want the starter notebook", base, code, body)
		}
		if code, body := get(base+"api/contents?token="+url.QueryEscape(token), "Bearer "+p.Token); code != 200 {
			t.Errorf("GET %sapi/contents?token=…: %d %s", base, code, body)
		}
		// Only notebook servers are reachable: not kube-apiserver's Service.
		if code, body := get(p.FacadeURL+"/notebooks/default/kubernetes/api", ""); code != 404 {
			t.Errorf("GET through the facade to a Service that is no notebook server: %d %s, want 404", code, body)
		}
	})

	t.Run("a QPU batch runs as a Pod that reaches the emulated gateway with its own token", func(t *testing.T) {
		b := &local.Batch{}
		if err := api.Do(ctx, "POST", "/api/v1/batches", map[string]any{
			"project_id": p.ProjectID, "sequence_builder": local.ExampleSequence, "device_type": "FRESNEL",
			"jobs": []map[string]any{{"runs": 50, "variables": map[string]any{"t": []int{100}}}},
		}, b); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		final, err := api.WaitBatch(wctx, b.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if final.Status != "DONE" || len(final.Jobs) != 1 || final.Jobs[0].Status != "DONE" {
			t.Fatalf("QPU batch %s is %s with jobs %+v, want DONE", final.ID, final.Status, final.Jobs)
		}
		pods := &corev1.PodList{}
		if err := p.Admin.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{v1.BatchLabel: b.ID}); err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) != 1 || pods.Items[0].Spec.NodeName != node.NodeName {
			t.Fatalf("%d runner pods for QPU batch %s, want 1 on the node", len(pods.Items), b.ID)
		}
		projected := false
		for _, v := range pods.Items[0].Spec.Volumes {
			if v.Projected != nil && len(v.Projected.Sources) == 1 && v.Projected.Sources[0].ServiceAccountToken != nil {
				projected = v.Projected.Sources[0].ServiceAccountToken.Audience == qpu.Audience
			}
		}
		if !projected {
			t.Errorf("QPU runner pod %s has no projected token for the gateway's audience %s", pods.Items[0].Name, qpu.Audience)
		}
		dev := &v1.Device{}
		if err := p.Admin.Get(ctx, client.ObjectKey{Name: "fresnel"}, dev); err != nil {
			t.Fatal(err)
		}
		if want := "http://" + p.Node.Gateway.String() + ":"; !strings.HasPrefix(dev.Spec.Gateway.URL, want) {
			t.Errorf("the FRESNEL device's gateway is %s, want the node's bridge address %s", dev.Spec.Gateway.URL, p.Node.Gateway)
		}
		// The manager stops a DONE QPU batch's runner when it gives the
		// QPU's Lease back: its pod goes.
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(250 * time.Millisecond) {
			pod := &corev1.Pod{}
			err := p.Admin.Get(ctx, client.ObjectKeyFromObject(&pods.Items[0]), pod)
			if apierrors.IsNotFound(err) || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the runner pod of DONE QPU batch %s is %s a minute later (%v)", b.ID, pod.Status.Phase, err)
			}
		}
	})

	t.Run("a small memory limit: an oversized register is refused before allocation, a runner over its limit is OOM-killed", func(t *testing.T) {
		// emu-sv's runner pods get a memory limit of 20 MiB: 3/4 of it
		// holds the state of 18 atoms (56 B per amplitude), not 19.
		const limit = "20Mi"
		dev := &v1.Device{}
		if err := p.Admin.Get(ctx, client.ObjectKey{Name: "emu-sv"}, dev); err != nil {
			t.Fatal(err)
		}
		saved := dev.Spec.Resources.DeepCopy()
		q := resource.MustParse(limit)
		dev.Spec.Resources.Limits[corev1.ResourceMemory] = q
		dev.Spec.Resources.Requests[corev1.ResourceMemory] = q
		if err := p.Admin.Update(ctx, dev); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := p.Admin.Get(ctx, client.ObjectKey{Name: "emu-sv"}, dev); err == nil {
				dev.Spec.Resources = *saved
				_ = p.Admin.Update(ctx, dev)
			}
		})
		submit := func(atoms int) *local.Batch {
			t.Helper()
			b := &local.Batch{}
			if err := api.Do(ctx, "POST", "/api/v1/batches", map[string]any{
				"project_id": p.ProjectID, "sequence_builder": gridSequence(atoms), "device_type": "EMU_SV",
				"jobs": []map[string]any{{"runs": 10, "variables": map[string]any{}}},
			}, b); err != nil {
				t.Fatal(err)
			}
			wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			defer cancel()
			final, err := api.WaitBatch(wctx, b.ID, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(final.Jobs) != 1 {
				t.Fatalf("batch %s has %d jobs, want 1", final.ID, len(final.Jobs))
			}
			return final
		}
		runnerPods := func(batch string) []corev1.Pod {
			t.Helper()
			// The batch ends once its runner has written it; its pod ends
			// a moment later.
			pods := &corev1.PodList{}
			for deadline := time.Now().Add(time.Minute); ; time.Sleep(250 * time.Millisecond) {
				if err := p.Admin.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{v1.BatchLabel: batch}); err != nil {
					t.Fatal(err)
				}
				ended := 0
				for _, pod := range pods.Items {
					if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
						ended++
					}
				}
				if ended == len(pods.Items) || time.Now().After(deadline) {
					break
				}
			}
			for _, pod := range pods.Items {
				if got := pod.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]; got.Cmp(q) != 0 {
					t.Errorf("runner pod %s has a memory limit of %s, want %s", pod.Name, got.String(), limit)
				}
			}
			return pods.Items
		}

		// 19 atoms: the runner reads its limit from its cgroup and refuses
		// the job before allocating anything; its pod ends well.
		refused := submit(19)
		j := refused.Jobs[0]
		want := "the register has 19 atoms; this engine simulates at most 18 (a state of 19 atoms needs 28.0 MiB, more than 3/4 of this runner's memory budget of 20.0 MiB (its memory limit"
		if j.Status != "ERROR" || !strings.Contains(strings.Join(j.Errors, "\n"), want) {
			t.Errorf("a 19-atom job under a %s limit: %s %q, want ERROR with %q", limit, j.Status, j.Errors, want)
		}
		for _, pod := range runnerPods(refused.ID) {
			for _, cs := range pod.Status.ContainerStatuses {
				if term := cs.State.Terminated; term == nil || term.Reason == "OOMKilled" {
					t.Errorf("runner pod %s of the refused job: %+v, want a runner that ended by itself", pod.Name, cs.State)
				}
			}
		}

		// 18 atoms fit the budget (14 MiB), but the budget leaves 1/4 of
		// the limit (5 MiB) for the runner itself, less than it uses (about
		// 8 MiB; with 24 MiB it runs): the kernel kills it.
		// Each runner dies before it finishes a job; after the manager's
		// attempts the batch and its job end in ERROR, saying why.
		oom := submit(18)
		j = oom.Jobs[0]
		errs := strings.Join(j.Errors, "\n")
		if j.Status != "ERROR" || !strings.Contains(errs, "OOMKilled; the kernel killed it for using more than its memory limit of "+limit) {
			t.Errorf("an 18-atom job over a %s limit: %s %q, want ERROR saying the runner was OOM-killed", limit, j.Status, j.Errors)
		}
		pods := runnerPods(oom.ID)
		if len(pods) < 2 {
			t.Errorf("%d runner pods for the OOM-killed batch, want a retry", len(pods))
		}
		for _, pod := range pods {
			for _, cs := range pod.Status.ContainerStatuses {
				if term := cs.State.Terminated; term == nil || term.Reason != "OOMKilled" {
					t.Errorf("runner pod %s: %+v, want OOMKilled", pod.Name, cs.State)
				}
			}
		}
		t.Logf("refused: %q; OOM-killed after %d runner pods: %q", refused.Jobs[0].Errors, len(pods), j.Errors)
	})

	t.Run("tearing down leaves no mounts, network namespaces, cgroups or processes", func(t *testing.T) {
		stop()
	})
}

// gridSequence is a sequence on AnalogDevice of n atoms on a grid of five
// columns, 6 µm apart, driven by one 100 ns global pulse.
func gridSequence(n int) string {
	var atoms []string
	for i := range n {
		atoms = append(atoms, fmt.Sprintf(`{"name": "q%d", "x": %d, "y": %d}`, i, 6*(i%5-2), 6*(i/5-2)))
	}
	return `{"version": "1", "name": "grid", "register": [` + strings.Join(atoms, ", ") + `],
  "device": "AnalogDevice", "channels": {"ryd": "rydberg_global"}, "variables": {},
  "operations": [{"op": "pulse", "channel": "ryd", "protocol": "min-delay", "phase": 0.0, "post_phase_shift": 0.0,
    "amplitude": {"kind": "constant", "duration": 100, "value": 6.283185307179586},
    "detuning": {"kind": "constant", "duration": 100, "value": 0.0}}],
  "measurement": "ground-rydberg"}`
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
