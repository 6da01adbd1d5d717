package emulator

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tweezer-dev/tweezer/internal/sysmem"
	"github.com/tweezer-dev/tweezer/runners/sequence"
)

func rabiSeq(dur int) []byte {
	return build("MockDevice", [][2]float64{{0, 0}, {40, 0}, {0, 40}}, nil,
		pulseOp(constWF(dur, 2*math.Pi), constWF(dur, 0), 0))
}

func TestRunSeededAndCounted(t *testing.T) {
	req := Request{Sequence: rabiSeq(150), Runs: 4000, Seed: 42, DeviceType: "EMU_SV"}
	var last []int
	a, err := Run(context.Background(), req, func(p int) { last = append(last, p) })
	if err != nil {
		t.Fatal(err)
	}
	b, err := Run(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Raw) != req.Runs || strings.Join(a.Raw, ",") != strings.Join(b.Raw, ",") {
		t.Fatal("the same seed must give the same shots")
	}
	total := int64(0)
	for k, v := range a.Counter {
		if len(k) != 3 {
			t.Errorf("bitstring %q", k)
		}
		total += v
	}
	if total != int64(req.Runs) {
		t.Errorf("counts sum to %d, want %d", total, req.Runs)
	}
	if len(last) == 0 || last[len(last)-1] != 100 {
		t.Errorf("progress ended at %v", last)
	}
	for i := 1; i < len(last); i++ {
		if last[i] < last[i-1] {
			t.Errorf("progress went back: %v", last)
		}
	}
	// Frequencies follow the exact probabilities (independent atoms).
	p := math.Pow(math.Sin(2*math.Pi*0.15/2), 2)
	for k, v := range a.Counter {
		want := 1.0
		for _, c := range k {
			if c == '1' {
				want *= p
			} else {
				want *= 1 - p
			}
		}
		sd := math.Sqrt(want * (1 - want) / float64(req.Runs))
		if got := float64(v) / float64(req.Runs); math.Abs(got-want) > 5*sd+1e-3 {
			t.Errorf("%s: frequency %.4f, probability %.4f", k, got, want)
		}
	}
	c, _ := Run(context.Background(), Request{Sequence: rabiSeq(150), Runs: 4000, Seed: 43}, nil)
	if strings.Join(a.Raw, ",") == strings.Join(c.Raw, ",") {
		t.Error("different seeds gave identical shots")
	}
}

