package emulator

import (
	"math"
	"math/rand/v2"

	"github.com/tweezer-dev/tweezer/runners/sequence"
	"github.com/tweezer-dev/tweezer/runners/shots"
)

// Perturber draws a trajectory's noise parameters (lost atoms, doppler
// shifts, amplitude and detuning offsets per channel, high-frequency
// detuning phases, moved atoms) and applies them to the program, as
// Pulser's HamiltonianData._sample_with_trajectory. The state-vector
// engine and the MPS engine (runners/mps) both use it, so that one seed
// gives the same trajectories, with the same Hamiltonians, on both.
type Perturber struct {
	prog *sequence.Program
	nm   *NoiseModel
	n    int
	// local: the program changes per trajectory (Pulser's local_noises);
	// shotToShot: trajectories draw more than the state-preparation mask.
	local, shotToShot bool
	channels          []string // in order of first pulse
}

// NewPerturber prepares the draws of a noise model (nil: none) on a program.
func NewPerturber(prog *sequence.Program, nm *NoiseModel) *Perturber {
	if nm == nil {
		nm = &NoiseModel{}
	}
	p := &Perturber{prog: prog, nm: nm, n: len(prog.QubitIDs)}
	p.shotToShot = nm.Has(NoiseDoppler) || (nm.Has(NoiseAmplitude) && nm.AmpSigma != 0) ||
		nm.Has(NoiseDetuning) || nm.Has(NoiseRegister) || nm.Has(NoiseDMMSigma)
	for _, t := range nm.NoiseTypes {
		switch t {
		case NoiseDephasing, NoiseRelaxation, NoiseDepolarizing, NoiseEff, NoiseSPAM:
		default:
			p.local = true
		}
	}
	if nm.Has(NoiseSPAM) && nm.StatePrepError > 0 {
		p.local = true
	}
	seen := map[string]bool{}
	for _, pl := range prog.Pulses {
		if !seen[pl.Channel] {
			seen[pl.Channel] = true
			p.channels = append(p.channels, pl.Channel)
		}
	}
	return p
}

// ShotToShot reports whether each trajectory draws more than its lost
// atoms (so trajectories cannot be grouped by lost atoms).
func (p *Perturber) ShotToShot() bool { return p.shotToShot }

// Draws are one trajectory's random draws.
type Draws struct {
	// Lost marks the atoms (register order) lost at state preparation.
	Lost     []bool
	doppler  []float64
	amp      map[string]float64
	det      map[string]float64
	phases   map[string][]float64
	position [][3]float64
}

// Nominal returns the draws of a trajectory that loses the given atoms and
// draws nothing else (every other parameter at its nominal value).
func (p *Perturber) Nominal(lost []bool) *Draws {
	d := &Draws{Lost: lost, doppler: make([]float64, p.n), amp: map[string]float64{}, det: map[string]float64{},
		phases: map[string][]float64{}, position: p.prog.Positions}
	for _, ch := range p.channels {
		d.amp[ch] = 1
	}
	return d
}

// Lost draws the state-preparation mask alone (the first draws of Draw).
func (p *Perturber) Lost(rng *rand.Rand) []bool {
	q := 0.0
	if p.nm.Has(NoiseSPAM) {
		q = p.nm.StatePrepError
	}
	return shots.LostAtoms(p.n, q, rng)
}

// Draw makes a trajectory's draws in a fixed order: state preparation,
// doppler, per channel amplitude, detuning and high-frequency phases,
// then register positions. Without shot-to-shot noise it draws the mask
// alone.
func (p *Perturber) Draw(rng *rand.Rand) *Draws {
	nm := p.nm
	d := p.Nominal(p.Lost(rng))
	if !p.shotToShot {
		return d
	}
	if nm.Has(NoiseDoppler) {
		sigma := kEff * math.Sqrt(kBoltzmann*nm.Temperature*1e-6/atomMass)
		for a := range d.doppler {
			d.doppler[a] = rng.NormFloat64() * sigma
		}
	}
	for _, ch := range p.channels {
		d.amp[ch] = math.Max(0, 1+nm.AmpSigma*rng.NormFloat64())
		if nm.DetuningSigma > 0 {
			d.det[ch] = nm.DetuningSigma * rng.NormFloat64()
		}
		if len(nm.DetuningHF) > 1 {
			ph := make([]float64, len(nm.DetuningHF)-1)
			for i := range ph {
				ph[i] = 2 * math.Pi * rng.Float64()
			}
			d.phases[ch] = ph
		}
	}
	if nm.Has(NoiseRegister) {
		sxy := math.Sqrt(nm.Temperature * nm.TrapWaist * nm.TrapWaist / (4 * *nm.TrapDepth))
		sz := math.Pi / trapWavelength * math.Sqrt2 * nm.TrapWaist * sxy
		d.position = make([][3]float64, p.n)
		for a, q := range p.prog.Positions {
			d.position[a] = [3]float64{q[0] + sxy*rng.NormFloat64(), q[1] + sxy*rng.NormFloat64(), q[2] + sz*rng.NormFloat64()}
		}
	}
	return d
}

