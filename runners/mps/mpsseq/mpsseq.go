// Package mpsseq builds the abstract-repr sequences the MPS engine is
// tested and benchmarked on: emu-mps's adiabatic antiferromagnetic
// preparation (the sequence of its benchmarks, from Pulser's AFM tutorial)
// and a quench, on chains and rectangular grids.
package mpsseq

import (
	"encoding/json"
	"fmt"
	"math"
)

// C6 of MockDevice (Rydberg level 70), rad/µs·µm⁶.
const c6 = 5420158.53

// AFM parameters: Ω_max = 2π·2 rad/µs, U = Ω_max/2, δ from -6U to 2U.
var (
	omegaMax = 2 * 2 * math.Pi
	u        = omegaMax / 2
	delta0   = -6 * u
	deltaF   = 2 * u
)

// AFMSpacing is the atom spacing of the AFM sequence: the blockade
// radius at U, (C6/U)^(1/6) µm.
func AFMSpacing() float64 { return math.Pow(c6/u, 1.0/6) }

// Rectangle returns rows×cols atoms spaced by spacing (µm), row by row.
func Rectangle(rows, cols int, spacing float64) [][2]float64 {
	out := make([][2]float64, 0, rows*cols)
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			out = append(out, [2]float64{float64(c) * spacing, float64(r) * spacing})
		}
	}
	return out
}

// AFM is the adiabatic sequence on a rows×cols rectangle at AFMSpacing:
// Ω rises to Ω_max in 500 ns at δ₀, δ sweeps to δ_f in 2400 ns at Ω_max,
// Ω falls in 1000 ns at δ_f (3.9 µs in all).
func AFM(rows, cols int) []byte {
	sweep := int(math.Round((deltaF - delta0) / (2 * math.Pi * 10) * 3000))
	return Sequence(Rectangle(rows, cols, AFMSpacing()),
		Pulse(Ramp(500, 0, omegaMax), Constant(500, delta0)),
		Pulse(Constant(sweep, omegaMax), Ramp(sweep, delta0, deltaF)),
		Pulse(Ramp(1000, omegaMax, 0), Constant(1000, deltaF)))
}

// Quench drives atoms at spacing (µm) on a rows×cols rectangle with
// Ω = 2π·1.5 rad/µs and δ = 0 for dur ns.
func Quench(rows, cols int, spacing float64, dur int) []byte {
	return Sequence(Rectangle(rows, cols, spacing), Pulse(Constant(dur, 2*math.Pi*1.5), Constant(dur, 0)))
}

// Sequence is an abstract-repr sequence on MockDevice with a global
// Rydberg channel "ising" and the given operations.
func Sequence(atoms [][2]float64, ops ...map[string]any) []byte {
	reg := make([]map[string]any, len(atoms))
	for i, a := range atoms {
		reg[i] = map[string]any{"name": fmt.Sprintf("q%d", i), "x": a[0], "y": a[1]}
	}
	b, err := json.Marshal(map[string]any{
		"version": "1", "name": "mps", "device": "MockDevice", "register": reg,
		"channels": map[string]string{"ising": "rydberg_global"}, "variables": map[string]any{},
		"operations": ops, "measurement": "ground-rydberg",
	})
	if err != nil {
		panic(err)
	}
	return b
}

// Pulse is a pulse on the global channel with phase 0.
func Pulse(amp, det map[string]any) map[string]any {
	return map[string]any{"op": "pulse", "channel": "ising", "protocol": "min-delay",
		"amplitude": amp, "detuning": det, "phase": 0.0, "post_phase_shift": 0.0}
}

// Constant is a constant waveform.
func Constant(d int, v float64) map[string]any {
	return map[string]any{"kind": "constant", "duration": d, "value": v}
}

// Ramp is a linear ramp waveform.
func Ramp(d int, a, b float64) map[string]any {
	return map[string]any{"kind": "ramp", "duration": d, "start": a, "stop": b}
}