func TestFirstAtomIsLeftmost(t *testing.T) {
	// Only atom 0 is driven (a local channel): its bit is the leftmost.
	seq := []byte(`{"version":"1","name":"x","device":"MockDevice","variables":{},"measurement":"ground-rydberg",
	"register":[{"name":"a","x":0,"y":0},{"name":"b","x":50,"y":0}],
	"channels":{"l":"rydberg_local"},
	"operations":[{"op":"target","channel":"l","target":0},
	{"op":"pulse","channel":"l","protocol":"min-delay","phase":0,"post_phase_shift":0,
	 "amplitude":{"kind":"constant","duration":500,"value":6.283185307179586},"detuning":{"kind":"constant","duration":500,"value":0}}]}`)
	res, err := Run(context.Background(), Request{Sequence: seq, Runs: 10, Seed: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Counter["10"] != 10 {
		t.Errorf("counter %v, want all shots 10", res.Counter)
	}
}

// EMU_FRESNEL adds Fresnel's SPAM errors: an all-ground state reads a 1
// with the false-positive rate, an all-Rydberg state reads a 0 with about
// the false-negative rate plus the state-preparation error.
func TestFresnelNoise(t *testing.T) {
	const runs = 40000
	count := func(seq []byte, devType string, bit byte) float64 {
		res, err := Run(context.Background(), Request{Sequence: seq, Runs: runs, Seed: 7, DeviceType: devType}, nil)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, s := range res.Raw {
			n += strings.Count(s, string(bit))
		}
		return float64(n) / float64(runs*3)
	}
	ground := build("AnalogDevice", [][2]float64{{0, 0}, {30, 0}, {0, 30}}, nil,
		pulseOp(constWF(1000, 0), constWF(1000, 0), 0))
	excite := build("AnalogDevice", [][2]float64{{0, 0}, {30, 0}, {0, 30}}, nil,
		pulseOp(constWF(500, 2*math.Pi), constWF(500, 0), 0))
	if f := count(ground, "EMU_FREE", '1'); f != 0 {
		t.Errorf("noiseless emulator read 1s on ground: %g", f)
	}
	sd := math.Sqrt(0.1 / (runs * 3))
	if f := count(ground, "EMU_FRESNEL", '1'); math.Abs(f-0.025) > 5*sd {
		t.Errorf("false positives %.4f, want 0.025", f)
	}
	want := 0.005 + 0.995*0.1
	if f := count(excite, "EMU_FRESNEL", '0'); math.Abs(f-want) > 5*sd {
		t.Errorf("false negatives %.4f, want %.4f", f, want)
	}
}

func inputError(t *testing.T, err error, wantPath, wantMsg string) {
	t.Helper()
	var ie *InputError
	if !errors.As(err, &ie) {
		t.Fatalf("want *InputError, got %T %v", err, err)
	}
	if ie.Path != wantPath || !strings.Contains(ie.Error(), wantMsg) {
		t.Errorf("got %q (path %q), want path %q and %q", ie.Error(), ie.Path, wantPath, wantMsg)
	}
}

func TestInputErrors(t *testing.T) {
	vars := map[string]any{"t": map[string]any{"type": "int", "value": []int{0}}}
	param := build("MockDevice", [][2]float64{{0, 0}}, vars,
		pulseOp(constWF(map[string]any{"variable": "t"}, 1), constWF(map[string]any{"variable": "t"}, 0), 0))
	_, err := Run(context.Background(), Request{Sequence: param, Runs: 1}, nil)
	inputError(t, err, "variables.t", `"t"`)
	_, err = Run(context.Background(), Request{Sequence: param, Runs: 1, Variables: []byte(`{"t":[1,2]}`)}, nil)
	inputError(t, err, "variables.t", "size 1")

	tooStrong := build("AnalogDevice", [][2]float64{{0, 0}}, nil,
		pulseOp(constWF(100, 20), constWF(100, 0), 0))
	_, err = Run(context.Background(), Request{Sequence: tooStrong, Runs: 1}, nil)
	inputError(t, err, "$.operations[0].amplitude", "exceeds")

	// Detuning 2π·15 is fine on AnalogDevice (±2π·20) but not on Fresnel
	// (±2π·10): strict validation and the FRESNEL types check against it.
	det := build("AnalogDevice", [][2]float64{{0, 0}}, nil,
		pulseOp(constWF(100, 1), constWF(100, 2*math.Pi*15), 0))
	if _, err := Run(context.Background(), Request{Sequence: det, Runs: 1}, nil); err != nil {
		t.Fatalf("lenient: %v", err)
	}
	_, err = Run(context.Background(), Request{Sequence: det, Runs: 1, Configuration: []byte(`{"strict_validation": true}`)}, nil)
	inputError(t, err, "$.operations[0].detuning", "Fresnel")
	_, err = Run(context.Background(), Request{Sequence: det, Runs: 1, DeviceType: "FRESNEL"}, nil)
	inputError(t, err, "$.operations[0].detuning", "exceeds")

	_, err = Run(context.Background(), Request{Sequence: det, Runs: 1, Configuration: []byte(`[`)}, nil)
	inputError(t, err, "configuration", "invalid")
	_, err = Run(context.Background(), Request{Sequence: det, Runs: 0}, nil)
	inputError(t, err, "runs", "between")
	_, err = Run(context.Background(), Request{Sequence: det, Runs: 1, DeviceType: "QPU9"}, nil)
	inputError(t, err, "device_type", "unknown")
}

// Registers above the cap fail with an InputError before any state is
// allocated, never an out-of-memory kill.
func TestMemoryCap(t *testing.T) {
	t.Setenv(MaxAtomsEnv, "3")
	if MaxAtoms() != 3 {
		t.Fatalf("MaxAtoms() = %d", MaxAtoms())
	}
	seq := build("MockDevice", [][2]float64{{0, 0}, {10, 0}, {20, 0}, {30, 0}}, nil,
		pulseOp(constWF(100, 1), constWF(100, 0), 0))
	_, err := Run(context.Background(), Request{Sequence: seq, Runs: 1}, nil)
	inputError(t, err, "$.register", "at most 3 (the cap of "+MaxAtomsEnv)

	t.Setenv(MaxAtomsEnv, "")
	if m := MaxAtoms(); m > hardMaxAtoms || m < 20 {
		t.Errorf("MaxAtoms() = %d on this machine", m)
	}
	atoms := make([][2]float64, 64)
	for i := range atoms {
		atoms[i] = [2]float64{float64(i) * 10, 0}
	}
	big := build("MockDevice", atoms, nil, pulseOp(constWF(100, 1), constWF(100, 0), 0))
	_, err = Run(context.Background(), Request{Sequence: big, Runs: 1}, nil)
	inputError(t, err, "$.register", "simulates at most")

	// A small memory limit (here the budget's environment variable, as a
	// pod's cgroup limit would): the error says which budget refused it.
	t.Setenv(sysmem.LimitEnv, "24Mi")
	if m := MaxAtoms(); m != 18 {
		t.Fatalf("MaxAtoms() = %d with 24 MiB, want 18 (56 B per amplitude in 3/4 of the budget)", m)
	}
	_, err = Run(context.Background(), Request{Sequence: build("MockDevice", atoms[:19], nil, pulseOp(constWF(100, 1), constWF(100, 0), 0)), Runs: 1}, nil)
	inputError(t, err, "$.register", "the register has 19 atoms; this engine simulates at most 18 (a state of 19 atoms needs 28.0 MiB, more than 3/4 of this runner's memory budget of 24.0 MiB (its memory limit; without one, TWEEZER_MEMORY_LIMIT or 2048.0 MiB)")
}

func TestCancelStopsPromptly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Request{Sequence: ringSequence(16), Runs: 1}, func(p int) {
			if p >= 1 {
				select {
				case started <- struct{}{}:
				default:
				}
			}
		})
		done <- err
	}()
	<-started
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not stop after cancel")
	}
}

