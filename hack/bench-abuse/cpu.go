package main

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// clockTick is the unit of /proc/<pid>/stat's CPU times (USER_HZ, 100 on
// every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// cpuUse is the CPU time (user + system) spent so far by each part of the
// bench: this process (the tenants' clients, and in the in-process layout
// the facade and the manager), its live descendants by command name (etcd,
// kube-apiserver, kube-controller-manager, the manager and the facade, the
// runners), and the processes that have ended and been waited for (the
// runners: their time is added to their parent's).
type cpuUse map[string]time.Duration

// endedChildren names the CPU time of waited-for processes; gcPart the Go
// garbage collector's share of this process's (an estimate of the runtime,
// included in the process's line, not added to the total).
const (
	endedChildren = "ended processes (runners)"
	gcPart        = "  of which this process's Go GC"
)

// commandLabels names the processes whose command names say little
// (/proc keeps 15 characters of a command's name).
var commandLabels = map[string]string{
	"apiserver":       "facade (cmd/apiserver)",
	"manager":         "manager (cmd/manager)",
	"runner":          "runners (live workers)",
	"kube-controller": "kube-controller-manager",
	"sleep":           "parked workload runners",
}

// thisProcess names this process: the tenants' clients, and in the
// in-process layout the facade and the manager.
func thisProcess() string {
	if inProcess {
		return "this process (facade, manager, clients)"
	}
	return "this process (the tenants' clients)"
}

// sampleCPU reads /proc; parts it cannot read are left out.
func sampleCPU() cpuUse {
	use := cpuUse{}
	self := os.Getpid()
	if f, err := procStat(self); err == nil {
		use[thisProcess()] = ticks(f[12]) + ticks(f[13])
		use[endedChildren] = ticks(f[14]) + ticks(f[15])
	}
	gc := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(gc)
	if gc[0].Value.Kind() == metrics.KindFloat64 {
		use[gcPart] = time.Duration(gc[0].Value.Float64() * float64(time.Second))
	}
	for _, f := range descendants(self) {
		use[f[0]] += ticks(f[12]) + ticks(f[13])
		use[endedChildren] += ticks(f[14]) + ticks(f[15])
	}
	return use
}

// descendants returns the /proc/<pid>/stat fields (procStat) of the
// processes descending from self, by pid.
func descendants(self int) map[int][]string {
	stats := map[int][]string{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil || pid == self {
			continue
		}
		if f, err := procStat(pid); err == nil {
			stats[pid] = f
		}
	}
	descends := func(pid int) bool {
		for range 64 { // a ppid chain is short; this bounds a race with pid reuse
			f, ok := stats[pid]
			if !ok {
				return false
			}
			ppid, _ := strconv.Atoi(f[2])
			if ppid == self {
				return true
			}
			pid = ppid
		}
		return false
	}
	for pid := range stats {
		if !descends(pid) {
			delete(stats, pid)
		}
	}
	return stats
}

