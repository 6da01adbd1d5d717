"""Generates the golden references of Tweezer's emulator tests with Pulser.

For each case it writes <name>.json holding the sequence (Pulser abstract
representation), the variables given to it and Pulser's exact final-state
probabilities (QutipEmulator, default options). It also writes
waveforms.json (samples of each waveform kind) and pulser_timings.json
(wall time of QutipEmulator on the benchmark ring).

    python3 make_goldens.py ../../runners/emulator/testdata

Needs Pulser v1.1.0 (pulser-core, pulser-simulation) on PYTHONPATH and
QuTiP 4.7; see README.md beside this file.
"""

import json
import sys
import time

import numpy as np
import pulser
from pulser import Pulse, Register, Sequence
from pulser.devices import AnalogDevice, MockDevice
from pulser.waveforms import (
    BlackmanWaveform,
    CompositeWaveform,
    ConstantWaveform,
    InterpolatedWaveform,
    KaiserWaveform,
    RampWaveform,
)
from pulser_simulation import QutipEmulator

TWO_PI = 2 * np.pi


def probabilities(seq):
    res = QutipEmulator.from_sequence(seq).run()
    state = res.get_final_state().full().ravel()
    n = len(seq.register.qubit_ids)
    out = {}
    for k, amp in enumerate(state):
        p = float(abs(amp) ** 2)
        if p < 1e-12:
            continue
        # Pulser's basis: index bit 0 is |r>, so invert to get 1 = Rydberg.
        bits = format(k, f"0{n}b").translate(str.maketrans("01", "10"))
        out[bits] = p
    return out


def ring(n, spacing):
    radius = spacing / (2 * np.sin(np.pi / n))
    pts = {
        f"q{i}": (
            radius * np.cos(2 * np.pi * i / n),
            radius * np.sin(2 * np.pi * i / n),
        )
        for i in range(n)
    }
    return Register(pts)


def adiabatic_ring(n, device=AnalogDevice):
    seq = Sequence(ring(n, 5.5), device)
    seq.declare_channel("ising", "rydberg_global")
    omega, d0, d1 = TWO_PI * 1.2, -TWO_PI * 3, TWO_PI * 3
    seq.add(Pulse(RampWaveform(252, 0.0, omega), ConstantWaveform(252, d0), 0), "ising")
    seq.add(Pulse(ConstantWaveform(2500, omega), RampWaveform(2500, d0, d1), 0), "ising")
    seq.add(Pulse(RampWaveform(248, omega, 0.0), ConstantWaveform(248, d1), 0), "ising")
    seq.measure("ground-rydberg")
    return seq


def case_rabi_detuned():
    seq = Sequence(Register({"a": (0, 0)}), AnalogDevice)
    seq.declare_channel("g", "rydberg_global")
    seq.add(Pulse.ConstantPulse(500, TWO_PI * 1.0, TWO_PI * 0.6, 0.7), "g")
    seq.measure("ground-rydberg")
    return seq, {}


def case_blackman_pi_half():
    seq = Sequence(Register({"a": (0, 0)}), AnalogDevice)
    seq.declare_channel("g", "rydberg_global")
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(700, np.pi), 0, 0), "g")
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(350, np.pi / 2), 0, 0), "g")
    seq.measure("ground-rydberg")
    return seq, {}


def case_phase_jump():
    # A pi/2 pulse, then a pi/2 pulse with phase pi/2: Pulser inserts a
    # phase-jump buffer whose length depends on the modulated fall time.
    seq = Sequence(Register({"a": (0, 0), "b": (0, 12)}), AnalogDevice)
    seq.declare_channel("g", "rydberg_global")
    seq.add(Pulse.ConstantPulse(124, TWO_PI * 1.0, TWO_PI * 0.3, 0.0), "g")
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(400, np.pi / 2), 0, np.pi / 2), "g")
    seq.measure("ground-rydberg")
    return seq, {}


def case_blockade_pair():
    seq = Sequence(Register({"a": (0, 0), "b": (5.5, 0)}), AnalogDevice)
    seq.declare_channel("g", "rydberg_global")
    seq.add(Pulse.ConstantPulse(700, TWO_PI * 1.0, 0.0, 0.0), "g")
    seq.measure("ground-rydberg")
    return seq, {}


def parametrized():
    seq = Sequence(Register({"a": (0, 0), "b": (9, 0), "c": (4.5, 7)}), AnalogDevice)
    seq.declare_channel("g", "rydberg_global")
    t = seq.declare_variable("t", dtype=int)
    area = seq.declare_variable("area")
    shape = seq.declare_variable("shape", size=4)
    det = seq.declare_variable("det")
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(t, area), det, 0.0), "g")
    seq.add(
        Pulse(
            InterpolatedWaveform(t * 2, shape),
            RampWaveform(t * 2, det, -det),
            np.pi / 3,
        ),
        "g",
    )
    seq.measure("ground-rydberg")
    return seq


