package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/tweezer-dev/tweezer/internal/childproc"
	"github.com/tweezer-dev/tweezer/internal/controlplane"
)

// deployment is the manager and the facade run as processes of their own,
// as a cluster deploys them (cmd/manager, cmd/apiserver): each has its own
// Go runtime, heap and garbage collector, and A's 1 MiB bodies, which the
// facade decodes, do not pause the manager's reconciles. The binaries are
// built from this checkout; their logs go to dir/logs.
type deployment struct {
	manager, facade *childproc.Process
	facadeURL       string
	// managerMetrics and facadeMetrics are the processes' plain-HTTP
	// Prometheus endpoints.
	managerMetrics, facadeMetrics string
}

// build compiles the commands (./cmd/<name>) into dir.
func build(dir string, names ...string) error {
	args := []string{"build", "-o", dir + "/"}
	for _, n := range names {
		args = append(args, "./cmd/"+n)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = controlplane.RepoRoot(), os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building %v: %w", names, err)
	}
	return nil
}

// parkWorkloads writes dir/runner-parked: the runner, except that a
// workload runner sleeps instead of running its workload. The bench is
// about the control plane, not the workloads' compute (which a cluster runs
// on other nodes); the in-process layout parks them the same way. With
// -runner-nice, the batch runners run at that niceness.
func parkWorkloads(dir string) (string, error) {
	path := filepath.Join(dir, "runner-parked")
	nice := ""
	if runnerNice != 0 {
		nice = fmt.Sprintf("nice -n %d ", runnerNice)
	}
	script := "#!/bin/sh\nif [ \"$1\" = workload ]; then exec sleep 86400; fi\nexec " + nice + filepath.Join(dir, "runner") + " \"$@\"\n"
	return path, os.WriteFile(path, []byte(script), 0o755)
}

// deploy starts the manager and the facade processes with the bench's
// settings (those of startManager and of the in-process facade) and waits
// until the facade answers.
func deploy(ctx context.Context, dir, kubeconfig string) (_ *deployment, err error) {
	runner, err := parkWorkloads(dir)
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	d := &deployment{
		facadeURL:      "http://127.0.0.1:" + strconv.Itoa(ports[0]),
		managerMetrics: "http://127.0.0.1:" + strconv.Itoa(ports[1]) + "/metrics",
		facadeMetrics:  "http://127.0.0.1:" + strconv.Itoa(ports[2]) + "/metrics",
	}
	defer func() {
		if err != nil {
			d.stop()
		}
	}()
	logs := filepath.Join(dir, "logs")
	d.manager, err = childproc.Start(filepath.Join(dir, "manager"), filepath.Join(logs, "manager.log"), nil,
		"--kubeconfig", kubeconfig,
		"--executor", "process", "--runner-binary", runner, "--runner-kubeconfig", kubeconfig,
		"--namespace", managerNS, "--lease-duration", "10s",
		"--workload-concurrency", "4", "--workload-time-limit", "1h",
		"--metrics-bind-address", "127.0.0.1:"+strconv.Itoa(ports[1]), "--metrics-insecure",
		"--health-probe-bind-address", "0",
	)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	d.facade, err = childproc.Start(filepath.Join(dir, "apiserver"), filepath.Join(logs, "apiserver.log"), nil,
		"--kubeconfig", kubeconfig,
		"--listen", "127.0.0.1:"+strconv.Itoa(ports[0]),
		"--results-key", hex.EncodeToString(key),
		"--project-write-bytes-per-second", strconv.FormatFloat(writes.BytesPerSecond, 'g', -1, 64),
		"--project-write-burst-bytes", strconv.FormatInt(writes.BurstBytes, 10),
		"--project-write-requests-per-second", strconv.FormatFloat(writes.RequestsPerSecond, 'g', -1, 64),
		"--project-write-burst-requests", strconv.Itoa(writes.BurstRequests),
		"--project-jobs-per-second", strconv.FormatFloat(writes.JobsPerSecond, 'g', -1, 64),
		"--project-jobs-burst", strconv.Itoa(writes.BurstJobs),
		"--user-refused-writes-per-second", strconv.FormatFloat(writes.RefusedPerSecond, 'g', -1, 64),
		"--user-refused-writes-burst", strconv.Itoa(writes.BurstRefused),
		"--project-write-bytes-in-flight", strconv.FormatInt(writes.InFlightBytes, 10),
		"--inline-sequence-bytes", strconv.Itoa(inlineSequenceBytes),
		"--metrics-bind-address", "127.0.0.1:"+strconv.Itoa(ports[2]), "--metrics-insecure",
	)
	if err != nil {
		return nil, err
	}
	return d, d.facade.AwaitHTTP(ctx, d.facadeURL+"/openapi.json")
}

func (d *deployment) stop() {
	d.facade.Stop(10 * time.Second)
	d.manager.Stop(10 * time.Second)
}

// freePorts returns n ports free on 127.0.0.1 a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// gather reads the metric families of a plain-HTTP Prometheus endpoint, or
// of this process's registry when url is empty (the in-process layout).
func gather(url string) ([]*dto.MetricFamily, error) {
	if url == "" {
		return ctrlmetrics.Registry.Gather()
	}
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, err
	}
	families := make([]*dto.MetricFamily, 0, len(byName))
	for _, f := range byName {
		families = append(families, f)
	}
	return families, nil
}

// refusals reads the facade's write budget refusals by limit and stage
// (tweezer_facade_write_budget_refusals_total): "held" ones were answered
// before their body was read, "write" ones after.
func refusals(url string) map[string]float64 {
	out := map[string]float64{}
	families, err := gather(url)
	if err != nil {
		return out
	}
	for _, f := range families {
		if f.GetName() != "tweezer_facade_write_budget_refusals_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			var limit, stage string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "limit":
					limit = l.GetValue()
				case "stage":
					stage = l.GetValue()
				}
			}
			out[stage+" ("+limit+")"] += m.GetCounter().GetValue()
		}
	}
	return out
}
