// Command bench-apiserver measures the REST facade against the local control
// plane: it loads 1,000 batches of 10 jobs into one project, then prints
// requests/s and latency percentiles of the facade's cached reads, of batch
// creation, and of the same reads done directly against the kube-apiserver.
//
//	make bench-apiserver          # or: go run ./hack/bench-apiserver -duration 5s
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
	"github.com/tweezer-dev/tweezer/apiserver/budget"
	"github.com/tweezer-dev/tweezer/apiserver/server"
	"github.com/tweezer-dev/tweezer/controllers"
	"github.com/tweezer-dev/tweezer/controllers/executor"
	"github.com/tweezer-dev/tweezer/hack/testenv"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
)

func main() {
	batches := flag.Int("batches", 1000, "batches to load")
	jobsPer := flag.Int("jobs", 10, "jobs per batch")
	duration := flag.Duration("duration", 5*time.Second, "how long each read scenario runs")
	conc := flag.Int("concurrency", 16, "concurrent clients of the read scenarios")
	posts := flag.Int("posts", 40, "batches of 50 jobs created in the write scenario")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the measurements to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer f.Close()
		profile = f
	}
	if err := run(*batches, *jobsPer, *duration, *conc, *posts); err != nil {
		fmt.Fprintln(os.Stderr, "bench-apiserver:", err)
		os.Exit(1)
	}
}

// profile receives a CPU profile of the measurements when set.
var profile io.Writer

const project = "5e1f7a3c-0d9b-4b8e-a1c2-3f4e5d6c7b8a"

