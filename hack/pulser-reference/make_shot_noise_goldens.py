"""Generates the shot-to-shot noise goldens of Tweezer's emulator tests.

For each case it writes noise_<name>.json in the given directory (the same
format as make_noise_goldens.py): the sequence and the noise model in
Pulser 1.9's abstract representation, and the mean and standard error over
`runs` noise trajectories of each atom's final Rydberg occupation and of each
bitstring probability. It also records the Pulser version, the numpy seed and
the number of trajectories that produced it.

The noise is Pulser v1.9.0's own: pulser-core's HamiltonianData draws the
trajectories (doppler detunings, amplitude and detuning fluctuations, the
high-frequency detuning phases, the moved register) and applies them to the
samples (`noisy_samples`) and to the interaction matrix, exactly as
pulser-simulation 1.9 does before integrating. pulser-simulation 1.9 needs
QuTiP 5, which Debian does not ship, so this script integrates each
trajectory itself: the Hamiltonian of pulser-simulation
(H = Σ Ω/2 (e^{-iφ}|g⟩⟨r| + h.c.) − δ|r⟩⟨r| + Σ_{i<j} U_ij n_i n_j), held
constant over each 1 ns sample and exponentiated exactly.

    python3 make_shot_noise_goldens.py ../../runners/emulator/testdata [case ...]

Needs Pulser v1.9.0's pulser-core on PYTHONPATH (with jsonschema and
referencing), numpy and scipy; no QuTiP.
"""

import json
import sys

import numpy as np
import pulser
from pulser import Pulse, Register, Sequence
from pulser._hamiltonian_data import HamiltonianData
from pulser.devices import AnalogDevice, DigitalAnalogDevice
from pulser.noise_model import NoiseModel
from pulser.waveforms import BlackmanWaveform, ConstantWaveform, RampWaveform

TWO_PI = 2 * np.pi
DT = 1e-3  # µs per sample


def evolve(samples, imat, n, duration):
    """Final state of one trajectory from all-ground, in Tweezer's order:
    index bit n-1-a is atom a, set for |r⟩."""
    dim = 1 << n
    occ = np.array([[(s >> (n - 1 - a)) & 1 for a in range(n)] for s in range(dim)], dtype=float)
    inter = np.zeros(dim)
    for i in range(n):
        for j in range(i + 1, n):
            inter += imat[i, j] * occ[:, i] * occ[:, j]
    amp = np.zeros((duration, n))
    det = np.zeros((duration, n))
    phase = np.zeros((duration, n))
    local = samples.get("Local", {}).get("ground-rydberg", {})
    for a, qid in enumerate(QIDS):
        if qid in local:
            amp[:, a] = local[qid]["amp"][:duration]
            det[:, a] = local[qid]["det"][:duration]
            phase[:, a] = local[qid]["phase"][:duration]
    H = np.zeros((duration, dim, dim), dtype=complex)
    diag = inter[None, :] - det @ occ.T  # (T, dim)
    idx = np.arange(dim)
    H[:, idx, idx] = diag
    for a in range(n):
        bit = 1 << (n - 1 - a)
        g = idx[(idx & bit) == 0]
        r = g | bit
        c = 0.5 * amp[:, a] * np.exp(-1j * phase[:, a])  # ⟨g|H|r⟩
        H[:, g, r] = c[:, None]
        H[:, r, g] = np.conj(c)[:, None]
    E, V = np.linalg.eigh(H)
    psi = np.zeros(dim, dtype=complex)
    psi[0] = 1
    ph = np.exp(-1j * E * DT)
    for t in range(duration):
        psi = V[t] @ (ph[t] * (V[t].conj().T @ psi))
    return psi


QIDS = []


