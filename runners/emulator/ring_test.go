package emulator

import (
	"encoding/json"
	"fmt"
	"math"
)

// ringSequence is the 3 µs adiabatic sweep on a ring of n atoms (5.5 µm
// apart) used by the golden ring files and the benchmark: Ω ramps up to
// 2π·1.2 rad/µs in 252 ns, δ sweeps from -2π·3 to 2π·3 over 2500 ns, Ω ramps
// down in 248 ns. It mirrors adiabatic_ring() in
// hack/pulser-reference/make_goldens.py.
func ringSequence(n int) []byte {
	const spacing = 5.5
	radius := spacing / (2 * math.Sin(math.Pi/float64(n)))
	reg := make([]map[string]any, n)
	for i := range reg {
		th := 2 * math.Pi * float64(i) / float64(n)
		reg[i] = map[string]any{"name": fmt.Sprintf("q%d", i), "x": radius * math.Cos(th), "y": radius * math.Sin(th)}
	}
	omega, d0, d1 := 2*math.Pi*1.2, -2*math.Pi*3, 2*math.Pi*3
	pulse := func(amp, det map[string]any) map[string]any {
		return map[string]any{"op": "pulse", "channel": "ising", "protocol": "min-delay",
			"phase": 0.0, "post_phase_shift": 0.0, "amplitude": amp, "detuning": det}
	}
	ramp := func(d int, a, b float64) map[string]any {
		return map[string]any{"kind": "ramp", "duration": d, "start": a, "stop": b}
	}
	constant := func(d int, v float64) map[string]any {
		return map[string]any{"kind": "constant", "duration": d, "value": v}
	}
	seq := map[string]any{
		"version":     "1",
		"name":        "ring",
		"device":      "AnalogDevice",
		"register":    reg,
		"channels":    map[string]string{"ising": "rydberg_global"},
		"variables":   map[string]any{},
		"measurement": "ground-rydberg",
		"operations": []any{
			pulse(ramp(252, 0, omega), constant(252, d0)),
			pulse(constant(2500, omega), ramp(2500, d0, d1)),
			pulse(ramp(248, omega, 0), constant(248, d1)),
		},
	}
	b, err := json.Marshal(seq)
	if err != nil {
		panic(err)
	}
	return b
}
