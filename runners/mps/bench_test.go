package mps

import (
	"context"
	"fmt"
	"math/cmplx"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"

	jobs "github.com/tweezer-dev/tweezer/runners/engine"
	"github.com/tweezer-dev/tweezer/runners/mps/mpsseq"
)

// randomEngine returns an engine on the AFM sequence of a rows×cols
// register (interactions below cutoff rad/µs dropped, grids reordered)
// whose state is a random right-canonical MPS with every bond at
// min(chi, its exact rank), and the drive of the sweep loaded.
func randomEngine(tb testing.TB, rows, cols, chi int, cutoff float64) *engine {
	prog := compile(tb, mpsseq.AFM(rows, cols))
	n := rows * cols
	cfg, _ := Config{MaxBondDim: chi}.withDefaults()
	order := siteOrder(prog.Positions, rows > 1)
	h := newHamiltonianMPO(interactions(prog, order, cutoff))
	drive := make([]complex128, n)
	det := make([]float64, n)
	averageDrive(prog, order, 1000, 1010, drive, det)
	h.setDrive(drive, det)
	e := newEngine(h, cfg)
	r := rand.New(rand.NewPCG(uint64(n), uint64(chi)))
	caps := bondCaps(n, chi)
	dim := func(k int) int {
		if k < 0 || k >= n-1 {
			return 1
		}
		return caps[k]
	}
	for i := range e.sites {
		dl, dr := dim(i-1), dim(i)
		e.sites[i] = &site{dl: dl, dr: dr, a: randMat(r, dl*2*dr, 1)}
	}
	// Right-canonicalise: A_i = R†·Q† from the QR of A_i† (2dr×dl).
	for i := n - 1; i > 0; i-- {
		s := e.sites[i]
		q, rr := qrOf(conjTranspose(s.a, s.dl, 2*s.dr), 2*s.dr, s.dl)
		s.a = conjTranspose(q, 2*s.dr, s.dl)
		prev := e.sites[i-1]
		rh := conjTranspose(rr, s.dl, s.dl)
		next := make([]complex128, len(prev.a))
		matMul(next, prev.a, rh, 2*prev.dl, prev.dr, s.dl)
		prev.a = next
	}
	nrm := norm2(e.sites[0].a)
	for j := range e.sites[0].a {
		e.sites[0].a[j] /= cmplx.Sqrt(complex(nrm, 0))
	}
	return e
}

// cpuTime is the CPU time of the process so far: on a shared machine the
// ratios below are taken on CPU time, which moves less than wall time
// when other work shares the cores.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkStepVsChi times one TDVP step (10 ns) on a 20-atom chain whose
// bonds are held at min(χ, exact rank) (interactions below 1 rad/µs cut, so
// the MPO stays small), and reports the CPU time per step and its growth
// from the previous χ of the same run divided by the growth of Σ_k χ_k³
// over the bonds: 1.0 is the χ³ law, below 1 lower-order terms (Lanczos
// orthogonalisation, MPO entries, O(χ²) copies) still weigh.
func BenchmarkStepVsChi(b *testing.B) {
	var prev time.Duration
	var prevCubes float64
	for _, chi := range []int{16, 32, 64, 128} {
		b.Run(fmt.Sprintf("chi=%d", chi), func(b *testing.B) {
			var per time.Duration
			cubes := 0.0
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				e := randomEngine(b, 1, 20, chi, 1)
				cubes = 0
				for _, d := range e.bondDims() {
					cubes += float64(d) * float64(d) * float64(d)
				}
				b.StartTimer()
				t0 := cpuTime()
				if err := e.step(0.01); err != nil {
					b.Fatal(err)
				}
				per += cpuTime() - t0
			}
			per /= time.Duration(b.N)
			b.ReportMetric(per.Seconds(), "cpu-s/step")
			if prev > 0 {
				b.ReportMetric(float64(per)/float64(prev)/(cubes/prevCubes), "x-chi3-law")
			}
			prev, prevCubes = per, cubes
		})
	}
}