// A missing atom does not blockade its neighbour: with state-preparation
// errors, shots where one atom of a blockaded pair is missing follow the
// single-atom Rabi oscillation of the other.
func TestStatePrepErrorsRemoveAtoms(t *testing.T) {
	omega := 2 * math.Pi
	dur := int(math.Round(math.Pi / (math.Sqrt2 * omega) * 1000))
	seq := build("MockDevice", [][2]float64{{0, 0}, {3, 0}}, nil,
		pulseOp(constWF(dur, omega), constWF(dur, 0), 0))
	sim, err := simulate(context.Background(), Request{Sequence: seq}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sim.noise = &sequence.Noise{StatePrepError: 0.5}
	const runs = 20000
	res, err := sim.sample(context.Background(), runs, newRNG(5))
	if err != nil {
		t.Fatal(err)
	}
	single := math.Pow(math.Sin(omega*float64(dur)/1000/2), 2)
	blockaded := math.Pow(math.Sin(math.Sqrt2*omega*float64(dur)/1000/2), 2) / 2
	want := 0.25*blockaded + 0.25*single
	got := float64(res.Counter["01"]) / runs
	if sd := math.Sqrt(want * (1 - want) / runs); math.Abs(got-want) > 5*sd {
		t.Errorf("P(01) = %.4f, want %.4f", got, want)
	}
	if res.Counter["11"] > runs/200 {
		t.Errorf("blockade broken: %d shots of 11", res.Counter["11"])
	}
}
