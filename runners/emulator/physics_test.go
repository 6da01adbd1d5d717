package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"testing"
)

// build returns an abstract-repr sequence on a device with atoms at the
// given 2D positions, a global channel "g", and the given operations.
func build(device string, atoms [][2]float64, vars map[string]any, ops ...map[string]any) []byte {
	reg := make([]map[string]any, len(atoms))
	for i, a := range atoms {
		reg[i] = map[string]any{"name": fmt.Sprintf("q%d", i), "x": a[0], "y": a[1]}
	}
	if vars == nil {
		vars = map[string]any{}
	}
	b, _ := json.Marshal(map[string]any{
		"version": "1", "name": "test", "device": device, "register": reg,
		"channels": map[string]string{"g": "rydberg_global"}, "variables": vars,
		"operations": ops, "measurement": "ground-rydberg",
	})
	return b
}

func pulseOp(amp, det any, phase any) map[string]any {
	return map[string]any{"op": "pulse", "channel": "g", "protocol": "min-delay",
		"amplitude": amp, "detuning": det, "phase": phase, "post_phase_shift": 0.0}
}

func constWF(d any, v any) map[string]any {
	return map[string]any{"kind": "constant", "duration": d, "value": v}
}

func probs(t *testing.T, seq []byte, vars string) map[string]float64 {
	t.Helper()
	req := Request{Sequence: seq, DeviceType: "EMU_FREE"}
	if vars != "" {
		req.Variables = json.RawMessage(vars)
	}
	p, err := Probabilities(context.Background(), req, 0)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Rabi formula: P(r) = Ω²/(Ω²+δ²)·sin²(√(Ω²+δ²)·t/2), for any phase.
func TestRabiWithDetuningAndPhase(t *testing.T) {
	for _, c := range []struct{ omega, delta, phase float64 }{
		{2 * math.Pi, 0, 0}, {2 * math.Pi * 1.3, 2 * math.Pi * 0.7, 0.4}, {5, -3.2, 2.9},
	} {
		for _, dur := range []int{100, 372, 1000} {
			seq := build("MockDevice", [][2]float64{{0, 0}}, nil,
				pulseOp(constWF(dur, c.omega), constWF(dur, c.delta), c.phase))
			w := math.Hypot(c.omega, c.delta)
			want := c.omega * c.omega / (w * w) * math.Pow(math.Sin(w*float64(dur)/1000/2), 2)
			if got := probs(t, seq, "")["1"]; math.Abs(got-want) > 1e-6 {
				t.Errorf("Ω=%g δ=%g φ=%g t=%d: P(r)=%.8f, want %.8f", c.omega, c.delta, c.phase, dur, got, want)
			}
		}
	}
}

// The phase sets the rotation axis: a π/2 pulse followed by a π/2 pulse
// with phase φ leaves P(r) = (1+cos φ)/2.
func TestPhaseSetsRotationAxis(t *testing.T) {
	omega := 2 * math.Pi
	dur := 250 // π/2
	for _, phi := range []float64{0, math.Pi / 3, math.Pi / 2, math.Pi} {
		seq := build("MockDevice", [][2]float64{{0, 0}}, nil,
			pulseOp(constWF(dur, omega), constWF(dur, 0), 0),
			pulseOp(constWF(dur, omega), constWF(dur, 0), phi))
		want := (1 + math.Cos(phi)) / 2
		if got := probs(t, seq, "")["1"]; math.Abs(got-want) > 1e-6 {
			t.Errorf("φ=%g: P(r)=%.6f, want %.6f", phi, got, want)
		}
	}
}

// A Blackman pulse of area π then one of area π/2 leaves P(r) = 0.5.
func TestBlackmanPiThenHalfPi(t *testing.T) {
	bk := func(d int, area float64) map[string]any {
		return map[string]any{"kind": "blackman", "duration": d, "area": area}
	}
	seq := build("AnalogDevice", [][2]float64{{0, 0}}, nil,
		pulseOp(bk(700, math.Pi), constWF(0, 0), 0),
		pulseOp(bk(350, math.Pi/2), constWF(0, 0), 0))
	if got := probs(t, seq, "")["1"]; math.Abs(got-0.5) > 1e-6 {
		t.Errorf("P(r)=%.8f, want 0.5", got)
	}
}

// Two atoms deep in blockade oscillate between |gg⟩ and the symmetric
// single excitation at √2·Ω; |rr⟩ stays empty.
func TestBlockadePair(t *testing.T) {
	omega := 2 * math.Pi
	for _, dur := range []int{120, 250, 400} {
		seq := build("MockDevice", [][2]float64{{0, 0}, {3, 0}}, nil,
			pulseOp(constWF(dur, omega), constWF(dur, 0), 0))
		p := probs(t, seq, "")
		want := math.Pow(math.Sin(math.Sqrt2*omega*float64(dur)/1000/2), 2)
		if math.Abs(p["01"]+p["10"]-want) > 1e-3 || math.Abs(p["01"]-p["10"]) > 1e-9 || p["11"] > 1e-3 {
			t.Errorf("t=%d: %v, want P(single)=%.5f", dur, p, want)
		}
	}
	// Far apart the atoms are independent: P(rr) = P(r)².
	seq := build("MockDevice", [][2]float64{{0, 0}, {80, 0}}, nil,
		pulseOp(constWF(300, omega), constWF(300, 0), 0))
	p := probs(t, seq, "")
	single := math.Pow(math.Sin(omega*0.3/2), 2)
	if math.Abs(p["11"]-single*single) > 1e-6 {
		t.Errorf("independent atoms: P(11)=%.6f, want %.6f", p["11"], single*single)
	}
}

// The same parametrized sequence gives the Rabi result of each variable set.
func TestParametrizedTwoVariableSets(t *testing.T) {
	vars := map[string]any{
		"t":     map[string]any{"type": "int", "value": []int{0}},
		"omega": map[string]any{"type": "float", "value": []float64{0}},
	}
	seq := build("MockDevice", [][2]float64{{0, 0}}, vars,
		pulseOp(constWF(map[string]any{"variable": "t"}, map[string]any{"variable": "omega"}),
			constWF(map[string]any{"variable": "t"}, 0), 0))
	for _, c := range []struct {
		vars string
		want float64
	}{
		{`{"t": 250, "omega": 6.283185307179586}`, 0.5},
		{`{"t": 500.9, "omega": [6.283185307179586], "unused": 3}`, 1},
	} {
		if got := probs(t, seq, c.vars)["1"]; math.Abs(got-c.want) > 1e-6 {
			t.Errorf("%s: P(r)=%.6f, want %g", c.vars, got, c.want)
		}
	}
}

// A ring of 6 atoms swept adiabatically on AnalogDevice ends near 50/50
// between the two antiferromagnetic patterns.
func TestAdiabaticRingEndsAntiferromagnetic(t *testing.T) {
	p := probs(t, ringSequence(6), "")
	a, b := p["101010"], p["010101"]
	if a+b < 0.5 || math.Abs(a-b) > 1e-6 {
		t.Errorf("AF patterns: %.3f and %.3f", a, b)
	}
}
