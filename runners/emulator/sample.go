package emulator

import (
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
)

func newRNG(seed int64) *rand.Rand {
	s := uint64(seed)
	if seed == 0 {
		var b [8]byte
		_, _ = crand.Read(b[:])
		s = binary.LittleEndian.Uint64(b[:])
	}
	return rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))
}

func bitstring(s, n int) string {
	b := strconv.FormatUint(uint64(s), 2)
	if len(b) < n {
		b = strings.Repeat("0", n-len(b)) + b
	}
	return b
}

// probabilities lists |ψ_s|² ≥ minP by bitstring.
func (sim *simulation) probabilities(minP float64) map[string]float64 {
	out := map[string]float64{}
	n := sim.evo.h.n
	for s, a := range sim.evo.psi {
		if p := real(a)*real(a) + imag(a)*imag(a); p >= minP {
			out[bitstring(s, n)] = p
		}
	}
	return out
}

// sample draws runs shots from the final state: sorted uniforms are
// matched against the running cumulative probability in one pass, so no
// extra state-sized buffer is needed. With a noise model, each shot then
// gets state-preparation and measurement errors.
func (sim *simulation) sample(runs int, rng *rand.Rand) *Result {
	psi := sim.evo.psi
	total := 0.0
	for _, a := range psi {
		total += real(a)*real(a) + imag(a)*imag(a)
	}
	u := make([]float64, runs)
	order := make([]int, runs)
	for i := range u {
		u[i] = rng.Float64() * total
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return u[order[a]] < u[order[b]] })
	states := make([]int, runs)
	cum, s := 0.0, 0
	for _, i := range order {
		for s < len(psi)-1 {
			a := psi[s]
			if p := real(a)*real(a) + imag(a)*imag(a); cum+p > u[i] {
				break
			} else {
				cum += p
			}
			s++
		}
		states[i] = s
	}
	n := sim.evo.h.n
	res := &Result{Counter: map[string]int64{}, Raw: make([]string, runs)}
	for i, st := range states {
		if sim.noise != nil {
			st = applySPAM(st, n, sim.noise.StatePrepError, sim.noise.FalsePositive, sim.noise.FalseNegative, rng)
		}
		b := bitstring(st, n)
		res.Raw[i] = b
		res.Counter[b]++
	}
	return res
}

// applySPAM applies state-preparation errors (an atom missing from the
// trap is never excited: it reads as ground before measurement errors) and
// measurement errors (false positive 0→1 with eps, false negative 1→0 with
// epsPrime) to one shot.
//
// The other atoms keep the outcome drawn from the ideal evolution; unlike
// Pulser, the evolution is not re-run without the missing atoms.
func applySPAM(s, n int, eta, eps, epsPrime float64, rng *rand.Rand) int {
	for b := 0; b < n; b++ {
		m := 1 << b
		if eta > 0 && rng.Float64() < eta {
			s &^= m
		}
		if s&m == 0 {
			if eps > 0 && rng.Float64() < eps {
				s |= m
			}
		} else if epsPrime > 0 && rng.Float64() < epsPrime {
			s &^= m
		}
	}
	return s
}