func run(nBatches, jobsPer int, duration time.Duration, conc, posts int) error {
	env, err := controlplane.New()
	if err != nil {
		return err
	}
	cfg, err := env.Start()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg.QPS, cfg.Burst = -1, 0
	admin, err := client.New(cfg, client.Options{Scheme: server.Scheme()})
	if err != nil {
		return err
	}
	token, err := setupUser(ctx, cfg, admin)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "loading %d batches × %d jobs...\n", nBatches, jobsPer)
	start := time.Now()
	ids, err := load(ctx, admin, nBatches, jobsPer)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "loaded in %s\n", time.Since(start).Round(time.Second))

	// The facade writes intent; the Batch controller creates the Jobs of
	// the batches it posts. No device exists, so no batch starts.
	if err := startManager(ctx, cfg); err != nil {
		return err
	}
	fc := server.Defaults()
	// The bench measures the facade's own speed, not a project's write
	// budget (bench-abuse does): one project writes here as fast as it can.
	fc.ProjectWrites = budget.Limits{}
	s, err := server.New(cfg, fc)
	if err != nil {
		return err
	}
	start = time.Now()
	if err := s.StartCache(ctx); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "facade cache synced in %s\n", time.Since(start).Round(time.Millisecond))
	facade := httptest.NewServer(s.Handler())
	defer facade.Close()

	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc * 2}}
	kubeTransport, err := rest.TransportFor(cfg)
	if err != nil {
		return err
	}
	kubec := &http.Client{Transport: kubeTransport}
	// Wait until the facade lists everything.
	for {
		var page struct {
			Pagination struct{ Total int } `json:"pagination"`
		}
		if err := getJSON(httpc, facade.URL+"/api/v2/jobs?limit=1&project_id="+project, token, &page); err != nil {
			return err
		}
		if page.Pagination.Total == nBatches*jobsPer {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	if profile != nil {
		if err := pprof.StartCPUProfile(profile); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	apis := strings.TrimSuffix(cfg.Host, "/") + "/apis/quantum.tweezer.dev/v1alpha1/namespaces/" + project
	pick := func() string { return ids[rand.IntN(len(ids))] }
	var results []result
	results = append(results,
		measure("facade GET /api/v2/batches/{id}", duration, conc, func() error {
			return get(httpc, facade.URL+"/api/v2/batches/"+pick(), token)
		}),
		measure("kube GET batch + LIST its jobs (label)", duration, conc, func() error {
			id := pick()
			if err := get(kubec, apis+"/batches/"+id, ""); err != nil {
				return err
			}
			return get(kubec, apis+"/jobs?labelSelector="+quantumv1alpha1.BatchLabel+"%3D"+id, "")
		}),
		measure("facade GET /api/v2/jobs?status=DONE&limit=100", duration, conc, func() error {
			return get(httpc, facade.URL+"/api/v2/jobs?status=DONE&limit=100&offset="+fmt.Sprint(rand.IntN(10)*100), token)
		}),
		measure("kube LIST jobs of the project (filter client-side)", duration, conc, func() error {
			return get(kubec, apis+"/jobs", "")
		}),
		measure("kube LIST jobs of the project, limit=100", duration, conc, func() error {
			return get(kubec, apis+"/jobs?limit=100", "")
		}),
	)
	body := map[string]any{"project_id": project, "sequence_builder": `{"version":"1"}`, "device_type": "EMU_FREE"}
	var jobs []map[string]any
	for i := range 50 {
		jobs = append(jobs, map[string]any{"runs": 100, "variables": map[string]any{"t": i}})
	}
	body["jobs"] = jobs
	raw, _ := json.Marshal(body)
	results = append(results, measureN("facade POST /api/v1/batches (50 jobs)", posts, 4, func() error {
		return post(httpc, facade.URL+"/api/v1/batches", token, raw)
	}))

	fmt.Printf("\n%-55s %8s %9s %9s %9s %7s\n", "scenario", "requests", "req/s", "p50 ms", "p99 ms", "errors")
	for _, r := range results {
		fmt.Printf("%-55s %8d %9.0f %9.2f %9.2f %7d\n", r.name, r.count, r.rate, ms(r.p50), ms(r.p99), r.errors)
	}
	fmt.Printf("\n%d batches × %d jobs in one project; %d concurrent clients for reads, 4 for writes; %s per read scenario; GOMAXPROCS=%d.\n",
		nBatches, jobsPer, conc, duration, runtime.GOMAXPROCS(0))
	return nil
}

// startManager runs the manager's reconcilers until ctx ends.
func startManager(ctx context.Context, cfg *rest.Config) error {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: controlplane.Scheme(), Cache: controllers.CacheOptions(), NewClient: controllers.NewClient,
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
	})
	if err != nil {
		return err
	}
	if err := controllers.Setup(ctx, mgr, controllers.Config{Executor: executor.NewProcess("", "", io.Discard)}); err != nil {
		return err
	}
	go func() { _ = mgr.Start(ctx) }()
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// setupUser creates a project member and returns their token.
func setupUser(ctx context.Context, cfg *rest.Config, admin client.Client) (string, error) {
	raw, err := os.ReadFile(filepath.Join(controlplane.RepoRoot(), "config/rbac/roles/tweezer-user.yaml"))
	if err != nil {
		return "", err
	}
	var role rbacv1.ClusterRole
	if err := yaml.Unmarshal(raw, &role); err != nil {
		return "", err
	}
	objs := []client.Object{
		&role,
		testenv.ProjectNamespace(project),
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "bench", Namespace: project}},
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "bench", Namespace: project},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "bench", Namespace: project}},
		},
		&quantumv1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: "emu-free"}, Spec: quantumv1alpha1.DeviceSpec{DeviceType: quantumv1alpha1.DeviceTypeEmuFree}},
	}
	for _, o := range objs {
		if err := admin.Create(ctx, o); err != nil {
			return "", err
		}
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	tr, err := cs.CoreV1().ServiceAccounts(project).CreateToken(ctx, "bench", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return tr.Status.Token, nil
}

// load creates the batches and their jobs (a fifth of the jobs DONE) directly.
func load(ctx context.Context, admin client.Client, nBatches, jobsPer int) ([]string, error) {
	ids := make([]string, nBatches)
	work := make(chan int)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := loadBatch(ctx, admin, i, jobsPer, ids); err != nil {
					select {
					case errc <- err:
					default:
					}
				}
			}
		}()
	}
	for i := range nBatches {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errc:
		return nil, err
	default:
	}
	return ids, nil
}

