// Command bench-mps runs the MPS engine on emu-mps's adiabatic AFM
// sequence (and a quench) for a set of registers and prints one table: N,
// register, max_bond_dim, χ reached, steps, wall and CPU time, peak heap,
// the engine's memory estimate, the summed discarded weight, and where the
// state vector can hold the register (N ≤ 20) the error against it; then
// one job with SPAM noise and one with dephasing on both engines.
//
// Usage: go run ./hack/bench-mps [-cases small|large|all] [-only regexp] [-max-bond-dim χ]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"regexp"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tweezer-dev/tweezer/runners/emulator"
	"github.com/tweezer-dev/tweezer/runners/engine"
	"github.com/tweezer-dev/tweezer/runners/mps"
	"github.com/tweezer-dev/tweezer/runners/mps/mpsseq"
	"github.com/tweezer-dev/tweezer/runners/sequence"
)

type benchCase struct {
	name     string
	rows     int
	cols     int
	seq      []byte
	maxBond  int
	cutoff   float64
	optimize bool
	oneSite  bool // one_site_after_saturation
	large    bool
}

func cases() []benchCase {
	afm := func(rows, cols, chi int, large bool) benchCase {
		name := fmt.Sprintf("AFM %dx%d", rows, cols)
		if rows == 1 {
			name = fmt.Sprintf("AFM chain %d", cols)
		}
		return benchCase{name: name, rows: rows, cols: cols, seq: mpsseq.AFM(rows, cols), maxBond: chi, optimize: rows > 1, large: large}
	}
	quench := func(rows, cols, chi int, dur int, large bool) benchCase {
		return benchCase{name: fmt.Sprintf("quench %dx%d %dns", rows, cols, dur), rows: rows, cols: cols,
			seq: mpsseq.Quench(rows, cols, 6, dur), maxBond: chi, optimize: rows > 1, large: large}
	}
	oneSite := func(c benchCase) benchCase {
		c.name += " 1-site"
		c.oneSite = true
		return c
	}
	return []benchCase{
		afm(1, 10, 1024, false),
		afm(1, 16, 1024, false),
		afm(3, 3, 1024, false),
		afm(4, 4, 64, false),
		quench(1, 12, 1024, 500, false),
		quench(1, 12, 8, 500, false),
		quench(1, 12, 4, 500, false),
		oneSite(quench(1, 12, 4, 500, false)),
		afm(1, 50, 64, true),
		afm(5, 5, 64, true),
		afm(5, 5, 128, true),
		afm(6, 6, 64, true),
		afm(6, 6, 128, true),
	}
}

