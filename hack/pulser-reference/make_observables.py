"""Generates the observable goldens of Tweezer's emulator with Pulser.

For each case it writes observables_<name>.json holding the sequence
(Pulser abstract representation), the relative evaluation times and, at each,
pulser-simulation's occupation <n_i>, correlation <n_i n_j> and energy <H(t)>
(rad/us, H from QutipEmulator.get_hamiltonian at that ns), computed on the
states QutipEmulator returns at those times.

    python3 make_observables.py ../../runners/emulator/testdata

Needs Pulser v1.1.0 (pulser-core, pulser-simulation) on PYTHONPATH and
QuTiP 4.7, as make_goldens.py; see README.md beside this file.
"""

import json
import sys

import numpy as np
import qutip
from pulser import Pulse, Register, Sequence
from pulser.devices import AnalogDevice, MockDevice
from pulser.waveforms import BlackmanWaveform, ConstantWaveform, RampWaveform
from pulser_simulation import QutipEmulator

TWO_PI = 2 * np.pi
TIMES = [0.0, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0]


def observe(seq):
    sim = QutipEmulator.from_sequence(seq)
    T = sim.total_duration_ns if hasattr(sim, "total_duration_ns") else seq.get_duration()
    ns = [int(round(t * T)) for t in TIMES]
    sim.set_evaluation_times(np.array(ns) / 1000)
    res = sim.run()
    n = len(seq.register.qubit_ids)
    out = {"occupation": [], "correlation": [], "energy": [], "ns": ns}
    for k, state in enumerate(res.states):
        amps = state.full().ravel()
        p = np.abs(amps) ** 2
        # Pulser's basis: index bit 0 is |r>.
        exc = np.array([[format(s, f"0{n}b")[i] == "0" for i in range(n)] for s in range(2**n)], dtype=float)
        occ = exc.T @ p
        corr = (exc.T * p) @ exc
        h = sim.get_hamiltonian(min(ns[k], T - 1))
        e = qutip.expect(h, state)
        out["occupation"].append([float(x) for x in occ])
        out["correlation"].append([[float(x) for x in row] for row in corr])
        out["energy"].append(float(np.real(e)))
    return out


def square(side, spacing):
    return Register({f"q{i}": (spacing * (i % side), spacing * (i // side)) for i in range(side * side)})


def case_rabi_detuned():
    seq = Sequence(Register({"a": (0, 0)}), AnalogDevice)
    seq.declare_channel("g", "rydberg_global")
    seq.add(Pulse.ConstantPulse(500, TWO_PI * 1.0, TWO_PI * 0.6, 0.7), "g")
    seq.measure("ground-rydberg")
    return seq


def case_blockade_square():
    seq = Sequence(square(2, 6.0), MockDevice)
    seq.declare_channel("g", "rydberg_global")
    seq.add(Pulse(BlackmanWaveform(800, np.pi * 1.5), ConstantWaveform(800, -TWO_PI * 0.3), 0), "g")
    seq.add(Pulse(ConstantWaveform(400, TWO_PI * 1.0), RampWaveform(400, -TWO_PI * 1.0, TWO_PI * 1.5), 0.4), "g")
    seq.measure("ground-rydberg")
    return seq


def case_local_ring():
    seq = Sequence(Register({"a": (0, 0), "b": (7, 0), "c": (3.5, 6)}), MockDevice)
    seq.declare_channel("g", "rydberg_global")
    seq.declare_channel("l", "rydberg_local", initial_target="a")
    seq.add(Pulse.ConstantPulse(300, TWO_PI * 1.5, 0.0, 0.0), "g")
    seq.add(Pulse.ConstantPulse(200, TWO_PI * 2.0, TWO_PI * 0.5, 1.0), "l")
    seq.add(Pulse(RampWaveform(500, TWO_PI * 1.0, 0.0), RampWaveform(500, TWO_PI * -1, TWO_PI * 2), 0), "g")
    seq.measure("ground-rydberg")
    return seq


CASES = {"rabi_detuned": case_rabi_detuned, "blockade_square": case_blockade_square, "local_ring": case_local_ring}


def main(out_dir, names):
    for name in names or CASES:
        seq = CASES[name]()
        obj = {"sequence": json.loads(seq.to_abstract_repr()), "times": TIMES}
        obj.update(observe(seq))
        with open(f"{out_dir}/observables_{name}.json", "w") as f:
            json.dump(obj, f, indent=1, sort_keys=True)
            f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