// procStat returns the fields of /proc/<pid>/stat after the pid: the command
// name first (without its parentheses), then state, ppid, … (field n of
// proc(5) is at index n-2: ppid 2, utime 12, stime 13, cutime 14, cstime 15).
func procStat(pid int) ([]string, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	s := string(raw)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return nil, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := append([]string{s[open+1 : end]}, strings.Fields(s[end+1:])...)
	if len(f) < 16 {
		return nil, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	return f, nil
}

func ticks(s string) time.Duration {
	n, _ := strconv.ParseInt(s, 10, 64)
	return time.Duration(n) * clockTick
}

// since is the CPU time spent by each part between an earlier sample and u.
func (u cpuUse) since(earlier cpuUse) cpuUse {
	d := cpuUse{}
	for k, v := range u {
		d[k] = v - earlier[k]
	}
	return d
}

// printCPU prints the CPU seconds of each part in the two phases, largest
// flood figure first, and the totals.
func printCPU(quiet, flood cpuUse, phase time.Duration) {
	names := make([]string, 0, len(flood))
	for k := range flood {
		names = append(names, k)
	}
	for k := range quiet {
		if _, ok := flood[k]; !ok {
			names = append(names, k)
		}
	}
	slices.SortFunc(names, func(a, b string) int { return int(flood[b] - flood[a]) })
	fmt.Printf("\n%-42s %10s %10s %8s\n", fmt.Sprintf("CPU seconds in each %s phase", phase), "quiet", "flood", "ratio")
	var tq, tf time.Duration
	names = slices.DeleteFunc(names, func(k string) bool { return k == gcPart })
	for _, k := range names {
		if quiet[k] == 0 && flood[k] == 0 {
			continue
		}
		label := k
		if l, ok := commandLabels[k]; ok {
			label = l
		}
		fmt.Printf("%-42s %10.1f %10.1f %7.2fx\n", label, quiet[k].Seconds(), flood[k].Seconds(), ratio(flood[k], quiet[k]))
		tq, tf = tq+quiet[k], tf+flood[k]
		if k == thisProcess() {
			fmt.Printf("%-42s %10.1f %10.1f %7.2fx\n", gcPart, quiet[gcPart].Seconds(), flood[gcPart].Seconds(), ratio(flood[gcPart], quiet[gcPart]))
		}
	}
	fmt.Printf("%-42s %10.1f %10.1f %7.2fx\n", "all", tq.Seconds(), tf.Seconds(), ratio(tf, tq))
}

// profileAPIServer writes a CPU profile of kube-apiserver over the next d to
// apiserverProfile, when set (its /debug/pprof, as the admin); the channel
// says when it is written.
func profileAPIServer(ctx context.Context, cfg *rest.Config, d time.Duration) <-chan error {
	done := make(chan error, 1)
	if apiserverProfile == "" {
		done <- nil
		return done
	}
	go func() {
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			done <- err
			return
		}
		raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").
			Param("seconds", strconv.Itoa(int(d.Seconds()))).Timeout(d + time.Minute).DoRaw(ctx)
		if err != nil {
			done <- fmt.Errorf("profiling kube-apiserver: %w", err)
			return
		}
		done <- os.WriteFile(apiserverProfile, raw, 0o644)
	}()
	return done
}

// apiRequests counts kube-apiserver's requests so far by verb, resource and
// subresource (its apiserver_request_total, watches and long-running
// requests included), and of them those it took longer than slowRequest
// over (its apiserver_request_duration_seconds, watches left out), read
// from its /metrics as the admin.
type apiRequests struct {
	count, slow map[string]float64
}

// slowRequest is the latency apiRequests counts requests above (one of
// kube-apiserver's histogram bounds, in seconds: about B's quiet POST p99),
// and its column's title.
const slowRequest, slowTitle = "0.05", "over 50 ms"

func sampleRequests(ctx context.Context, cs kubernetes.Interface) (apiRequests, error) {
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return apiRequests{}, fmt.Errorf("reading kube-apiserver's metrics: %w", err)
	}
	r := apiRequests{count: map[string]float64{}, slow: map[string]float64{}}
	timed := map[string]float64{}
	for line := range strings.Lines(string(raw)) {
		name, rest, ok := strings.Cut(line, "{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		l := map[string]string{}
		for kv := range strings.SplitSeq(labels, ",") {
			k, val, _ := strings.Cut(kv, "=")
			l[k] = strings.Trim(val, `"`)
		}
		key := l["verb"] + " " + l["resource"]
		if l["subresource"] != "" {
			key += "/" + l["subresource"]
		}
		switch {
		case name == "apiserver_request_total":
			r.count[key] += v
		case l["verb"] == "WATCH":
			// a watch lasts as long as its client keeps it
		case name == "apiserver_request_duration_seconds_bucket" && l["le"] == "+Inf":
			r.slow[key] += v
		case name == "apiserver_request_duration_seconds_bucket" && l["le"] == slowRequest:
			timed[key] += v
		}
	}
	for k, v := range timed {
		r.slow[k] -= v
	}
	return r, nil
}

