package mps

import (
	"context"
	"math"
	"testing"
)

// runEnergies evolves seq under cfg and returns ⟨H⟩ and ⟨ψ|ψ⟩ at every
// multiple of every ns up to the end, and the run's statistics.
func runEnergies(t *testing.T, seq []byte, cfg Config, every int) (e, norm []float64, stats *Stats, st *State) {
	t.Helper()
	prog := compile(t, seq)
	for ns := every; ns <= prog.Duration; ns += every {
		cfg.EvalTimes = append(cfg.EvalTimes, ns)
	}
	cfg.Observe = func(_ int, s *State) {
		m, _, err := s.Energy()
		if err != nil {
			t.Fatal(err)
		}
		e = append(e, m)
		norm = append(norm, s.Norm())
	}
	st, stats, err := Run(context.Background(), prog, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e, norm, stats, st
}

// Under a constant Hamiltonian with χ capped at 4 on 8 atoms, one-site
// TDVP (after the bonds saturate) conserves ⟨H⟩ and the norm to the
// Krylov tolerance; two-site TDVP, which truncates every step, lets ⟨H⟩
// drift by orders of magnitude more.
func TestOneSiteConservesEnergyAndNorm(t *testing.T) {
	seq := quench(chain(8, 6), 1000)
	drift := func(oneSite bool) float64 {
		e, norm, stats, _ := runEnergies(t, seq, Config{MaxBondDim: 4, OneSiteAfterSaturation: oneSite}, 20)
		first := -1
		for k, s := range stats.Steps {
			if s.OneSite {
				first = k
				break
			}
		}
		if oneSite && (first < 0 || stats.OneSiteSteps != len(stats.Steps)-first) {
			t.Fatalf("one-site steps from %d, %d of %d: the switch should happen once the bonds saturate and stay", first, stats.OneSiteSteps, len(stats.Steps))
		}
		if !oneSite && stats.OneSiteSteps != 0 {
			t.Fatalf("%d one-site steps without the option", stats.OneSiteSteps)
		}
		// Energies from 100 ns on (evaluation 4), after the switch.
		const from = 4
		if oneSite && stats.Steps[first].End > 100 {
			t.Fatalf("the bonds saturated only at %d ns", stats.Steps[first].End)
		}
		d := 0.0
		for k := from; k < len(e); k++ {
			d = math.Max(d, math.Abs(e[k]-e[from]))
			if math.Abs(norm[k]-1) > 1e-10 {
				t.Errorf("one-site %v: norm %.12f at evaluation %d", oneSite, norm[k], k)
			}
		}
		t.Logf("one-site %v: %d one-site steps of %d, ⟨H⟩ drift %.3g over %d evaluations, discarded %.3g", oneSite, stats.OneSiteSteps, len(stats.Steps), d, len(e)-from, stats.Discarded)
		return d
	}
	one, two := drift(true), drift(false)
	if one > 1e-6 {
		t.Errorf("one-site TDVP: ⟨H⟩ drifts by %.3g, want ≤ 1e-6", one)
	}
	if two < 100*one {
		t.Errorf("two-site drift %.3g vs one-site %.3g: the comparison no longer shows what one-site TDVP buys", two, one)
	}
}

// With the bonds at their exact Schmidt ranks (no truncation), one-site
// steps are as exact as two-site ones: against the state vector.
func TestOneSiteMatchesStateVector(t *testing.T) {
	seq := quench(chain(6, 7), 600)
	c, _, stats := compare(t, seq, Config{Precision: 1e-9, OneSiteAfterSaturation: true})
	if stats.OneSiteSteps == 0 {
		t.Fatalf("no one-site step: bonds %v never saturated", stats.Steps[len(stats.Steps)-1].MaxBond)
	}
	t.Logf("%d of %d steps one-site", stats.OneSiteSteps, len(stats.Steps))
	if c.tvd > 1e-3 || c.occ > 1e-4 || c.corr > 1e-4 {
		t.Errorf("against the state vector: TVD %.2e, occupation %.2e, correlation %.2e", c.tvd, c.occ, c.corr)
	}
}
