// Command local runs the whole Tweezer platform on this machine (`make run`):
// a private control plane, the manager, the REST facade and a demo project. It
// prints how to reach it, submits an example batch and prints its results,
// then serves until Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/tweezer-dev/tweezer/internal/local"
	"github.com/tweezer-dev/tweezer/internal/node"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "local:", err)
		os.Exit(1)
	}
}

func run() error {
	exe, _ := os.Executable()
	var opts local.Options
	flag.StringVar(&opts.DataDir, "data-dir", ".tweezer", "folder for the platform's data (etcd, kubeconfig, logs); reused by the next start")
	flag.StringVar(&opts.BinDir, "bin-dir", filepath.Dir(exe), "folder holding the manager, apiserver and runner binaries")
	flag.StringVar(&opts.FacadeAddr, "listen", "127.0.0.1:8000", "REST facade address")
	flag.StringVar(&opts.GatewayAddr, "qpu-gateway", "127.0.0.1:8090", "emulated QPU gateway address")
	flag.StringVar(&opts.Jupyter, "jupyter", "", "jupyter command of learners' notebook servers (default: jupyter in PATH; hack/jupyter/install.sh installs Debian's and prints its path)")
	flag.DurationVar(&opts.NotebookIdle, "notebook-idle-timeout", 0, "idle time after which a notebook server is culled (default: the manager's, 1h)")
	flag.StringVar(&opts.ControllerManager, "kube-controller-manager", "", "kube-controller-manager binary to run the garbage collector with (hack/local-bins.sh builds one); none when empty")
	kubectl := flag.String("kubectl", "kubectl", "the kubectl command to print (make run builds bin/kubectl)")
	example := flag.Bool("example", true, "submit an example batch and print its results")
	nodeBins := flag.String("node", "", "run a real node (containerd, kubelet, kube-scheduler) and runners as Pods: the folder holding kubelet and kube-scheduler (hack/node-bins.sh prints it); none when empty")
	images := flag.String("images", "bin/images/pause.tar,bin/images/tweezer.tar", "OCI image tarballs the node imports (make image builds them)")
	flag.Parse()
	opts.Progress = os.Stderr
	if abs, err := filepath.Abs(opts.DataDir); err == nil {
		opts.DataDir = abs
	}
	if *nodeBins != "" {
		opts.Node = &node.Options{Dir: filepath.Join(opts.DataDir, "node"), BinDir: *nodeBins, Progress: os.Stderr}
		for _, img := range strings.Split(*images, ",") {
			if img = strings.TrimSpace(img); img != "" {
				opts.Node.Images = append(opts.Node.Images, img)
			}
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	p, err := local.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(os.Stderr, "==> stopping (data kept in "+opts.DataDir+")")
		if err := p.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "local: tearing down the node:", err)
		}
	}()
	printWelcome(p, *kubectl, time.Since(start))

	if *example {
		if err := runExample(ctx, p); err != nil && ctx.Err() == nil {
			fmt.Fprintln(os.Stderr, "example batch:", err)
		}
	}
	fmt.Println("\nServing. Press Ctrl-C to stop.")
	<-ctx.Done()
	return nil
}

func printWelcome(p *local.Platform, kubectl string, took time.Duration) {
	api := p.FacadeURL + "/api/v1"
	fmt.Printf(`
Tweezer is running (started in %s).

  REST facade   %s   (OpenAPI: %s/openapi.json, docs: %s/docs)
  web console   %s/console   (sign in with the token below)
  project id    %s
  token         %s
  kubeconfig    %s

Try it:
  export TOKEN=%s
  curl -H "Authorization: Bearer $TOKEN" "%s/batches?project_id=%s"
  python -c 'from pasqal_cloud import SDK, Endpoints; print(SDK(project_id="%s", token_provider=..., endpoints=Endpoints(core="%s", account="%s")).get_batches())'
  %s --kubeconfig %s get tweezer -A

A learner's notebook (a Jupyter server with the package's starter notebook):
  curl -X POST -H "Authorization: Bearer $TOKEN" "%s/learners/VQPU/notebooks/intro?project_id=%s"
  then open its "url" (the server itself, on 127.0.0.1, with its token).
`, took.Round(time.Second), api, p.FacadeURL, p.FacadeURL, p.FacadeURL, p.ProjectID, p.Token, p.Kubeconfig,
		p.Token, api, p.ProjectID, p.ProjectID, p.FacadeURL, p.FacadeURL, kubectl, p.Kubeconfig, api, p.ProjectID)
}

// runExample submits the example batch through the facade and prints each job's
// counter as it finishes.
func runExample(ctx context.Context, p *local.Platform) error {
	c := &local.Client{BaseURL: p.FacadeURL, Token: p.Token}
	b, err := c.SubmitExample(ctx, p.ProjectID)
	if err != nil {
		return err
	}
	fmt.Printf("\nSubmitted example batch %s (%d jobs of %d shots on EMU_FREE); results as they finish:\n", b.ID, len(b.Jobs), local.ExampleRuns)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	final, err := c.WaitBatch(ctx, b.ID, func(j local.Job) {
		fmt.Printf("  job %d  t=%v ns  %-8s %s\n", j.CreationOrder, j.Variables["t"], j.Status, topCounts(j))
	})
	if err != nil {
		return err
	}
	fmt.Printf("Batch %s is %s.\n", final.ID, final.Status)
	return nil
}

// topCounts renders the most frequent bitstrings of a job's counter.
func topCounts(j local.Job) string {
	if len(j.Errors) > 0 {
		return strings.Join(j.Errors, "; ")
	}
	keys := make([]string, 0, len(j.Result))
	for k := range j.Result {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool { return j.Result[keys[a]] > j.Result[keys[b]] })
	var parts []string
	for i, k := range keys {
		if i == 5 {
			parts = append(parts, "...")
			break
		}
		parts = append(parts, fmt.Sprintf("%s:%d", k, j.Result[k]))
	}
	return strings.Join(parts, " ")
}
