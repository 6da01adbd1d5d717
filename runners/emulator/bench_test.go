package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tweezer-dev/tweezer/runners/sequence"
)

// BenchmarkAdiabaticRing times the 3 µs adiabatic ring at N = 4..24 atoms,
// in each precision (precision=normal: complex128 throughout, the engine
// as it was before precision "low" existed, so it is the baseline of the
// same run; precision=low: the complex64 recurrence), and reports, besides
// ns/op: the CPU time, the time per ns of evolution, the peak heap growth
// during the run relative to one complex128 state vector (and the peak
// resident set's growth, rss/state, on Linux), the sweeps, the
// error bound, and the speed-up over Pulser's QutipEmulator measured on
// this machine (testdata/pulser_timings.json).
func BenchmarkAdiabaticRing(b *testing.B) {
	var pulser struct {
		Seconds map[string]float64 `json:"seconds"`
	}
	if data, err := os.ReadFile("testdata/pulser_timings.json"); err == nil {
		_ = json.Unmarshal(data, &pulser)
	}
	for _, n := range []int{4, 8, 10, 12, 16, 20, 22, 24} {
		for _, precision := range []string{precisionNormal, precisionLow} {
			b.Run(fmt.Sprintf("N=%d/precision=%s", n, precision), func(b *testing.B) {
				seq := ringSequence(n)
				cfg := json.RawMessage(`{"precision": "` + precision + `"}`)
				var peak uint64
				var evo *evolution
				rss0 := resetPeakRSS()
				start, cpu0 := time.Now(), cpuSeconds()
				for i := 0; i < b.N; i++ {
					p, base := watchHeap()
					sim, err := simulate(context.Background(), Request{Sequence: seq, DeviceType: "EMU_FREE", Configuration: cfg}, nil)
					if err != nil {
						b.Fatal(err)
					}
					evo = sim.evo
					peak = max(peak, p()-base)
				}
				per := time.Since(start).Seconds() / float64(b.N)
				b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s")
				stateBytes := float64(uint64(16) << n)
				b.ReportMetric(per*1e9/3000/1e3, "µs/evolved-ns")
				b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
				b.ReportMetric(float64(peak)/stateBytes, "peak/state")
				if rss0 > 0 {
					if hwm := procStatusKiB("VmHWM"); hwm > rss0 {
						b.ReportMetric(float64(hwm-rss0)*1024/stateBytes, "rss/state")
					}
				}
				b.ReportMetric(float64(evo.MatVecs), "matvecs")
				b.ReportMetric(evo.MagnusErr+evo.ChebErr, "err-bound")
				if ref, ok := pulser.Seconds[fmt.Sprint(n)]; ok {
					b.ReportMetric(ref/per, "x-vs-pulser")
				}
			})
		}
	}
}