func main() {
	which := flag.String("cases", "small", "small, large or all")
	only := flag.String("only", "", "run only the cases whose name matches this regexp")
	chi := flag.Int("max-bond-dim", 0, "run only the cases at this max_bond_dim (0: all)")
	svMax := flag.Int("sv-max", 16, "compare with the state vector up to this many atoms (at most 20)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the runs to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	var re *regexp.Regexp
	if *only != "" {
		re = regexp.MustCompile(*only)
	}
	fmt.Printf("cores: %d (GOMAXPROCS %d), load average before: %s\n\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), loadavg())
	fmt.Printf(rowFormat, "case", "N", "max χ", "χ reached", "steps", "wall (s)", "CPU (s)", "peak heap MiB", "estimate MiB", "discarded", "max |Δ⟨n⟩|", "max |Δ⟨nn⟩|", "TVD")
	fmt.Println(strings.Repeat("-", 150))
	for _, c := range cases() {
		if (*which == "small" && c.large) || (*which == "large" && !c.large) || (re != nil && !re.MatchString(c.name)) || (*chi != 0 && c.maxBond != *chi) {
			continue
		}
		if err := run(c, min(*svMax, 20)); err != nil {
			fmt.Printf("%-24s %4d %6d  error: %v\n", c.name, c.rows*c.cols, c.maxBond, err)
		}
	}
	if *which != "large" {
		for _, nc := range noiseCases {
			if re != nil && !re.MatchString(nc.name) {
				continue
			}
			if err := noisy(nc); err != nil {
				fmt.Println(nc.name+": error:", err)
			}
		}
	}
}

// noiseCase is one noisy job run on both engines.
type noiseCase struct {
	name, model string
	nTraj       int
}

const noiseModelTemplate = `{"noise_types": [%s], "runs": null, "samples_per_run": null, "state_prep_error": %s, "p_false_pos": %s, "p_false_neg": %s, "temperature": 0.0, "laser_waist": null, "amp_sigma": 0.0, "relaxation_rate": 0.0, "dephasing_rate": %s, "hyperfine_dephasing_rate": 0.0, "depolarizing_rate": 0.0, "eff_noise": []}`

var noiseCases = []noiseCase{
	{"SPAM: state_prep_error 0.05, p_false_pos 0.01, p_false_neg 0.05", fmt.Sprintf(noiseModelTemplate, `"SPAM"`, "0.05", "0.01", "0.05", "0.0"), 20},
	{"dephasing 0.5/µs (quantum jumps)", fmt.Sprintf(noiseModelTemplate, `"dephasing"`, "0.0", "0.0", "0.0", "0.5"), 20},
}

// noisy runs one job with noise (20 trajectories) through the MPS engine
// on 1 and on 2 trajectory workers and through the state-vector engine,
// in turn, with the same seed, so all draw the same lost atoms and jump
// thresholds: their occupations must agree, and the times compare the
// worker counts and the two engines on the same trajectories.
func noisy(nc noiseCase) error {
	cfg := `{"observables": [{"observable": "occupation", "evaluation_times": [1.0], "one_state": null, "tag_suffix": null}], "default_evaluation_times": [1.0], "initial_state": null, "with_modulation": false, "interaction_matrix": null, "prefer_device_noise_model": false, "n_trajectories": ` + fmt.Sprint(nc.nTraj) + `, "noise_model": ` + nc.model + `}`
	seq := string(mpsseq.Quench(1, 12, 6, 500))
	fmt.Printf("\n%s, quench 1x12 500ns, %d trajectories, 10000 shots, same seed:\n", nc.name, nc.nTraj)
	var occ [3][]float64
	var walls [3]float64
	for k, eng := range []struct {
		name string
		e    engine.Engine
		dev  string
	}{{"MPS (EMU_MPS), 1 worker", mps.Engine{Workers: 1}, "EMU_MPS"}, {"MPS (EMU_MPS), 2 workers", mps.Engine{Workers: 2}, "EMU_MPS"},
		{"state vector (EMU_FREE)", emulator.Engine{}, "EMU_FREE"}} {
		runtime.GC()
		cpu0, t0 := cpuSeconds(), time.Now()
		res, err := eng.e.Run(context.Background(), engine.Task{Sequence: seq, Runs: 10000, Seed: 7, DeviceType: eng.dev, BackendConfiguration: cfg}, nil)
		wall, cpu := time.Since(t0).Seconds(), cpuSeconds()-cpu0
		if err != nil {
			return err
		}
		if err := json.Unmarshal(res.Observables[0].Values[0], &occ[k]); err != nil {
			return err
		}
		walls[k] = wall
		fmt.Printf("  %-26s wall %6.2f s  CPU %6.2f s  (load %s)\n", eng.name, wall, cpu, loadavg())
	}
	d, dw := 0.0, 0.0
	for i := range occ[0] {
		d = math.Max(d, math.Abs(occ[0][i]-occ[2][i]))
		dw = math.Max(dw, math.Abs(occ[0][i]-occ[1][i]))
	}
	fmt.Printf("  MPS wall time, 1 worker / 2 workers: %.2f; max |Δ⟨n⟩| between them %.1e (same seed: 0)\n", walls[0]/walls[1], dw)
	fmt.Printf("  max |Δ⟨n⟩| between the engines (trajectory means): %.1e\n", d)
	return nil
}

// rowFormat prints one row of the table (all columns as strings); steps
// reads "one-site/all" when some steps were one-site.
const rowFormat = "%-24s %4s %6s %10s %7s %9s %9s %14s %13s %10s %12s %12s %8s\n"

func run(c benchCase, svMax int) error {
	prog, err := sequence.Compile(c.seq, sequence.Options{})
	if err != nil {
		return err
	}
	n := len(prog.QubitIDs)
	runtime.GC()
	stop := watchHeap()
	cpu0, t0 := cpuSeconds(), time.Now()
	progress := func(p int) {
		if p%10 == 0 {
			fmt.Fprintf(os.Stderr, "%s: %d%% after %.0f s\n", c.name, p, time.Since(t0).Seconds())
		}
	}
	st, stats, err := mps.Run(context.Background(), prog, mps.Config{MaxBondDim: c.maxBond, InteractionCutoff: c.cutoff, OptimizeQubitOrdering: c.optimize, OneSiteAfterSaturation: c.oneSite}, progress)
	wall, cpu := time.Since(t0).Seconds(), cpuSeconds()-cpu0
	peak := stop()
	if err != nil {
		return err
	}
	dn, dnn, tvd := "n/a", "n/a", "n/a"
	if n <= svMax {
		exact, err := emulator.Probabilities(context.Background(), emulator.Request{Sequence: c.seq, DeviceType: "EMU_FREE"}, 0)
		if err != nil {
			return err
		}
		ref := moments(exact, n)
		occ, corr := st.Occupation(), st.Correlation()
		e1, e2 := 0.0, 0.0
		for i := 0; i < n; i++ {
			e1 = math.Max(e1, math.Abs(occ[i]-ref[i][i]))
			for j := 0; j < n; j++ {
				e2 = math.Max(e2, math.Abs(corr[i][j]-ref[i][j]))
			}
		}
		dn, dnn = fmt.Sprintf("%.1e", e1), fmt.Sprintf("%.1e", e2)
		if got, err := st.Probabilities(0); err == nil {
			tvd = fmt.Sprintf("%.1e", distance(got, exact))
		}
	}
	steps := fmt.Sprint(len(stats.Steps))
	if stats.OneSiteSteps > 0 {
		steps = fmt.Sprintf("%d/%d", stats.OneSiteSteps, len(stats.Steps))
	}
	fmt.Printf(rowFormat, c.name, fmt.Sprint(n), fmt.Sprint(c.maxBond), fmt.Sprint(stats.MaxBond), steps,
		fmt.Sprintf("%.1f", wall), fmt.Sprintf("%.1f", cpu), fmt.Sprintf("%.1f", float64(peak)/(1<<20)),
		fmt.Sprintf("%.1f", float64(stats.MemoryEstimate)/(1<<20)), fmt.Sprintf("%.1e", stats.Discarded), dn, dnn, tvd)
	return nil
}

// moments returns ⟨nᵢnⱼ⟩ (diagonal ⟨nᵢ⟩) of a distribution.
func moments(p map[string]float64, n int) [][]float64 {
	c := make([][]float64, n)
	for i := range c {
		c[i] = make([]float64, n)
	}
	for k, v := range p {
		for i := 0; i < n; i++ {
			if k[i] != '1' {
				continue
			}
			for j := 0; j < n; j++ {
				if k[j] == '1' {
					c[i][j] += v
				}
			}
		}
	}
	return c
}

func distance(p, q map[string]float64) float64 {
	d := 0.0
	for k, v := range p {
		d += math.Abs(v - q[k])
	}
	for k, v := range q {
		if _, ok := p[k]; !ok {
			d += v
		}
	}
	return d / 2
}

// watchHeap samples the live heap every 10 ms until stop, which returns
// the peak in bytes.
func watchHeap() (stop func() uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak uint64
	var mu sync.Mutex
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			mu.Lock()
			peak = max(peak, sample[0].Value.Uint64())
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}