func (r apiRequests) since(earlier apiRequests) apiRequests {
	d := apiRequests{count: map[string]float64{}, slow: map[string]float64{}}
	for k, v := range r.count {
		if n := v - earlier.count[k]; n > 0 {
			d.count[k] = n
		}
	}
	for k, v := range r.slow {
		if n := v - earlier.slow[k]; n > 0 {
			d.slow[k] = n
		}
	}
	return d
}

// printRequests prints the most frequent requests of the flood phase with
// their count in the quiet phase, and how many of them kube-apiserver took
// more than slowRequest over in each.
func printRequests(quiet, flood apiRequests, top int) {
	keys := make([]string, 0, len(flood.count))
	for k := range flood.count {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Compare(flood.count[b], flood.count[a]) })
	sum := func(m map[string]float64) (t float64) {
		for _, v := range m {
			t += v
		}
		return t
	}
	fmt.Printf("\n%-42s %10s %10s %10s %10s\n", "kube-apiserver requests (most in the flood)", "quiet", "flood", slowTitle, slowTitle)
	for _, k := range keys[:min(top, len(keys))] {
		fmt.Printf("%-42s %10.0f %10.0f %10.0f %10.0f\n", k, quiet.count[k], flood.count[k], quiet.slow[k], flood.slow[k])
	}
	fmt.Printf("%-42s %10.0f %10.0f %10.0f %10.0f\n", "all", sum(quiet.count), sum(flood.count), sum(quiet.slow), sum(flood.slow))
}

// queueStats is the Batch controller's work so far, from controller-runtime's
// metrics in this process: reconciles, and the total seconds they waited in
// the work queue and took to run; and how many times a batch's jobs waited
// for their project's job budget.
type queueStats struct {
	waits, reconciles       uint64
	waitSeconds, runSeconds float64
	budgetWaits             uint64
}

// sampleQueue reads the Batch controller's figures from the manager's
// metrics: this process's registry (in-process layout), or the manager
// process's endpoint at url.
func sampleQueue(url string) queueStats {
	var q queueStats
	families, err := gather(url)
	if err != nil {
		return q
	}
	for _, f := range families {
		if f.GetName() == "tweezer_job_budget_waits_total" {
			for _, m := range f.GetMetric() {
				q.budgetWaits = uint64(m.GetCounter().GetValue())
			}
			continue
		}
		for _, m := range f.GetMetric() {
			batch := false
			for _, l := range m.GetLabel() {
				if (l.GetName() == "controller" || l.GetName() == "name") && l.GetValue() == "batch" {
					batch = true
				}
			}
			if !batch || m.GetHistogram() == nil {
				continue
			}
			h := m.GetHistogram()
			switch f.GetName() {
			case "workqueue_queue_duration_seconds":
				q.waits, q.waitSeconds = h.GetSampleCount(), h.GetSampleSum()
			case "controller_runtime_reconcile_time_seconds":
				q.reconciles, q.runSeconds = h.GetSampleCount(), h.GetSampleSum()
			}
		}
	}
	return q
}

func (q queueStats) since(e queueStats) queueStats {
	return queueStats{q.waits - e.waits, q.reconciles - e.reconciles, q.waitSeconds - e.waitSeconds, q.runSeconds - e.runSeconds, q.budgetWaits - e.budgetWaits}
}

// printQueue prints the Batch controller's reconciles and their mean wait
// in the work queue and mean time in each phase.
func printQueue(quiet, flood queueStats) {
	mean := func(s float64, n uint64) float64 {
		if n == 0 {
			return 0
		}
		return 1000 * s / float64(n)
	}
	fmt.Printf("\n%-42s %10s %10s\n", "Batch controller", "quiet", "flood")
	fmt.Printf("%-42s %10d %10d\n", "reconciles", quiet.reconciles, flood.reconciles)
	fmt.Printf("%-42s %10.1f %10.1f\n", "mean wait in the work queue (ms)", mean(quiet.waitSeconds, quiet.waits), mean(flood.waitSeconds, flood.waits))
	fmt.Printf("%-42s %10.1f %10.1f\n", "mean reconcile (ms)", mean(quiet.runSeconds, quiet.reconciles), mean(flood.runSeconds, flood.reconciles))
	fmt.Printf("%-42s %10d %10d\n", "batches held by the job budget", quiet.budgetWaits, flood.budgetWaits)
}

