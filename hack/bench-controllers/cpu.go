package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"k8s.io/client-go/rest"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat CPU times (100 on
// every Linux platform Go supports).
const clockTicks = 100

// cpuMeter reads the CPU time spent by each part of the benchmark: this
// process (manager and client), the runner processes it started and reaped,
// and the control plane's etcd and kube-apiserver.
type cpuMeter struct {
	pids map[string]int // component name -> pid
}

// newCPUMeter finds the control plane's processes by their executable name
// among this process's children.
func newCPUMeter() *cpuMeter {
	m := &cpuMeter{pids: map[string]int{}}
	for pid, exe := range children() {
		switch exe {
		case "etcd", "kube-apiserver":
			m.pids[exe] = pid
		}
	}
	return m
}

// children returns this process's live children and their executable names.
func children() map[int]string {
	out := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	self := strconv.Itoa(os.Getpid())
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		if f := statFields(string(stat)); len(f) < 2 || f[1] != self {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil {
			out[pid] = filepath.Base(exe)
		}
	}
	return out
}

// processCPU returns a live process's CPU seconds.
func processCPU(pid int) float64 {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := statFields(string(stat))
	// utime and stime are fields 14 and 15 of stat; f starts at field 3.
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks
}

// statFields returns /proc/<pid>/stat's fields after the command name
// (state, ppid, ...): the name may hold spaces, so split after its ')'.
func statFields(stat string) []string {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(stat[i+1:])
}

// sample returns CPU seconds per component. Runners count whether they
// exited (reaped children) or still run (live runner workers).
func (m *cpuMeter) sample() map[string]float64 {
	out := map[string]float64{}
	var self, reaped syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &self) == nil {
		out["manager+client"] = seconds(self)
	}
	if syscall.Getrusage(syscall.RUSAGE_CHILDREN, &reaped) == nil {
		out["runners"] = seconds(reaped)
	}
	for pid, exe := range children() {
		if exe == "runner" {
			out["runners"] += processCPU(pid)
		}
	}
	for name, pid := range m.pids {
		out[name] = processCPU(pid)
	}
	return out
}

func seconds(ru syscall.Rusage) float64 {
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// report prints the CPU spent between two samples, per job.
func report(before, after map[string]float64, jobs int) string {
	var b strings.Builder
	total := 0.0
	for _, name := range []string{"kube-apiserver", "etcd", "manager+client", "runners"} {
		d := after[name] - before[name]
		total += d
		fmt.Fprintf(&b, "%s %.1f ms, ", name, 1000*d/float64(jobs))
	}
	fmt.Fprintf(&b, "total %.1f ms", 1000*total/float64(jobs))
	return b.String()
}

// captureProfile writes a 20 s CPU profile of kube-apiserver, taken through
// its /debug/pprof endpoint with the benchmark's admin credentials.
func captureProfile(ctx context.Context, cfg *rest.Config, path string) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(cfg.Host, "/")+"/debug/pprof/profile?seconds=20", nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	resp, err := hc.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", resp.Status, data)
	}
	if err == nil {
		err = os.WriteFile(path, data, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
	}
}

// requestCounts reads kube-apiserver's apiserver_request_total and sums it
// per verb, resource and subresource.
func requestCounts(ctx context.Context, cfg *rest.Config) map[string]float64 {
	out := map[string]float64{}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return out
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(cfg.Host, "/")+"/metrics", nil)
	if err != nil {
		return out
	}
	resp, err := hc.Do(req)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		end := strings.LastIndexByte(line, '}')
		labels := map[string]string{}
		for _, kv := range strings.Split(line[len("apiserver_request_total{"):end], ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				labels[k] = strings.Trim(v, `"`)
			}
		}
		if labels["verb"] == "WATCH" {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
		if err != nil {
			continue
		}
		key := labels["verb"] + " " + labels["resource"]
		if labels["subresource"] != "" {
			key += "/" + labels["subresource"]
		}
		if code := labels["code"]; code != "" && code[0] != '2' {
			key += " (" + code + ")"
		}
		out[key] += v
	}
	return out
}

// requestReport prints the requests made between two counts, per batch,
// largest first.
func requestReport(before, after map[string]float64, batches int) string {
	type row struct {
		key string
		n   float64
	}
	var rows []row
	for k, v := range after {
		if d := v - before[k]; d >= float64(batches)/10 {
			rows = append(rows, row{k, d / float64(batches)})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].n > rows[j].n })
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "    %-40s %6.2f\n", r.key, r.n)
	}
	return b.String()
}
