package local_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
	"github.com/tweezer-dev/tweezer/internal/emulationconfig"
	"github.com/tweezer-dev/tweezer/internal/local"
	"github.com/tweezer-dev/tweezer/runners/mps/mpsseq"
)

// The end-to-end proof of local mode: the platform is started exactly as
// `make run` starts it (binaries, control plane, manager, facade, demo project)
// and driven only through HTTP and Kubernetes API calls.

func TestLocalPlatform(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Local platform end-to-end suite")
}

var (
	ctx      = context.Background()
	platform *local.Platform
	opts     local.Options
	api      *local.Client
)

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

func startPlatform() {
	var err error
	platform, err = local.Start(ctx, opts)
	Expect(err).NotTo(HaveOccurred())
	api = &local.Client{BaseURL: platform.FacadeURL, Token: platform.Token}
}

var _ = BeforeSuite(func() {
	binDir := GinkgoT().TempDir()
	build := exec.Command("go", "build", "-o", binDir+"/", "./cmd/manager", "./cmd/apiserver", "./cmd/runner")
	build.Dir = controlplane.RepoRoot()
	out, err := build.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), string(out))

	// Learners' notebooks run Debian's Jupyter, installed here when missing
	// (as root, from Debian's archive); a failed install fails the suite.
	install := exec.Command(filepath.Join(controlplane.RepoRoot(), "hack", "jupyter", "install.sh"))
	var stderr strings.Builder
	install.Stderr = &stderr
	jupyter, err := install.Output()
	Expect(err).NotTo(HaveOccurred(), "hack/jupyter/install.sh: %s", stderr.String())

	opts = local.Options{
		DataDir:      GinkgoT().TempDir(),
		BinDir:       binDir,
		FacadeAddr:   freeAddr(),
		GatewayAddr:  freeAddr(),
		Progress:     GinkgoWriter,
		Jupyter:      strings.TrimSpace(string(jupyter)),
		NotebookIdle: notebookIdle,
	}
	// kube-controller-manager (the garbage collector) is built by
	// hack/local-bins.sh, which `make test` runs: without it the
	// garbage-collection spec fails with the reason.
	if kcm := filepath.Join(controlplane.RepoRoot(), "bin", "k8s", "kube-controller-manager-v1.37.2", "kube-controller-manager"); fileExists(kcm) {
		opts.ControllerManager = kcm
	}
	startPlatform()
})

// On a failure, show the tail of the manager's and the facade's logs.
var _ = ReportAfterEach(func(r SpecReport) {
	if !r.Failed() {
		return
	}
	for _, name := range []string{"manager", "apiserver"} {
		raw, err := os.ReadFile(filepath.Join(opts.DataDir, "logs", name+".log"))
		if err != nil {
			continue
		}
		if len(raw) > 8000 {
			raw = raw[len(raw)-8000:]
		}
		AddReportEntry(name+".log", string(raw))
	}
})

var _ = AfterSuite(func() {
	if platform != nil {
		Expect(platform.Stop()).To(Succeed())
	}
})

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// expectCountersSumToRuns checks every job of a finished batch.
func expectCountersSumToRuns(b *local.Batch) {
	GinkgoHelper()
	Expect(b.Jobs).NotTo(BeEmpty())
	for _, j := range b.Jobs {
		Expect(j.Status).To(Equal("DONE"), "job %s: %v", j.ID, j.Errors)
		var total int64
		for bits, n := range j.Result {
			Expect(bits).To(MatchRegexp(`^[01]+$`))
			total += n
		}
		Expect(total).To(Equal(int64(j.Runs)), "job %s", j.ID)
	}
}