// Program applies a trajectory's draws to the pulses: per pulse and
// target, doppler and detuning noise add to δ, amplitude noise scales Ω
// (the waist only for global channels), lost atoms get no drive at all,
// and register noise moves the atoms (Positions). It returns the program
// itself when no noise changes it.
func (p *Perturber) Program(d *Draws) *sequence.Program {
	if !p.local {
		return p.prog
	}
	nm := p.nm
	out := *p.prog
	out.Positions = d.position
	T := out.Duration
	out.Drive = make([][]complex128, p.n)
	out.Det = make([][]float64, p.n)
	for a := range out.Drive {
		out.Drive[a] = make([]complex128, T)
		out.Det[a] = make([]float64, T)
	}
	hf := map[string][]float64{}
	for _, ch := range p.channels {
		if ph := d.phases[ch]; ph != nil && nm.Has(NoiseDetuning) {
			hf[ch] = highFrequencyDetuning(nm.DetuningHF, ph, T)
		}
	}
	for _, pl := range p.prog.Pulses {
		rot := complex(math.Cos(pl.Phase), math.Sin(pl.Phase))
		for _, a := range pl.Targets {
			if d.Lost[a] {
				continue
			}
			frac := 1.0
			if nm.Has(NoiseAmplitude) {
				frac = d.amp[pl.Channel]
				if nm.LaserWaist != nil && pl.Global {
					frac *= waistFraction(d.position[a], pl.Device.PropagationDir, *nm.LaserWaist)
				}
			}
			shift := 0.0
			if nm.Has(NoiseDoppler) {
				shift += d.doppler[a]
			}
			if nm.Has(NoiseDetuning) {
				shift += d.det[pl.Channel]
			}
			drive, det := out.Drive[a][pl.Ti:pl.Tf], out.Det[a][pl.Ti:pl.Tf]
			h := hf[pl.Channel]
			for t := range drive {
				drive[t] += complex(pl.Amp[t]*frac, 0) * rot
				det[t] += pl.Det[t] + shift
				if h != nil {
					det[t] += h[pl.Ti+t]
				}
			}
		}
	}
	return &out
}

// highFrequencyDetuning is δ_hf(t) = Σ_k √(2Δω_k·PSD_k)·cos(ω_k t + φ_k)
// over k ≥ 1 (Δω_k = ω_k - ω_{k-1}), per ns.
func highFrequencyDetuning(pairs [][2]float64, phases []float64, T int) []float64 {
	out := make([]float64, T)
	for k := 1; k < len(pairs); k++ {
		amp := math.Sqrt(2 * (pairs[k][1] - pairs[k-1][1]) * pairs[k][0])
		w, ph := pairs[k][1], phases[k-1]
		for t := range out {
			out[t] += amp * math.Cos(w*float64(t)*dtMicros+ph)
		}
	}
	return out
}

// waistFraction is exp(-(d/w)²) with d the distance from the atom to the
// beam axis through the origin along dir.
func waistFraction(pos, dir [3]float64, waist float64) float64 {
	nd := math.Sqrt(dir[0]*dir[0] + dir[1]*dir[1] + dir[2]*dir[2])
	k := (pos[0]*dir[0] + pos[1]*dir[1] + pos[2]*dir[2]) / nd
	d2 := 0.0
	for i := range pos {
		x := pos[i] - k*dir[i]/nd
		d2 += x * x
	}
	return math.Exp(-d2 / (waist * waist))
}