def case_local_channels():
    # Global and local channels, retargeting, phase shifts and alignment on
    # a virtual device.
    reg = Register({"a": (0, 0), "b": (6, 0), "c": (3, 5), "d": (9, 5)})
    seq = Sequence(reg, MockDevice)
    seq.declare_channel("glob", "rydberg_global")
    seq.declare_channel("loc", "rydberg_local", initial_target="a")
    seq.add(Pulse.ConstantPulse(200, TWO_PI * 1.5, TWO_PI * 0.5, 0.3), "glob")
    seq.add(Pulse.ConstantDetuning(KaiserWaveform(300, 2.0, 10.0), 1.0, 0.0), "loc")
    seq.target_index([1, 3], "loc")
    seq.phase_shift_index(0.8, 1, 3, basis="ground-rydberg")
    seq.add(
        Pulse.ConstantAmplitude(
            TWO_PI * 0.8, InterpolatedWaveform(250, [0.0, 5.0, -3.0, 2.0], times=[0.0, 0.3, 0.7, 1.0]), 0.5
        ),
        "loc",
        protocol="no-delay",
    )
    seq.align("glob", "loc")
    seq.delay(100, "glob")
    seq.phase_shift_index(0.8, 0, 2, basis="ground-rydberg")
    seq.add(Pulse.ConstantPulse(150, TWO_PI * 1.0, -2.0, 1.1), "glob", protocol="wait-for-all")
    seq.measure("ground-rydberg")
    return seq, {}


def waveforms():
    wfs = {
        "blackman": BlackmanWaveform(333, 2.1),
        "blackman_max": BlackmanWaveform.from_max_val(TWO_PI * 1.3, np.pi),
        "kaiser": KaiserWaveform(201, -1.7, 9.0),
        "kaiser_max": KaiserWaveform.from_max_val(TWO_PI * 0.9, 2.5),
        "kaiser_max_short": KaiserWaveform.from_max_val(100.0, 0.3),
        "ramp": RampWaveform(97, 3.0, -2.0),
        "interpolated": InterpolatedWaveform(500, [0.0, 4.0, 3.0, 3.5, -1.0, 0.0]),
        "interpolated_times": InterpolatedWaveform(
            301, [1.0, 0.0, 2.0, 2.0, 5.0], times=[0.1, 0.2, 0.5, 0.6, 0.9]
        ),
        "interpolated_two": InterpolatedWaveform(50, [1.0, 3.0]),
        "composite": CompositeWaveform(
            ConstantWaveform(20, 1.0), RampWaveform(30, 1.0, 0.0)
        ),
    }
    # The *_max constructors serialize as the waveform they resolve to; keep
    # their own abstract representation so that the duration search is tested.
    inputs = {
        "blackman_max": {"kind": "blackman_max", "max_val": TWO_PI * 1.3, "area": np.pi},
        "kaiser_max": {"kind": "kaiser_max", "max_val": TWO_PI * 0.9, "area": 2.5, "beta": 14.0},
        "kaiser_max_short": {"kind": "kaiser_max", "max_val": 100.0, "area": 0.3, "beta": 14.0},
    }
    out = {}
    for name, wf in wfs.items():
        repr_ = json.loads(json.dumps(wf._to_abstract_repr(), default=_jsonable))
        out[name] = {"waveform": inputs.get(name, repr_), "samples": wf.samples.tolist()}
    return out


def _jsonable(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if hasattr(o, "_to_abstract_repr"):
        return o._to_abstract_repr()
    raise TypeError(type(o))


def write(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")


def main(out):
    cases = {
        "rabi_detuned": case_rabi_detuned,
        "blackman_pi_half": case_blackman_pi_half,
        "phase_jump": case_phase_jump,
        "blockade_pair": case_blockade_pair,
        "local_channels": case_local_channels,
        "ring8_adiabatic": lambda: (adiabatic_ring(8), {}),
        "ring10_adiabatic": lambda: (adiabatic_ring(10), {}),
    }
    only = sys.argv[2:]
    for name, make in cases.items():
        if only and name not in only:
            continue
        seq, _ = make()
        write(
            f"{out}/golden_{name}.json",
            {
                "sequence": json.loads(seq.to_abstract_repr()),
                "variables": {},
                "probabilities": probabilities(seq),
            },
        )
        print("wrote", name, flush=True)
    if only and "parametrized" not in only:
        return finish(out, only)
    pseq = parametrized()
    var_sets = [
        {"t": 640, "area": np.pi, "shape": [0.0, 6.0, 3.0, 0.0], "det": 2.0},
        {"t": 800, "area": np.pi / 2, "shape": [0.5, 9.0, 4.0, 0.0], "det": -4.5},
    ]
    pseq_json = json.loads(pseq.to_abstract_repr(**var_sets[0]))
    for i, vars_ in enumerate(var_sets):
        write(
            f"{out}/golden_parametrized_{i + 1}.json",
            {
                "sequence": pseq_json,
                "variables": {k: v for k, v in vars_.items()},
                "probabilities": probabilities(pseq.build(**vars_)),
            },
        )
        print("wrote parametrized", i + 1, flush=True)
    finish(out, only)


def finish(out, only):
    if not only or "waveforms" in only:
        write(f"{out}/waveforms.json", waveforms())
    if only and "timings" not in only:
        return
    timings = {}
    for n in (4, 8, 10, 12):
        seq = adiabatic_ring(n)
        t0 = time.perf_counter()
        QutipEmulator.from_sequence(seq).run()
        timings[str(n)] = time.perf_counter() - t0
        print("timed", n, timings[str(n)], flush=True)
    write(
        f"{out}/pulser_timings.json",
        {
            "note": "QutipEmulator wall time (s) for the 3 us adiabatic ring, "
            "Pulser " + pulser.__version__ + ", same machine",
            "seconds": timings,
        },
    )


if __name__ == "__main__":
    main(sys.argv[1])
