package emulator

import (
	"context"
	"math"
	"math/bits"
	"math/cmplx"

	"github.com/tweezer-dev/tweezer/runners/emulator/magnus"
)

// A fourth-order step for blocks over which the drive stays constant (the
// plateau of an adiabatic sweep) and every atom sees the same drive and
// detuning. There the per-ns Hamiltonians differ only in the detuning,
// H_k = H₀ + u_k·N with H₀ = V + c·σ⁺ + c̄·σ⁻, u_k = -δ_k and N the number
// of excitations, so the block's Magnus expansion is a Lie series in
// a' = -i·dt·H̄ (H̄ the block's average Hamiltonian) and b = -i·dt·N whose
// coefficients follow from the samples alone (package magnus):
//
//	Ω = m·a' + C2·[a', b] + (terms of degree 3 and 4) + …
//
// The midpoint step keeps m·a'. Since [H̄, N] = -c·σ⁺ + c̄·σ⁻, the second
// term is a change of the drive: m·a' + C2·[a', b] is -i·dt·m times the
// average Hamiltonian with the drive c·(1 + i·dt·C2/m), so it costs no
// sweep. A global drive's phase φ is a diagonal rotation,
// H(|c|e^{iφ}) = e^{iφN}·H(|c|)·e^{-iφN}, which keeps the real-drive
// kernels in use. The error is then the dropped terms of degree 3 and 4,
// bounded below in operator norm (state-independent, so no Gram sweep).
// Measured on the ring's plateau: the midpoint error grows as b³, this
// step's as b⁵, 700× smaller at 8 ns (docs/emulator-measurements.md).

// plateauBlock returns the longest block [t, t+b), b <= bmax, over which
// the drive stays constant and the bound of the dropped terms fits the
// budget (rate per unit of weight, see evolution.weights), that bound and
// the block's C2; b = 0 when the drive changes at t.
func (e *evolution) plateauBlock(t, bmax int, rate float64) (b int, est, c2 float64) {
	drive := e.prog.Drive[0]
	end := t
	for end < t+bmax && drive[end] == drive[t] {
		end++
	}
	if end-t < 2 || !e.globalFrom(t, end-t) {
		return 0, 0, 0
	}
	c := cmplx.Abs(drive[t]) / 2
	det := e.prog.Det[0][t:end]
	u := e.uBuf[:0]
	for _, d := range det {
		u = append(u, -d)
	}
	e.uBuf = u
	sum := 0.0
	magnus.Prefixes(u, func(j int, tm magnus.Terms) bool {
		sum += det[j-1]
		bound := e.h.plateauBound(tm, c, math.Abs(sum/float64(j)))
		if j > 1 && bound > rate*e.weight(t, j) {
			return false
		}
		b, est, c2 = j, bound, tm.C2
		return true
	})
	return b, est, c2
}

// plateauBound bounds, in operator norm, the terms of degree 3 and 4 that
// the plateau step drops, for the Lie coefficients tm, the drive c = Ω/2
// and the mean detuning |δ̄|. With F = σ⁺+σ⁻ and J = σ⁺-σ⁻ summed over the
// atoms, [N, H̄] = c·J, [N, J] = F, [N, F] = J, [F, J] = -2(2N-n) and
// [H̄, J] = [V, J] + c·[F, J] - δ̄·F. Write V = V_a + n_a·W_a with
// W_a = Σ_b U_ab·n_b, the interaction an excitation of atom a adds, free
// of atom a: then [V, J_a] = W_a·F_a and [V, [V, J_a]] = W_a²·J_a, and
// [F_b, W_a·F_a] is 0 for b = a and U_ab·[F_b, n_b]·F_a otherwise. With
// |W_a| ≤ κ_a = Σ_b |U_ab|: ‖F‖ = ‖J‖ = n, ‖[V, J]‖, ‖[V, F]‖ ≤ κ₁ = Σ_a κ_a,
// ‖[V, [V, J]]‖ ≤ κ₂ = Σ_a κ_a² and ‖[F, [V, J]]‖ ≤ Σ_{a≠b} |U_ab| = κ₁.
// Hence
//
//	‖[a',[a',b]]‖   ≤ dt³·c·(κ₁ + 2cn + |δ̄|n)
//	‖[b,[b,a']]‖    ≤ dt³·c·n
//	‖[a',[a',[a',b]]]‖ ≤ dt⁴·c·(κ₂ + cκ₁ + 2|δ̄|κ₁ + 4c²n + δ̄²n)
//	‖[b,[a',[a',b]]]‖  ≤ dt⁴·c·(κ₁ + |δ̄|n)
//	‖[b,[b,[b,a']]]‖   ≤ dt⁴·c·n
func (h *hamiltonian) plateauBound(tm magnus.Terms, c, dbar float64) float64 {
	n, k1, k2 := float64(h.n), h.kappa1, h.kappa2
	dt3 := dtMicros * dtMicros * dtMicros
	dt4 := dt3 * dtMicros
	return dt3*c*(math.Abs(tm.C3a)*(k1+2*c*n+dbar*n)+math.Abs(tm.C3b)*n) +
		dt4*c*(math.Abs(tm.C4a)*(k2+c*k1+2*dbar*k1+4*c*c*n+dbar*dbar*n)+
			math.Abs(tm.C4b)*(k1+dbar*n)+math.Abs(tm.C4c)*n)
}

// plateauStep evolves the block loaded by loadAverage (b ns, found by
// plateauBlock) with the exponential of its first two Magnus terms: the
// average Hamiltonian with the drive c·(1 + i·dt·c2/b), applied as a real
// drive between two diagonal rotations of the state by that drive's phase.
func (e *evolution) plateauStep(ctx context.Context, b int, c2, tol float64) error {
	corr := complex(1, dtMicros*c2/float64(b))
	phase := 0.0
	for a, d := range e.avgDrive {
		d *= corr
		if d != 0 {
			phase = cmplx.Phase(d)
		}
		e.avgDrive[a] = complex(cmplx.Abs(d), 0)
	}
	e.h.setStep(e.avgDrive, e.avgDet)
	e.rotate(-phase)
	if err := e.expStep(ctx, float64(b)*dtMicros, tol); err != nil {
		return err
	}
	e.rotate(phase)
	return nil
}

// rotate multiplies every amplitude by e^{iφ·k}, k its number of
// excitations: the state e^{iφN}ψ.
func (e *evolution) rotate(phi float64) {
	if phi == 0 {
		return
	}
	e.rounded = false // a rounded copy of psi no longer is one
	ph := e.phases[:e.h.n+1]
	for k := range ph {
		ph[k] = cmplx.Rect(1, phi*float64(k))
	}
	if sweepSplit(len(e.psi)) == 1 { // no closure on the heap (see chebStep)
		rotateRange(e.psi, ph, 0, len(e.psi))
		return
	}
	sweep(len(e.psi), func(lo, hi int) { rotateRange(e.psi, ph, lo, hi) })
}

// rotateRange is rotate on the amplitudes [lo, hi), with ph[k] = e^{iφk}.
func rotateRange(psi, ph []complex128, lo, hi int) {
	for s := lo; s < hi; s++ {
		psi[s] *= ph[bits.OnesCount(uint(s))]
	}
}
