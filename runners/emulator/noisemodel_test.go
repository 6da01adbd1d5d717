package emulator

import (
	"context"
	"encoding/json"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// A noise model as Pulser 1.9's NoiseModel.to_abstract_repr writes it.
const pulserNoiseJSON = `{"noise_types": ["SPAM", "dephasing", "doppler", "eff_noise"], "runs": null,
 "samples_per_run": null, "state_prep_error": 0.01, "p_false_pos": 0.02, "p_false_neg": 0.03,
 "temperature": 50.0, "laser_waist": null, "amp_sigma": 0.0, "relaxation_rate": 0.0,
 "dephasing_rate": 0.2, "hyperfine_dephasing_rate": 0.0, "depolarizing_rate": 0.0,
 "eff_noise": [[0.5, [[0.0, {"real": 0.0, "imag": 1.0}], [1.0, 0.0]]]], "pulser_version": "1.9.0"}`

func TestNoiseModelReadsPulserRepr(t *testing.T) {
	var nm NoiseModel
	if err := json.Unmarshal([]byte(pulserNoiseJSON), &nm); err != nil {
		t.Fatal(err)
	}
	if err := nm.Validate(); err != nil {
		t.Fatal(err)
	}
	if !nm.Has(NoiseSPAM) || nm.Has(NoiseRelaxation) || nm.PFalseNeg != 0.03 || nm.Temperature != 50 || nm.LaserWaist != nil {
		t.Errorf("parsed %+v", nm)
	}
	want := []EffNoise{{Rate: 0.5, Operator: [][]complex128{{0, 1i}, {1, 0}}}}
	if !reflect.DeepEqual(nm.EffNoise, want) {
		t.Errorf("eff_noise = %v, want %v", nm.EffNoise, want)
	}
	// It writes back what it read.
	b, err := json.Marshal(nm)
	if err != nil {
		t.Fatal(err)
	}
	var again NoiseModel
	if err := json.Unmarshal(b, &again); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(nm, again) {
		t.Errorf("round trip changed the model:\n%+v\n%+v", nm, again)
	}
}

func TestNoiseModelValidateNamesTheField(t *testing.T) {
	f := 1.0
	neg := -2.0
	cases := []struct {
		name string
		nm   NoiseModel
		path string
	}{
		{"unknown type", NoiseModel{NoiseTypes: []string{"cosmic"}}, "noise_model.noise_types[0]"},
		{"probability", NoiseModel{NoiseTypes: []string{"SPAM"}, PFalsePos: 1.5}, "noise_model.p_false_pos"},
		{"negative rate", NoiseModel{NoiseTypes: []string{"dephasing"}, DephasingRate: -1}, "noise_model.dephasing_rate"},
		{"type not listed", NoiseModel{RelaxationRate: 0.1}, "noise_model.relaxation_rate"},
		{"listed without parameter", NoiseModel{NoiseTypes: []string{"depolarizing"}}, "noise_model.noise_types[0]"},
		{"laser waist", NoiseModel{NoiseTypes: []string{"amplitude"}, LaserWaist: &neg}, "noise_model.laser_waist"},
		{"fractional runs", NoiseModel{Runs: func() *float64 { x := 1.5; return &x }()}, "noise_model.runs"},
		{"operator shape", NoiseModel{NoiseTypes: []string{"eff_noise"}, EffNoise: []EffNoise{{Rate: 1, Operator: [][]complex128{{1, 0, 0}}}}}, "noise_model.eff_noise[0]"},
		{"register needs depth", NoiseModel{NoiseTypes: []string{"register"}, TrapWaist: 1, Temperature: 10}, "noise_model.trap_waist"},
		{"temperature alone", NoiseModel{Temperature: 10}, "noise_model.temperature"},
		{"hf pairs", NoiseModel{NoiseTypes: []string{"detuning"}, DetuningHF: [][2]float64{{1, 2}}}, "noise_model.detuning_hf"},
		{"leakage without eff_noise", NoiseModel{NoiseTypes: []string{"leakage", "dephasing"}, DephasingRate: 1, TrapDepth: nil, Runs: &f}, "noise_model.noise_types"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.nm.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			var ie *InputError
			if !asInputError(err, &ie) || ie.Path != c.path {
				t.Errorf("got %v, want path %s", err, c.path)
			}
		})
	}
}

func asInputError(err error, out **InputError) bool {
	ie, ok := err.(*InputError)
	*out = ie
	return ok
}

// noisyRabi is three atoms under a detuned global Rabi pulse.
func noisyRabi() []byte {
	return build("MockDevice", [][2]float64{{0, 0}, {8, 0}, {16, 0}}, nil,
		pulseOp(constWF(800, 2*math.Pi), constWF(800, 1.0), 0))
}