// timeline samples, every tick, the CPU time of the bench's long-lived
// processes (found once, when it starts: this one, kube-apiserver, etcd,
// the manager, the facade, kube-controller-manager) and the machine's
// (/proc/stat: all CPUs busy, and stolen by the hypervisor), so that the
// CPU spent during one of B's slow requests can be told. It reads a few
// files per tick: a scan of /proc per tick cost this process more than a
// tenth of a CPU.
type timeline struct {
	pids    map[string]int
	mu      sync.Mutex
	samples []cpuSample
}

type cpuSample struct {
	at              time.Time
	use             cpuUse
	machine, stolen time.Duration
}

// others names, in a timeline, the machine's busy time that none of the
// processes sampled accounts for: the runners, and anything else running.
const others = "others (runners)"

// startTimeline samples until ctx ends.
func startTimeline(ctx context.Context, tick time.Duration) *timeline {
	tl := &timeline{pids: map[string]int{thisProcess(): os.Getpid()}}
	for pid, f := range descendants(os.Getpid()) {
		switch name := f[0]; name {
		case "kube-apiserver", "etcd", "manager", "apiserver", "kube-controller":
			tl.pids[name] = pid
		}
	}
	go func() {
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			s := cpuSample{at: time.Now(), use: cpuUse{}}
			for name, pid := range tl.pids {
				if f, err := procStat(pid); err == nil {
					s.use[name] = ticks(f[12]) + ticks(f[13])
				}
			}
			s.machine, s.stolen = machineCPU()
			tl.mu.Lock()
			tl.samples = append(tl.samples, s)
			tl.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return tl
}

// machineCPU is the CPU time all CPUs have been busy (not idle or waiting
// for I/O) and the time the hypervisor stole, from /proc/stat's cpu line.
func machineCPU() (busy, stolen time.Duration) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0
	}
	for _, i := range []int{1, 2, 3, 6, 7} {
		busy += ticks(f[i])
	}
	return busy, ticks(f[8])
}

// during returns the CPU time of each part, the machine's busy time and
// the time stolen over the samples that cover [from, to]: from the last
// sample at or before from to the first at or after to.
func (tl *timeline) during(from, to time.Time) (use cpuUse, machine, stolen, over time.Duration) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	i := max(0, sort.Search(len(tl.samples), func(i int) bool { return tl.samples[i].at.After(from) })-1)
	j := sort.Search(len(tl.samples), func(j int) bool { return !tl.samples[j].at.Before(to) })
	if j >= len(tl.samples) || i >= j {
		return nil, 0, 0, 0
	}
	a, b := tl.samples[i], tl.samples[j]
	use = b.use.since(a.use)
	machine = b.machine - a.machine
	rest := machine
	for _, v := range use {
		rest -= v
	}
	use[others] = max(0, rest)
	return use, machine, b.stolen - a.stolen, b.at.Sub(a.at)
}

// describe is what the processes spent over [from, to]: the three that
// spent most (the runners among others), the machine's busy time of the
// CPUs' whole and the time stolen.
func (tl *timeline) describe(from, to time.Time) string {
	use, machine, stolen, over := tl.during(from, to)
	if over == 0 {
		return ""
	}
	names := slices.Collect(maps.Keys(use))
	names = slices.DeleteFunc(names, func(k string) bool { return use[k] <= 0 })
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(use[b], use[a]) })
	var parts []string
	for _, k := range names[:min(3, len(names))] {
		label := k
		if l, ok := commandLabels[k]; ok {
			label, _, _ = strings.Cut(l, " (")
		}
		parts = append(parts, fmt.Sprintf("%s %.0f", label, ms(use[k])))
	}
	return fmt.Sprintf("CPU ms over %.0f ms: %s; machine busy %.0f%%, stolen %.0f ms",
		ms(over), strings.Join(parts, ", "), 100*machine.Seconds()/(float64(runtime.NumCPU())*over.Seconds()), ms(stolen))
}