def run_case(seq, nm, runs, seed):
    global QIDS
    QIDS = list(seq.register.qubit_ids)
    n = len(QIDS)
    np.random.seed(seed)
    hd = HamiltonianData.from_sequence(seq, noise_model=nm, n_trajectories=runs)
    duration = seq.get_duration()
    probs = []
    for traj, smp, reps in hd.noisy_samples:
        nested = smp.to_nested_dict(all_local=True)
        imat = np.asarray(traj.interaction_matrix.as_array())[-1]
        psi = evolve(nested, imat, n, duration)
        for _ in range(reps):
            probs.append(np.abs(psi) ** 2)
    pm = np.array(probs)
    dim = 1 << n
    occ = np.array([[(s >> (n - 1 - a)) & 1 for a in range(n)] for s in range(dim)], dtype=float)
    om = pm @ occ
    count = len(pm)
    sem = lambda x: x.std(axis=0, ddof=1) / np.sqrt(count)
    keys = [format(s, f"0{n}b") for s in range(dim)]
    return {
        "occupation": om.mean(axis=0).tolist(),
        "occupation_sem": sem(om).tolist(),
        "probabilities": dict(zip(keys, pm.mean(axis=0).tolist())),
        "probabilities_sem": dict(zip(keys, sem(pm).tolist())),
        "reference_runs": count,
    }


def line(n, spacing):
    return Register({f"q{i}": (spacing * (i - (n - 1) / 2), 0.0) for i in range(n)})


def rabi_sequence(reg, amp, det, duration):
    seq = Sequence(reg, AnalogDevice)
    seq.declare_channel("g", "rydberg_global")
    seq.add(Pulse.ConstantPulse(duration, amp, det, 0.0), "g")
    seq.measure("ground-rydberg")
    return seq


def two_channel_sequence(reg):
    """A global ramp then a local pulse on q1: amplitude and detuning
    fluctuations are drawn per channel, the waist acts on the global one."""
    seq = Sequence(reg, DigitalAnalogDevice)
    seq.declare_channel("g", "rydberg_global")
    seq.declare_channel("l", "rydberg_local", initial_target="q1")
    seq.add(Pulse(ConstantWaveform(700, TWO_PI * 1.2), RampWaveform(700, -TWO_PI * 0.5, TWO_PI * 0.5), 0.0), "g")
    seq.add(Pulse(BlackmanWaveform(400, np.pi), ConstantWaveform(400, TWO_PI * 0.3), 0.0), "l")
    seq.measure("ground-rydberg")
    return seq


def cases():
    """name, sequence, NoiseModel, number of trajectories, numpy seed."""
    yield "doppler", rabi_sequence(line(3, 9.0), TWO_PI * 1.0, TWO_PI * 0.2, 1200), NoiseModel(temperature=80.0), 1000, 11
    yield (
        "amplitude",
        two_channel_sequence(Register({"q0": (-9.0, 3.0), "q1": (0.0, -4.0), "q2": (8.0, 6.0)})),
        NoiseModel(laser_waist=12.0, amp_sigma=0.1),
        4000,
        12,
    )
    yield (
        "detuning",
        two_channel_sequence(line(3, 7.5)),
        NoiseModel(
            detuning_sigma=1.5,
            detuning_hf_psd=(1.0, 2.0, 1.0, 0.5),
            detuning_hf_omegas=(1.0, 3.0, 8.0, 20.0),
        ),
        4000,
        13,
    )
    # Register noise alone (doppler disabled): atoms where U ~ Ω, so that
    # the moved positions matter; σ_xy ≈ 0.29 µm, σ_z ≈ 1.5 µm.
    yield (
        "register",
        rabi_sequence(line(4, 7.2), TWO_PI * 1.0, 0.0, 900),
        NoiseModel(temperature=50.0, trap_waist=1.0, trap_depth=150.0, disable_doppler=True),
        1000,
        14,
    )


def main(out_dir, only):
    for name, seq, nm, runs, seed in cases():
        if only and name not in only:
            continue
        ref = run_case(seq, nm, runs, seed)
        nm_repr = json.loads(nm.to_abstract_repr())
        obj = {
            "sequence": json.loads(seq.to_abstract_repr()),
            "noise_model": nm_repr,
            "generator": {
                "script": "hack/pulser-reference/make_shot_noise_goldens.py",
                "pulser_version": pulser.__version__,
                "numpy_seed": seed,
                "trajectories": runs,
            },
            **ref,
        }
        with open(f"{out_dir}/noise_{name}.json", "w") as f:
            json.dump(obj, f, indent=1, sort_keys=True)
            f.write("\n")
        print(name, np.round(ref["occupation"], 4), "±", np.round(ref["occupation_sem"], 4), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