// Trajectories are reproducible for a seed whatever the number of cores,
// and differ between seeds.
func TestNoisyRunReproducibleAcrossCores(t *testing.T) {
	nm := &NoiseModel{NoiseTypes: []string{"SPAM", "dephasing", "doppler", "relaxation"},
		StatePrepError: 0.05, PFalsePos: 0.02, PFalseNeg: 0.05, DephasingRate: 0.5, RelaxationRate: 0.3, Temperature: 50}
	run := func(procs int, seed int64) *Result {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		res, err := Run(context.Background(), Request{Sequence: noisyRabi(), Runs: 500, Seed: seed, Noise: nm, NTrajectories: 40}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b := run(1, 5), run(2, 5)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("GOMAXPROCS 1 and 2 differ:\n%v\n%v", a.Counter, b.Counter)
	}
	if c := run(2, 6); reflect.DeepEqual(a.Counter, c.Counter) {
		t.Error("seeds 5 and 6 gave the same counts")
	}
	if len(a.Raw) != 500 {
		t.Errorf("%d shots, want 500", len(a.Raw))
	}
}

// Relaxation alone from an all-Rydberg start with no drive decays each
// atom as exp(-γt): the trajectory average must follow it.
func TestRelaxationDecaysExponentially(t *testing.T) {
	seq := build("MockDevice", [][2]float64{{0, 0}, {50, 0}}, nil, pulseOp(constWF(2000, 0), constWF(2000, 0), 0))
	init := make([]complex128, 4)
	init[3] = 1
	nm := &NoiseModel{NoiseTypes: []string{"relaxation"}, RelaxationRate: 0.5}
	occ, sem, _, _ := trajectoryStats(t, Request{Sequence: seq, Runs: 1, Seed: 3, Noise: nm, NTrajectories: 600, InitialState: init}, 2000)
	want := math.Exp(-0.5 * 2)
	for a := range occ {
		if math.Abs(occ[a]-want) > 3*sem[a]+1e-3 {
			t.Errorf("atom %d occupation %.4f ± %.4f, want %.4f", a, occ[a], sem[a], want)
		}
	}
}

// A model with no noise type gives the noiseless distribution.
func TestEmptyNoiseModelIsNoiseless(t *testing.T) {
	var got []complex128
	req := Request{Sequence: noisyRabi(), Runs: 10, Seed: 1, Noise: &NoiseModel{}, NTrajectories: 5,
		EvalTimes: []int{800}, Observe: func(s *Snapshot) error {
			if s.Weight != 5 || s.Groups != 1 {
				t.Errorf("snapshot weight %d of %d groups, want one group of 5", s.Weight, s.Groups)
			}
			got = append([]complex128(nil), s.Psi...)
			return nil
		}}
	if _, err := Run(context.Background(), req, nil); err != nil {
		t.Fatal(err)
	}
	want, err := Probabilities(context.Background(), Request{Sequence: noisyRabi()}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for s, a := range got {
		p := real(a)*real(a) + imag(a)*imag(a)
		if math.Abs(p-want[bitstring(s, 3)]) > 1e-8 {
			t.Errorf("p(%s) = %g, want %g", bitstring(s, 3), p, want[bitstring(s, 3)])
		}
	}
}

func TestNoisyInputErrors(t *testing.T) {
	eff := []EffNoise{{Rate: 1, Operator: [][]complex128{{0, 1, 0}, {0, 0, 0}, {0, 0, 0}}}}
	cases := []struct {
		name string
		req  Request
		path string
		msg  string
	}{
		{"leakage", Request{Noise: &NoiseModel{NoiseTypes: []string{"leakage", "eff_noise"}, EffNoise: eff}}, "noise_model.noise_types", "not supported"},
		{"invalid model", Request{Noise: &NoiseModel{NoiseTypes: []string{"SPAM"}, PFalseNeg: -1}}, "noise_model.p_false_neg", "greater than or equal to zero"},
		{"eval time", Request{Noise: &NoiseModel{}, EvalTimes: []int{900}, Observe: func(*Snapshot) error { return nil }}, "evaluation_times", "within [0, 800]"},
		{"initial state size", Request{InitialState: make([]complex128, 4)}, "initial_state", "needs 8 amplitudes"},
		{"prep error and initial state", Request{Noise: &NoiseModel{NoiseTypes: []string{"SPAM"}, StatePrepError: 0.1},
			InitialState: []complex128{0, 1, 0, 0, 0, 0, 0, 0}}, "noise_model.state_prep_error", "all-ground"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.req.Sequence, c.req.Runs = noisyRabi(), 10
			_, err := Run(context.Background(), c.req, nil)
			inputError(t, err, c.path, c.msg)
		})
	}
}

// prefer_device_noise_model on EMU_FRESNEL takes Fresnel's SPAM figures:
// an undriven register reads 1s at the false-positive rate.
func TestPreferDeviceNoiseModelFresnel(t *testing.T) {
	ground := build("AnalogDevice", [][2]float64{{0, 0}, {30, 0}, {0, 30}}, nil, pulseOp(constWF(1000, 0), constWF(1000, 0), 0))
	const runs = 20000
	res, err := Run(context.Background(), Request{Sequence: ground, Runs: runs, Seed: 9, DeviceType: "EMU_FRESNEL",
		PreferDeviceNoiseModel: true, Noise: &NoiseModel{}, NTrajectories: 40}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ones := 0
	for _, s := range res.Raw {
		ones += strings.Count(s, "1")
	}
	f := float64(ones) / (runs * 3)
	if sd := math.Sqrt(0.025 / (runs * 3)); math.Abs(f-0.025) > 5*sd {
		t.Errorf("false positives %.4f, want 0.025", f)
	}
	// Without the preference the (empty) model of the request applies.
	res, err = Run(context.Background(), Request{Sequence: ground, Runs: 100, Seed: 9, DeviceType: "EMU_FRESNEL", Noise: &NoiseModel{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Counter["000"] != 100 {
		t.Errorf("empty noise model on EMU_FRESNEL: %v, want all 000", res.Counter)
	}
}

// gaussianAverage is E[f(X)], X ~ N(0, σ²), by the trapezoid rule over ±8σ.
func gaussianAverage(sigma float64, f func(x float64) float64) float64 {
	const steps = 4000
	h := 16 * sigma / steps
	sum := 0.0
	for i := 0; i <= steps; i++ {
		x := -8*sigma + float64(i)*h
		w := h
		if i == 0 || i == steps {
			w /= 2
		}
		sum += w * math.Exp(-x*x/(2*sigma*sigma)) * f(x)
	}
	return sum / (sigma * math.Sqrt(2*math.Pi))
}

// rabiP is the Rydberg probability of one atom after t µs of constant Ω
// and detuning δ.
func rabiP(omega, delta, t float64) float64 {
	w := math.Hypot(omega, delta)
	if w == 0 {
		return 0
	}
	s := math.Sin(w * t / 2)
	return omega * omega / (w * w) * s * s
}

// Doppler noise shifts each atom's detuning by N(0, k_eff·√(k_B·T/m)) per
// trajectory: one atom's average must match the Gaussian average of the
// Rabi formula.
func TestDopplerMatchesGaussianAverage(t *testing.T) {
	const omega, delta, dur = 2 * math.Pi, 1.0, 1000
	seq := build("MockDevice", [][2]float64{{0, 0}}, nil, pulseOp(constWF(dur, omega), constWF(dur, delta), 0))
	nm := &NoiseModel{NoiseTypes: []string{"doppler"}, Temperature: 80}
	occ, sem, _, _ := trajectoryStats(t, Request{Sequence: seq, Runs: 1, Seed: 4, Noise: nm, NTrajectories: 1500}, dur)
	sigma := kEff * math.Sqrt(kBoltzmann*80e-6/atomMass)
	want := gaussianAverage(sigma, func(x float64) float64 { return rabiP(omega, delta+x, 1) })
	noiseless := rabiP(omega, delta, 1)
	if math.Abs(occ[0]-want) > 3*sem[0]+1e-3 {
		t.Errorf("occupation %.4f ± %.4f, want %.4f (noiseless %.4f)", occ[0], sem[0], want, noiseless)
	}
	if math.Abs(want-noiseless) < 10*sem[0] {
		t.Fatalf("test too weak: doppler moves the occupation by %.4f only", want-noiseless)
	}
}

// Amplitude noise scales a global channel's Ω by exp(-(d/w)²), d the
// distance to the beam axis (y), and by max(0, 1+amp_sigma·N(0,1)) per
// trajectory and channel.
func TestAmplitudeMatchesGaussianAverage(t *testing.T) {
	const omega, dur, waist, ampSigma = 2 * math.Pi, 1000, 12.0, 0.15
	x, y := 8.0, 30.0 // y lies along the beam: no loss from it
	seq := build("MockDevice", [][2]float64{{x, y}}, nil, pulseOp(constWF(dur, omega), constWF(dur, 0), 0))
	w := waist
	nm := &NoiseModel{NoiseTypes: []string{"amplitude"}, LaserWaist: &w, AmpSigma: ampSigma}
	occ, sem, _, _ := trajectoryStats(t, Request{Sequence: seq, Runs: 1, Seed: 4, Noise: nm, NTrajectories: 1500}, dur)
	frac := math.Exp(-(x / waist) * (x / waist))
	want := gaussianAverage(ampSigma, func(z float64) float64 { return rabiP(omega*frac*math.Max(0, 1+z), 0, 1) })
	if math.Abs(occ[0]-want) > 3*sem[0]+1e-3 || math.IsNaN(want) {
		t.Errorf("occupation %.4f ± %.4f, want %.4f", occ[0], sem[0], want)
	}
}