// BenchmarkSweeps times one sweep of the kernels the ring spends its time
// in, at N = 16 and 20 on the ring's Hamiltonian: a Chebyshev step
// (chebStep: global real drive; cheb32Step: the same in precision "low")
// and the Gram matrix that sizes a Magnus block (gram; gramFlips while the
// drive is constant), on every kernel path this machine has; at N = 20
// the AVX2 Chebyshev steps run both in one pass (avx2-onepass) and split
// (avx2-split, the engine's path from splitFrom atoms). Like expStep, the
// Chebyshev steps read the vector the previous step wrote and add to acc
// every other step (a benchmark that kept reading one vector would let it
// stay in cache at N = 20). It reports the CPU time per amplitude, which
// moves less than wall time when other work shares the cores.
func BenchmarkSweeps(b *testing.B) {
	for _, n := range []int{16, 20} {
		p, err := sequence.Compile(ringSequence(n), sequence.Options{MaxAtoms: 30})
		if err != nil {
			b.Fatal(err)
		}
		e := newEvolution(p, defaultMagnusTol)
		e.loadAverage(1000, 7)
		for i := range e.psi {
			// Every vector written once: a sweep that touched a page first
			// would pay its fault.
			e.psi[i] = complex(math.Sin(float64(i)), math.Cos(float64(3*i)))
			e.work1[i], e.work2[i] = e.psi[i]/2, e.psi[i]/3
		}
		lo, hi := e.h.spectrum(e.avgDet)
		perAmp := func(b *testing.B, sweep func()) {
			cpu0 := cpuSeconds()
			for b.Loop() {
				sweep()
			}
			b.ReportMetric((cpuSeconds()-cpu0)*1e9/float64(b.N)/float64(e.h.dim), "cpu-ns/amp")
		}
		paths := splitPaths()
		if n < 20 {
			paths = paths[:len(kernelPaths())] // nothing to split
		}
		for _, sp := range paths {
			path := sp.kernelPath
			if sp.avx2 && n >= 20 && !sp.split {
				path.name += "-onepass"
			}
			b.Run(fmt.Sprintf("chebStep/N=%d/%s", n, path.name), func(b *testing.B) {
				setPaths(b, path.avx2, path.sse2)
				setSplit(b, sp.split)
				in, out := e.psi, e.work1
				var c0, c1 complex128
				perAmp(b, func() {
					c0, c1 = 0.1-c0, 0.2-c1 // 0 every other step
					e.h.chebStep(in, out, e.work2, (lo+hi)/2, (hi-lo)/2, false, c0, c1)
					in, out = out, in
				})
			})
			if path.name != "sse2" {
				b.Run(fmt.Sprintf("cheb32Step/N=%d/%s", n, path.name), func(b *testing.B) {
					setPaths(b, path.avx2, path.sse2)
					setSplit(b, sp.split)
					in, out := make([]complex64, e.h.dim), make([]complex64, e.h.dim)
					toSingle(in, e.psi)
					toSingle(out, e.work1)
					acc := e.work2
					var c0, c1 complex128
					perAmp(b, func() {
						c0, c1 = 0.1-c0, 0.2-c1 // 0 every other step
						e.h.cheb32Step(in, out, acc, (lo+hi)/2, (hi-lo)/2, false, c0, c1)
						in, out = out, in
					})
				})
				if sp.split {
					continue // gram does not split
				}
				b.Run(fmt.Sprintf("gram/N=%d/%s", n, sp.name), func(b *testing.B) {
					setPaths(b, path.avx2, path.sse2)
					perAmp(b, func() { e.gram(e.interView()) })
				})
				if path.avx2 {
					b.Run(fmt.Sprintf("gramFlips/N=%d/%s", n, sp.name), func(b *testing.B) {
						perAmp(b, func() { e.gram(nil) })
					})
					// The same two from the state's complex64 copy
					// (precision "low").
					rounded := func(b *testing.B) {
						e.w2 = make([]complex64, e.h.dim)
						toSingle(e.w2, e.psi)
						e.rounded = true
						b.Cleanup(func() { e.w2, e.rounded = nil, false })
					}
					b.Run(fmt.Sprintf("gram32/N=%d/%s", n, sp.name), func(b *testing.B) {
						rounded(b)
						perAmp(b, func() { e.gram(e.interView()) })
					})
					b.Run(fmt.Sprintf("gramFlips32/N=%d/%s", n, sp.name), func(b *testing.B) {
						rounded(b)
						perAmp(b, func() { e.gram(nil) })
					})
				}
			}
		}
	}
}

// resetPeakRSS returns the memory to the OS, resets the process's peak
// resident set (Linux: /proc/self/clear_refs) and returns the resident set
// in KiB, or 0 where that is not possible: the growth of VmHWM over it is
// the case's peak RSS.
func resetPeakRSS() uint64 {
	debug.FreeOSMemory()
	if os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) != nil {
		return 0
	}
	return procStatusKiB("VmRSS")
}

// procStatusKiB reads a field in kB of /proc/self/status (0 if absent).
func procStatusKiB(field string) uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// watchHeap samples the live heap every millisecond until the returned
// function is called; it returns the peak and the starting heap.
func watchHeap() (stop func() uint64, base uint64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	base = read()
	var peak atomic.Uint64
	peak.Store(base)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if v := read(); v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak.Load()
	}, base
}

// cpuSeconds is the process's user+system CPU time: with other work on the
// machine, wall time inflates but CPU time barely moves.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// BenchmarkNoisyTrajectories runs 32 dephasing and relaxation trajectories
// of a 6-atom ring under GOMAXPROCS 1 and 2 and reports, on the second, the
// speed-up over the first measured in the same run (trajectories share no
// state, so it should approach the number of cores).
func BenchmarkNoisyTrajectories(b *testing.B) {
	seq := ringSequence(6)
	nm := &NoiseModel{NoiseTypes: []string{"dephasing", "relaxation"}, DephasingRate: 0.3, RelaxationRate: 0.2}
	perOp := map[int]float64{}
	for _, procs := range []int{1, 2} {
		b.Run(fmt.Sprintf("GOMAXPROCS=%d", procs), func(b *testing.B) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if _, err := Run(context.Background(), Request{Sequence: seq, Runs: 100, Seed: 1, Noise: nm, NTrajectories: 32}, nil); err != nil {
					b.Fatal(err)
				}
			}
			perOp[procs] = time.Since(start).Seconds() / float64(b.N)
			if procs > 1 && perOp[1] > 0 {
				b.ReportMetric(perOp[1]/perOp[procs], "speedup")
			}
		})
	}
}
