package emulator

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"

	"github.com/tweezer-dev/tweezer/runners/shots"
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

// draw samples count basis states from psi: sorted uniforms are matched
// against the running cumulative probability in one pass, so no extra
// state-sized buffer is needed; the draws come back in random order.
func draw(psi []complex128, count int, rng *rand.Rand) []int {
	total := 0.0
	for _, a := range psi {
		total += real(a)*real(a) + imag(a)*imag(a)
	}
	u := make([]float64, count)
	order := make([]int, count)
	for i := range u {
		u[i] = rng.Float64() * total
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return u[order[a]] < u[order[b]] })
	states := make([]int, count)
	cum, s := 0.0, 0
	for _, i := range order {
		for s < len(psi)-1 {
			a := psi[s]
			p := real(a)*real(a) + imag(a)*imag(a)
			if cum+p > u[i] {
				break
			}
			cum += p
			s++
		}
		states[i] = s
	}
	return states
}

// maxResimulations bounds how many extra evolutions state-preparation
// errors may trigger per job, and resimulateMaxAtoms the register size up
// to which they are run.
const (
	maxResimulations   = 4
	resimulateMaxAtoms = 14
)

// sample draws runs shots. With a noise model, each shot first loses each
// atom with the state-preparation error: a missing atom is never excited and
// does not interact, so for the most frequent sets of missing atoms the
// evolution is re-run with their drive removed (up to maxResimulations
// extra runs on registers of at most resimulateMaxAtoms atoms; other shots
// are drawn from the full evolution with the missing atoms read as ground).
// Then measurement flips 0→1 with the false-positive and 1→0 with the
// false-negative probability.
func (sim *simulation) sample(ctx context.Context, runs int, rng *rand.Rand) (*Result, error) {
	n := sim.evo.h.n
	states := make([]int, runs)
	if sim.noise == nil || sim.noise.StatePrepError == 0 {
		copy(states, draw(sim.evo.psi, runs, rng))
	} else {
		groups := map[int][]int{}
		for i := 0; i < runs; i++ {
			mask := 0
			for b := 0; b < n; b++ {
				if rng.Float64() < sim.noise.StatePrepError {
					mask |= 1 << b
				}
			}
			groups[mask] = append(groups[mask], i)
		}
		masks := make([]int, 0, len(groups))
		for m := range groups {
			masks = append(masks, m)
		}
		sort.Slice(masks, func(a, b int) bool {
			la, lb := len(groups[masks[a]]), len(groups[masks[b]])
			return la > lb || (la == lb && masks[a] < masks[b])
		})
		resims := 0
		for _, mask := range masks {
			psi := sim.evo.psi
			if mask != 0 && resims < maxResimulations && n <= resimulateMaxAtoms {
				evo, err := sim.withoutAtoms(ctx, mask)
				if err != nil {
					return nil, err
				}
				psi = evo.psi
				resims++
			}
			idx := groups[mask]
			for k, s := range draw(psi, len(idx), rng) {
				states[idx[k]] = s &^ mask
			}
		}
	}
	res := &Result{Counter: map[string]int64{}, Raw: make([]string, runs)}
	for i, st := range states {
		if sim.noise != nil {
			st = measurementErrors(st, n, sim.noise.FalsePositive, sim.noise.FalseNegative, rng)
		}
		b := bitstring(st, n)
		res.Raw[i] = b
		res.Counter[b]++
	}
	return res, nil
}

// withoutAtoms re-runs the evolution with the atoms of mask (bit positions)
// undriven, i.e. absent.
func (sim *simulation) withoutAtoms(ctx context.Context, mask int) (*evolution, error) {
	p := *sim.prog
	p.Drive = append([][]complex128(nil), p.Drive...)
	n := len(p.QubitIDs)
	for a := 0; a < n; a++ {
		if mask&(1<<bitOf(n, a)) != 0 {
			p.Drive[a] = make([]complex128, p.Duration)
		}
	}
	evo := newEvolutionWith(&p, newHamiltonian(&p, nil), sim.evo.magnusTol, sim.evo.single)
	return evo, evo.run(ctx, nil)
}

// measurementErrors flips each bit of a shot: 0→1 with eps (false
// positive), 1→0 with epsPrime (false negative).
func measurementErrors(s, n int, eps, epsPrime float64, rng *rand.Rand) int {
	for b := 0; b < n; b++ {
		if m := 1 << b; shots.Readout(s&m != 0, eps, epsPrime, rng) {
			s |= m
		} else {
			s &^= m
		}
	}
	return s
}