// ringSequence is a Pulser sequence of n atoms on a ring 7 µm apart, swept
// from -20 to 20 rad/µs over t ns: heavy enough that a batch of a few jobs
// runs for seconds.
func ringSequence(n int) string {
	radius := 7.0 / (2 * math.Sin(math.Pi/float64(n)))
	var reg []map[string]any
	for i := 0; i < n; i++ {
		a := 2 * math.Pi * float64(i) / float64(n)
		reg = append(reg, map[string]any{"name": fmt.Sprintf("q%d", i), "x": radius * math.Cos(a), "y": radius * math.Sin(a)})
	}
	duration := map[string]any{"expression": "index", "lhs": map[string]any{"variable": "t"}, "rhs": 0}
	seq := map[string]any{
		"version": "1", "name": "ring", "register": reg, "device": "MockDevice",
		"channels":  map[string]any{"ryd": "rydberg_global"},
		"variables": map[string]any{"t": map[string]any{"type": "int", "value": []int{3000}}},
		"operations": []any{map[string]any{
			"op": "pulse", "channel": "ryd", "protocol": "min-delay", "phase": 0.0, "post_phase_shift": 0.0,
			"amplitude": map[string]any{"kind": "constant", "duration": duration, "value": 2 * math.Pi},
			"detuning":  map[string]any{"kind": "ramp", "duration": duration, "start": -20.0, "stop": 20.0},
		}},
		"measurement": "ground-rydberg",
	}
	raw, err := json.Marshal(seq)
	Expect(err).NotTo(HaveOccurred())
	return string(raw)
}

func waitDone(id string) *local.Batch {
	GinkgoHelper()
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	b, err := api.WaitBatch(wctx, id, nil)
	Expect(err).NotTo(HaveOccurred())
	return b
}

