"""Generates schedule goldens for runners/sequence: Pulser's own samples.

Each case is a sequence mixing a local channel (DigitalAnalogDevice's
rydberg_local: min_retarget_interval 220 ns, clock_period 4), retargeting
between pulses, align, phase shifts on all atoms and a final global pulse.
For each it writes the sequence (abstract repr) and Pulser's per-atom
samples (amplitude, detuning, phase per ns, sampler.sample(...)
.to_nested_dict(all_local=True)) to schedule_goldens.json.

    python3 make_schedule_goldens.py ../../runners/sequence/testdata

Needs Pulser v1.1.0 on PYTHONPATH, as make_goldens.py (README.md).
"""

import json
import sys

import numpy as np
from pulser import Pulse, Register, Sequence
from pulser.devices import DigitalAnalogDevice
from pulser.sampler import sampler
from pulser.waveforms import BlackmanWaveform


def base():
    reg = Register({"q0": (0, 0), "q1": (6, 0), "q2": (3, 5.2)})
    seq = Sequence(reg, DigitalAnalogDevice)
    seq.declare_channel("loc", "rydberg_local", initial_target="q0")
    seq.declare_channel("glob", "rydberg_global")
    return seq


def retarget_align_shift(extra_pulse):
    """Local pulse on q0, retarget to q1 (220 ns rule), align, phase shift
    on all atoms, final global pulse with min-delay."""
    seq = base()
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(202, np.pi), 0.5, 0.3), "loc")
    if extra_pulse:
        seq.add(Pulse.ConstantPulse(98, 2.0, 0.0, 1.1), "loc")
    seq.target("q1", "loc")
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(150, np.pi / 2), -0.4, 0.0), "loc")
    seq.align("loc", "glob")
    seq.phase_shift(np.pi / 3, "q0", "q1", "q2", basis="ground-rydberg")
    seq.add(Pulse.ConstantPulse(300, 3.0, 0.5, 0.2), "glob", protocol="min-delay")
    seq.measure("ground-rydberg")
    return seq


def no_delay_barrier():
    """A no-delay local pulse inside a global one must not move the atom's
    last use back: the phase shift that follows takes effect at the end of
    the global pulse (Pulser keeps the latest use), so the next pulse on the
    atom waits for it even with no-delay."""
    seq = base()
    seq.add(Pulse.ConstantPulse(500, 1.0, 0.0, 0.0), "glob")
    seq.add(Pulse.ConstantPulse(100, 2.0, 0.3, 0.0), "loc", protocol="no-delay")
    seq.phase_shift(np.pi / 2, "q0", "q1", "q2", basis="ground-rydberg")
    seq.add(Pulse.ConstantPulse(100, 2.0, 0.0, 0.0), "loc", protocol="no-delay")
    seq.target("q1", "loc")
    seq.add(Pulse.ConstantPulse(120, 1.5, -0.2, 0.4), "loc")
    seq.align("loc", "glob")
    seq.add(Pulse.ConstantPulse(200, 2.5, 0.0, 0.0), "glob", protocol="min-delay")
    seq.measure("ground-rydberg")
    return seq


def main(out_dir):
    cases = {
        "retarget_align_shift": retarget_align_shift(False),
        "retarget_align_shift_two_pulses": retarget_align_shift(True),
        "no_delay_barrier": no_delay_barrier(),
    }
    out = {}
    for name, seq in cases.items():
        s = sampler.sample(seq).to_nested_dict(all_local=True)["Local"]["ground-rydberg"]
        out[name] = {
            "sequence": json.loads(seq.to_abstract_repr()),
            "samples": {
                q: {k: np.round(np.asarray(s[q][k]), 12).tolist() for k in ("amp", "det", "phase")}
                for q in s
            },
        }
    with open(f"{out_dir}/schedule_goldens.json", "w") as f:
        json.dump(out, f, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
