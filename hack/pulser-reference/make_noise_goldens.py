"""Generates the noisy golden references of Tweezer's emulator tests.

For each case it writes noise_<name>.json in the given directory, holding
the sequence (Pulser abstract representation), the noise model (Pulser 1.9's
noise abstract representation) and Pulser's reference for the final state:
the Rydberg occupation of each atom and the bitstring probabilities, each
with the standard error of the reference (0 when exact).

Lindblad noise (dephasing, relaxation, depolarizing, eff_noise): one
qutip.mesolve run of pulser-simulation's QutipEmulator (exact density
matrix). Shot-to-shot noise (doppler, amplitude, detuning, register) comes
from Pulser 1.9's own noise trajectories: make_shot_noise_goldens.py.

    python3 make_noise_goldens.py ../../runners/emulator/testdata [case ...]

Needs Pulser v1.1.0 (pulser-core, pulser-simulation) on PYTHONPATH and
QuTiP 4.7, as make_goldens.py (see README.md beside this file). Pulser 1.1
and 1.9 build the same collapse operators.
"""

import json
import sys

import numpy as np
import qutip
from pulser import Pulse, Register, Sequence
from pulser.devices import AnalogDevice
from pulser.noise_model import NoiseModel
from pulser.waveforms import ConstantWaveform, RampWaveform
from pulser_simulation import QutipEmulator, SimConfig

TWO_PI = 2 * np.pi


def noise_repr(**kw):
    """Pulser 1.9's abstract repr of a noise model with these fields."""
    base = {
        "runs": None,
        "samples_per_run": None,
        "state_prep_error": 0.0,
        "p_false_pos": 0.0,
        "p_false_neg": 0.0,
        "temperature": 0.0,
        "laser_waist": None,
        "amp_sigma": 0.0,
        "relaxation_rate": 0.0,
        "dephasing_rate": 0.0,
        "hyperfine_dephasing_rate": 0.0,
        "depolarizing_rate": 0.0,
        "eff_noise": [],
    }
    base.update(kw)
    return base


def state_stats(states, n):
    """Occupations and probabilities of pure states or density matrices."""
    occ, probs = [], []
    for st in states:
        full = st.full()
        p = np.real(np.diag(full)) if st.isoper else np.abs(full.ravel()) ** 2
        # Pulser's basis: index bit 0 is |r>; 1 = Rydberg in our strings.
        pr = {}
        o = np.zeros(n)
        for k, v in enumerate(p):
            bits = format(k, f"0{n}b").translate(str.maketrans("01", "10"))
            pr[bits] = float(v)
            o += float(v) * np.array([int(b) for b in bits])
        occ.append(o)
        probs.append(pr)
    keys = sorted(probs[0])
    pm = np.array([[pr[k] for k in keys] for pr in probs])
    om = np.array(occ)
    count = len(states)
    sem = (lambda a: a.std(axis=0, ddof=1) / np.sqrt(count)) if count > 1 else (lambda a: np.zeros(a.shape[1]))
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


def ramp_sequence(reg):
    seq = Sequence(reg, AnalogDevice)
    seq.declare_channel("g", "rydberg_global")
    seq.add(Pulse.ConstantDetuning(RampWaveform(400, 0.0, TWO_PI * 1.5), -TWO_PI, 0.0), "g")
    seq.add(Pulse(ConstantWaveform(800, TWO_PI * 1.5), RampWaveform(800, -TWO_PI, TWO_PI), 0.0), "g")
    seq.measure("ground-rydberg")
    return seq


def lindblad(seq, nm):
    cfg = nm if isinstance(nm, SimConfig) else SimConfig.from_noise_model(nm)
    sim = QutipEmulator.from_sequence(seq, config=cfg)
    res = sim.run()
    return state_stats([res.get_final_state()], len(seq.register.qubit_ids))


def eff_op(m):
    return [[float(np.real(x)) if np.imag(x) == 0 else {"real": float(np.real(x)), "imag": float(np.imag(x))} for x in row] for row in m]


def cases():
    rabi3 = rabi_sequence(line(3, 7.0), TWO_PI * 1.0, TWO_PI * 0.3, 1500)
    ramp4 = ramp_sequence(line(4, 6.0))
    pump = np.array([[0, 1], [0, 0]], dtype=complex)  # |r><g| in Pulser's (r, g) order
    mixed = np.array([[1, 1j], [0, 0]], dtype=complex) / np.sqrt(2)  # non-diagonal L†L
    # name, sequence, noise for pulser-simulation 1.1, Pulser 1.9's repr
    yield "dephasing", rabi3, NoiseModel(dephasing_rate=0.8), noise_repr(noise_types=["dephasing"], dephasing_rate=0.8)
    yield "relaxation", ramp4, NoiseModel(relaxation_rate=0.6), noise_repr(noise_types=["relaxation"], relaxation_rate=0.6)
    yield "depolarizing", rabi3, NoiseModel(depolarizing_rate=0.5), noise_repr(noise_types=["depolarizing"], depolarizing_rate=0.5)
    yield (
        "eff_noise",
        rabi3,
        # Pulser 1.1's SimConfig takes the operators as Qobj.
        SimConfig(noise="eff_noise", eff_noise_rates=[0.3, 0.5], eff_noise_opers=[qutip.Qobj(pump), qutip.Qobj(mixed)]),
        noise_repr(noise_types=["eff_noise"], eff_noise=[[0.3, eff_op(pump)], [0.5, eff_op(mixed)]]),
    )
    yield (
        "dephasing_relaxation_6",
        ramp_sequence(line(6, 6.5)),
        NoiseModel(dephasing_rate=0.3, relaxation_rate=0.2),
        noise_repr(noise_types=["dephasing", "relaxation"], dephasing_rate=0.3, relaxation_rate=0.2),
    )


def main(out_dir, only):
    for name, seq, nm, nm_repr in cases():
        if only and name not in only:
            continue
        ref = lindblad(seq, nm)
        obj = {
            "sequence": json.loads(seq.to_abstract_repr()),
            "noise_model": nm_repr,
            **ref,
        }
        with open(f"{out_dir}/noise_{name}.json", "w") as f:
            json.dump(obj, f, indent=1, sort_keys=True)
            f.write("\n")
        print(name, ref["occupation"])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