var _ = Describe("Local mode", Ordered, func() {
	var example *local.Batch

	It("answers a Pulser 1.9 remote-backend payload: per-job sequences, an EmulationConfig and serialised results", func() {
		cfg, err := os.ReadFile(filepath.Join(controlplane.RepoRoot(), "internal/emulationconfig/testdata/pulser_config.json"))
		Expect(err).NotTo(HaveOccurred())
		seqs := []string{ringSequence(3), ringSequence(4)}
		// As pasqal-cloud >= 0.22 sends it: no batch sequence, one per job,
		// the EmulationConfig abstract repr as backend_configuration.
		created := map[string]any{}
		Expect(api.Do(ctx, http.MethodPost, "/api/v1/batches", map[string]any{
			"sequence_builder": nil, "device_type": "EMU_FREE", "project_id": platform.ProjectID,
			"backend_configuration": strings.TrimSpace(string(cfg)), "configuration": nil, "open": false,
			"jobs": []map[string]any{
				{"runs": 100, "variables": map[string]any{"t": []int{400}}, "sequence": seqs[0]},
				{"runs": 100, "variables": map[string]any{"t": []int{600}}, "sequence": seqs[1]},
			},
		}, &created)).To(Succeed())
		b := waitDone(created["id"].(string))
		expectCountersSumToRuns(b)
		var doc struct {
			Jobs []struct {
				Sequence   *string `json:"sequence"`
				FullResult struct {
					Counter    map[string]int64 `json:"counter"`
					Serialised string           `json:"serialised_results"`
				} `json:"full_result"`
			} `json:"jobs"`
		}
		Expect(api.Do(ctx, http.MethodGet, "/api/v1/batches/"+b.ID, nil, &doc)).To(Succeed())
		Expect(doc.Jobs).To(HaveLen(2))
		for i, j := range doc.Jobs {
			Expect(j.Sequence).NotTo(BeNil())
			Expect(*j.Sequence).To(Equal(seqs[i]))
			Expect(emulationconfig.ValidateResults([]byte(j.FullResult.Serialised))).To(Succeed())
			var res struct {
				AtomOrder     []string          `json:"atom_order"`
				TotalDuration int               `json:"total_duration"`
				Tagmap        map[string]string `json:"tagmap"`
			}
			Expect(json.Unmarshal([]byte(j.FullResult.Serialised), &res)).To(Succeed())
			Expect(res.AtomOrder).To(HaveLen(3 + i))
			Expect(res.TotalDuration).To(Equal(400 + 200*i))
			Expect(res.Tagmap).To(HaveKey("occupation"))
			Expect(res.Tagmap).To(HaveKey("energy_second_moment_m2"))
		}
	})

	It("runs a 30-atom EMU_MPS batch, beyond the state vector, to DONE with observables in serialised_results", func() {
		cfg := `{"observables": [
 {"observable": "bitstrings", "evaluation_times": [1.0], "num_shots": null, "one_state": null, "tag_suffix": null},
 {"observable": "occupation", "evaluation_times": [0.5, 1.0], "one_state": null, "tag_suffix": null},
 {"observable": "energy", "evaluation_times": [1.0], "tag_suffix": null}],
 "default_evaluation_times": [1.0], "initial_state": null, "with_modulation": false, "interaction_matrix": null,
 "prefer_device_noise_model": false, "noise_model": {"noise_types": [], "runs": null, "samples_per_run": null,
 "state_prep_error": 0.0, "p_false_pos": 0.0, "p_false_neg": 0.0, "temperature": 0.0, "laser_waist": null,
 "amp_sigma": 0.0, "relaxation_rate": 0.0, "dephasing_rate": 0.0, "hyperfine_dephasing_rate": 0.0,
 "depolarizing_rate": 0.0, "eff_noise": []}, "max_bond_dim": 16, "num_gpus_to_use": 1}`
		created := map[string]any{}
		Expect(api.Do(ctx, http.MethodPost, "/api/v1/batches", map[string]any{
			"sequence_builder": string(mpsseq.Quench(1, 30, 7, 200)), "device_type": "EMU_MPS", "project_id": platform.ProjectID,
			"backend_configuration": cfg, "configuration": nil, "open": false,
			"jobs": []map[string]any{{"runs": 50}},
		}, &created)).To(Succeed())
		b := waitDone(created["id"].(string))
		Expect(b.Status).To(Equal("DONE"))
		expectCountersSumToRuns(b)
		var doc struct {
			Jobs []struct {
				FullResult struct {
					Serialised string `json:"serialised_results"`
				} `json:"full_result"`
			} `json:"jobs"`
		}
		Expect(api.Do(ctx, http.MethodGet, "/api/v1/batches/"+b.ID, nil, &doc)).To(Succeed())
		Expect(doc.Jobs).To(HaveLen(1))
		ser := []byte(doc.Jobs[0].FullResult.Serialised)
		Expect(emulationconfig.ValidateResults(ser)).To(Succeed())
		var res struct {
			AtomOrder []string                     `json:"atom_order"`
			Tagmap    map[string]string            `json:"tagmap"`
			Results   map[string][]json.RawMessage `json:"results"`
		}
		Expect(json.Unmarshal(ser, &res)).To(Succeed())
		Expect(res.AtomOrder).To(HaveLen(30))
		Expect(res.Tagmap).To(HaveKey("energy"))
		Expect(res.Tagmap).To(HaveKey("bitstrings"))
		occ := res.Results[res.Tagmap["occupation"]]
		Expect(occ).To(HaveLen(2))
		var last []float64
		Expect(json.Unmarshal(occ[1], &last)).To(Succeed())
		Expect(last).To(HaveLen(30))
		Expect(last[0]).To(BeNumerically(">", 0.05), "the quench excites the chain's end atom")
	})

	It("runs the example batch submitted through the REST facade to DONE", func() {
		b, err := api.SubmitExample(ctx, platform.ProjectID)
		Expect(err).NotTo(HaveOccurred())
		Expect(b.Jobs).To(HaveLen(3))
		example = waitDone(b.ID)
		Expect(example.Status).To(Equal("DONE"))
		expectCountersSumToRuns(example)
		for _, j := range example.Jobs {
			Expect(j.Runs).To(Equal(local.ExampleRuns))
		}
	})

	It("runs a pulser_basic workload submitted through the REST facade to DONE", func() {
		const runs = 30
		created := struct {
			ID string `json:"id"`
		}{}
		Expect(api.Do(ctx, http.MethodPost, "/api/v1/workloads", map[string]any{
			"project_id": platform.ProjectID, "workload_type": "qadence_circuit", "backend": "pulser_basic",
			"config": map[string]any{"sequence_builder": ringSequence(3), "variables": map[string]any{"t": []int{500}}, "runs": runs},
		}, &created)).To(Succeed())
		var wl struct {
			Status string         `json:"status"`
			Errors []string       `json:"errors"`
			Result map[string]any `json:"result"`
		}
		Eventually(func(g Gomega) {
			g.Expect(api.Do(ctx, http.MethodGet, "/api/v2/workloads/"+created.ID, nil, &wl)).To(Succeed())
			g.Expect(wl.Status).To(BeElementOf("DONE", "ERROR"))
		}, 3*time.Minute, 250*time.Millisecond).Should(Succeed())
		Expect(wl.Status).To(Equal("DONE"), "errors: %v", wl.Errors)
		var total float64
		for bits, n := range wl.Result["counter"].(map[string]any) {
			Expect(bits).To(MatchRegexp(`^[01]{3}$`))
			total += n.(float64)
		}
		Expect(total).To(BeNumerically("==", runs))
	})

	It("runs a FRESNEL batch on the emulated QPU gateway, a process of its own, with the runner's own token", func() {
		b := &local.Batch{}
		Expect(api.Do(ctx, http.MethodPost, "/api/v1/batches", map[string]any{
			"project_id":       platform.ProjectID,
			"sequence_builder": local.ExampleSequence,
			"device_type":      "FRESNEL",
			"jobs":             []map[string]any{{"runs": local.ExampleRuns, "variables": map[string]any{"t": []int{100}}}},
		}, b)).To(Succeed())
		done := waitDone(b.ID)
		Expect(done.Status).To(Equal("DONE"), "%+v", done.Jobs)
		expectCountersSumToRuns(done)
		secrets := &corev1.SecretList{}
		Expect(platform.Admin.List(ctx, secrets, client.InNamespace(platform.ProjectID))).To(Succeed())
		for _, sec := range secrets.Items {
			Expect(sec.Name).NotTo(ContainSubstring("gateway"), "no gateway secret in the project namespace")
		}
	})

	It("runs a batch applied as YAML (the GitOps path) and shows it through the facade", func() {
		raw, err := os.ReadFile(filepath.Join(controlplane.RepoRoot(), "config", "samples", "quantum_v1alpha1_batch.yaml"))
		Expect(err).NotTo(HaveOccurred())
		obj := &unstructured.Unstructured{}
		Expect(utilyaml.Unmarshal(raw, &obj.Object)).To(Succeed())
		obj.SetNamespace(platform.ProjectID)
		Expect(platform.Admin.Patch(ctx, obj, client.Apply, client.FieldOwner("gitops"))).To(Succeed())

		Eventually(func(g Gomega) {
			b := &v1.Batch{}
			g.Expect(platform.Admin.Get(ctx, client.ObjectKeyFromObject(obj), b)).To(Succeed())
			g.Expect(b.Status.Phase).To(Equal(v1.BatchDone))
		}, 3*time.Minute, 250*time.Millisecond).Should(Succeed())

		b := &local.Batch{}
		Expect(api.Do(ctx, http.MethodGet, "/api/v1/batches/"+obj.GetName(), nil, b)).To(Succeed())
		Expect(b.Jobs).To(HaveLen(2))
		expectCountersSumToRuns(b)
	})

	It("keeps batches and results links across a facade restart", func() {
		link := struct {
			ResultsLink string `json:"results_link"`
		}{}
		job := example.Jobs[0]
		Expect(api.Do(ctx, http.MethodGet, "/api/v1/jobs/"+job.ID+"/results_link", nil, &link)).To(Succeed())
		Expect(link.ResultsLink).NotTo(BeEmpty())

		platform.StopFacade()
		_, err := http.Get(platform.FacadeURL + "/openapi.json")
		Expect(err).To(HaveOccurred(), "the facade is down")
		Expect(platform.StartFacade(ctx)).To(Succeed())

		b := &local.Batch{}
		Expect(api.Do(ctx, http.MethodGet, "/api/v1/batches/"+example.ID, nil, b)).To(Succeed())
		Expect(b.Status).To(Equal("DONE"))
		expectCountersSumToRuns(b)

		resp, err := http.Get(link.ResultsLink)
		Expect(err).NotTo(HaveOccurred())
		defer func() { _ = resp.Body.Close() }()
		Expect(resp.StatusCode).To(Equal(http.StatusOK), "a link issued before the restart still works")
		var full struct {
			Data struct {
				Counter map[string]int64 `json:"counter"`
				Raw     []string         `json:"raw"`
			} `json:"data"`
			Counter map[string]int64 `json:"counter"`
			Raw     []string         `json:"raw"`
		}
		Expect(json.NewDecoder(resp.Body).Decode(&full)).To(Succeed())
		raw := full.Raw
		if raw == nil {
			raw = full.Data.Raw
		}
		Expect(raw).To(HaveLen(job.Runs))
	})

	It("finishes every job exactly once when the manager restarts mid-batch", func() {
		var jobs []map[string]any
		for i := 0; i < 8; i++ {
			jobs = append(jobs, map[string]any{"runs": 50, "variables": map[string]any{"t": []int{2000 + 100*i}}})
		}
		b := &local.Batch{}
		Expect(api.Do(ctx, http.MethodPost, "/api/v1/batches", map[string]any{
			"project_id": platform.ProjectID, "sequence_builder": ringSequence(12),
			"device_type": "EMU_SV", "jobs": jobs,
		}, b)).To(Succeed())

		// Stop the manager once the batch is running and some, not all, jobs are done.
		Eventually(func(g Gomega) {
			got := &local.Batch{}
			g.Expect(api.Do(ctx, http.MethodGet, "/api/v1/batches/"+b.ID, nil, got)).To(Succeed())
			g.Expect(got.Status).To(Equal("RUNNING"))
			done := 0
			for _, j := range got.Jobs {
				if j.Status == "DONE" {
					done++
				}
			}
			g.Expect(done).To(BeNumerically(">=", 1))
		}, 2*time.Minute, 50*time.Millisecond).Should(Succeed())
		platform.StopManager()
		time.Sleep(time.Second)
		Expect(platform.StartManager()).To(Succeed())

		final := waitDone(b.ID)
		Expect(final.Status).To(Equal("DONE"))
		Expect(final.Jobs).To(HaveLen(8), "no job lost or duplicated")
		expectCountersSumToRuns(final)
	})

	It("deletes a batch's jobs and result ConfigMaps with the batch (kube-controller-manager's garbage collector)", func() {
		Expect(opts.ControllerManager).NotTo(BeEmpty(), "no kube-controller-manager in bin/k8s: run KUBECTL=0 hack/local-bins.sh (make test does)")
		// 5000 shots of 4 atoms do not fit in the job's status: the raw shots
		// go to a result ConfigMap owned by the job.
		b := &local.Batch{}
		Expect(api.Do(ctx, http.MethodPost, "/api/v1/batches", map[string]any{
			"project_id": platform.ProjectID, "sequence_builder": ringSequence(4), "device_type": "EMU_FREE",
			"jobs": []map[string]any{{"runs": 5000, "variables": map[string]any{"t": []int{500}}}, {"runs": 10, "variables": map[string]any{"t": []int{500}}}},
		}, b)).To(Succeed())
		Expect(waitDone(b.ID).Status).To(Equal("DONE"))
		owned := func(g Gomega) (jobs, configMaps int) {
			var jl v1.JobList
			g.Expect(platform.Admin.List(ctx, &jl, client.InNamespace(platform.ProjectID), client.MatchingLabels{v1.BatchLabel: b.ID})).To(Succeed())
			for _, j := range b.Jobs {
				var cm corev1.ConfigMap
				err := platform.Admin.Get(ctx, client.ObjectKey{Namespace: platform.ProjectID, Name: v1.ResultConfigMapName(j.ID)}, &cm)
				g.Expect(client.IgnoreNotFound(err)).To(Succeed())
				if err == nil {
					configMaps++
				}
			}
			return len(jl.Items), configMaps
		}
		jobs, cms := owned(Default)
		Expect(jobs).To(Equal(2))
		Expect(cms).To(Equal(1), "the large result is in a ConfigMap")

		Expect(platform.Admin.Delete(ctx, &v1.Batch{ObjectMeta: metav1.ObjectMeta{Namespace: platform.ProjectID, Name: b.ID}})).To(Succeed())
		Eventually(func(g Gomega) {
			jobs, cms := owned(g)
			g.Expect(jobs).To(BeZero())
			g.Expect(cms).To(BeZero())
		}, time.Minute, 250*time.Millisecond).Should(Succeed())
	})

	It("keeps batches when the whole platform stops and starts again on the same data", func() {
		Expect(platform.Stop()).To(Succeed())
		startPlatform()
		b := &local.Batch{}
		Expect(api.Do(ctx, http.MethodGet, "/api/v1/batches/"+example.ID, nil, b)).To(Succeed())
		Expect(b.Status).To(Equal("DONE"))
		expectCountersSumToRuns(b)
		Expect(fmt.Sprint(len(b.Jobs))).To(Equal("3"))
	})
})