// BenchmarkKernelPaths times (CPU) one step at χ = 32 with the AVX2 axpy
// and with the Go loop, and reports the speed-up.
func BenchmarkKernelPaths(b *testing.B) {
	if !useAVX2 {
		b.Skip("no AVX2 on this machine")
	}
	times := map[bool]time.Duration{}
	for _, avx := range []bool{false, true} {
		b.Run(fmt.Sprintf("avx2=%v", avx), func(b *testing.B) {
			defer func(v bool) { useAVX2 = v }(useAVX2)
			useAVX2 = avx
			var per time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				e := randomEngine(b, 1, 12, 32, 0)
				b.StartTimer()
				t0 := cpuTime()
				if err := e.step(0.01); err != nil {
					b.Fatal(err)
				}
				per += cpuTime() - t0
			}
			times[avx] = per / time.Duration(b.N)
			if avx {
				b.ReportMetric(float64(times[false])/float64(times[true]), "x-vs-go")
			}
		})
	}
}

// BenchmarkStepGrid times (CPU) one step of the AFM sweep on 5×5 and 6×6
// grids (all interactions) with every bond held at min(χ, exact rank): an
// upper bound on a step once χ has saturated, to multiply by the 390 steps
// of the sequence.
func BenchmarkStepGrid(b *testing.B) {
	for _, c := range [][3]int{{5, 5, 64}, {5, 5, 128}, {6, 6, 64}, {6, 6, 128}} {
		b.Run(fmt.Sprintf("%dx%d/chi=%d", c[0], c[1], c[2]), func(b *testing.B) {
			var per time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				e := randomEngine(b, c[0], c[1], c[2], 0)
				b.StartTimer()
				t0 := cpuTime()
				if err := e.step(0.01); err != nil {
					b.Fatal(err)
				}
				per += cpuTime() - t0
			}
			b.ReportMetric((per / time.Duration(b.N)).Seconds(), "cpu-s/step")
		})
	}
}

// BenchmarkTrajectoryWorkers runs one noisy job (10-atom quench, 300 ns,
// doppler noise: one evolution per trajectory, 8 trajectories) on 1 and on
// 2 workers, and reports the wall-time speed-up of 2 workers over the
// 1-worker run of the same benchmark, with the CPU time per job (equal on
// both when the cores are free; on a loaded machine the speed-up falls
// below 2 as the second worker waits for a core).
func BenchmarkTrajectoryWorkers(b *testing.B) {
	if runtime.GOMAXPROCS(0) < 2 {
		b.Skip("needs GOMAXPROCS ≥ 2")
	}
	seq := string(mpsseq.Quench(1, 10, 7, 300))
	cfg := `{"observables": [{"observable": "occupation", "evaluation_times": [1.0], "one_state": null, "tag_suffix": null}],
 "default_evaluation_times": [1.0], "initial_state": null, "with_modulation": false, "interaction_matrix": null,
 "prefer_device_noise_model": false, "n_trajectories": 8, "noise_model": {"noise_types": ["doppler"], "runs": null,
 "samples_per_run": null, "state_prep_error": 0.0, "p_false_pos": 0.0, "p_false_neg": 0.0, "temperature": 50.0,
 "laser_waist": null, "amp_sigma": 0.0, "relaxation_rate": 0.0, "dephasing_rate": 0.0, "hyperfine_dephasing_rate": 0.0,
 "depolarizing_rate": 0.0, "eff_noise": []}}`
	var base time.Duration
	for _, w := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			var wall, cpu time.Duration
			for i := 0; i < b.N; i++ {
				t0, c0 := time.Now(), cpuTime()
				if _, err := (Engine{Workers: w}).Run(context.Background(), jobs.Task{Sequence: seq, Runs: 1000, Seed: 3, DeviceType: "EMU_MPS", BackendConfiguration: cfg}, nil); err != nil {
					b.Fatal(err)
				}
				wall += time.Since(t0)
				cpu += cpuTime() - c0
			}
			wall /= time.Duration(b.N)
			b.ReportMetric(wall.Seconds(), "wall-s/job")
			b.ReportMetric((cpu / time.Duration(b.N)).Seconds(), "cpu-s/job")
			if w == 1 {
				base = wall
			} else if base > 0 {
				b.ReportMetric(float64(base)/float64(wall), "x-vs-1-worker")
			}
		})
	}
}