func loadBatch(ctx context.Context, admin client.Client, i, jobsPer int, ids []string) error {
	b := &quantumv1alpha1.Batch{
		ObjectMeta: metav1.ObjectMeta{Name: uuid.NewString(), Namespace: project},
		Spec:       quantumv1alpha1.BatchSpec{SequenceBuilder: `{"version":"1"}`, DeviceType: quantumv1alpha1.DeviceTypeEmuFree, UserID: "bench"},
	}
	for k := range jobsPer {
		b.Spec.Jobs = append(b.Spec.Jobs, quantumv1alpha1.InlineJob{Runs: 100, Variables: &apiextensionsv1.JSON{Raw: fmt.Appendf(nil, `{"t":%d}`, k)}})
	}
	if err := admin.Create(ctx, b); err != nil {
		return err
	}
	ids[i] = b.Name
	for k, ij := range b.Spec.Jobs {
		j := &quantumv1alpha1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: quantumv1alpha1.InlineJobName(b.UID, k), Namespace: project, Labels: map[string]string{quantumv1alpha1.BatchLabel: b.Name}},
			Spec:       quantumv1alpha1.JobSpec{BatchName: b.Name, Runs: ij.Runs, Variables: ij.Variables, CreationOrder: int32(k + 1), UserID: "bench"},
		}
		if err := admin.Create(ctx, j); err != nil {
			return err
		}
		if k%5 == 0 {
			j.Status.Phase = quantumv1alpha1.JobDone
			j.Status.Counter = map[string]int64{"01": 60, "10": 40}
			if err := admin.Status().Update(ctx, j); err != nil {
				return err
			}
		}
	}
	return nil
}

type result struct {
	name          string
	count, errors int
	rate          float64
	p50, p99      time.Duration
}

// measure runs fn from conc goroutines for d.
func measure(name string, d time.Duration, conc int, fn func() error) result {
	var mu sync.Mutex
	var lat []time.Duration
	var errs int
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for time.Now().Before(deadline) {
				t := time.Now()
				if err := fn(); err != nil {
					if bad++; bad == 1 {
						fmt.Fprintln(os.Stderr, name+":", err)
					}
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	return summarize(name, lat, errs, time.Since(start))
}

// measureN runs fn n times from conc goroutines.
func measureN(name string, n, conc int, fn func() error) result {
	var mu sync.Mutex
	var lat []time.Duration
	var errs int
	work := make(chan struct{}, n)
	for range n {
		work <- struct{}{}
	}
	close(work)
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				t := time.Now()
				err := fn()
				mu.Lock()
				if err != nil {
					errs++
					fmt.Fprintln(os.Stderr, err)
				} else {
					lat = append(lat, time.Since(t))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return summarize(name, lat, errs, time.Since(start))
}

func summarize(name string, lat []time.Duration, errs int, elapsed time.Duration) result {
	slices.Sort(lat)
	r := result{name: name, count: len(lat), errors: errs, rate: float64(len(lat)) / elapsed.Seconds()}
	if len(lat) > 0 {
		r.p50 = lat[len(lat)/2]
		r.p99 = lat[min(len(lat)-1, len(lat)*99/100)]
	}
	return r
}

func do(c *http.Client, req *http.Request, token string) ([]byte, error) {
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %d %.200s", req.Method, req.URL.Path, resp.StatusCode, body)
	}
	return body, nil
}

func get(c *http.Client, url, token string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	_, err = do(c, req, token)
	return err
}

func getJSON(c *http.Client, url, token string, v any) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	body, err := do(c, req, token)
	if err != nil {
		return err
	}
	return json.Unmarshal(body, v)
}

func post(c *http.Client, url, token string, body []byte) error {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	_, err = do(c, req, token)
	return err
}
