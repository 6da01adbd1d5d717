"""Writes Tweezer's built-in device catalog as Pulser device JSON.

Run with Pulser v1.1.0 on PYTHONPATH (see README.md beside this file):
    python3 make_devices.py ../../internal/devices/catalog

AnalogDevice, DigitalAnalogDevice and MockDevice come from Pulser; the
AnalogDevice atom count and duration limits follow shared/DESIGN.md
(80 atoms, 6000 ns). Fresnel is derived from AnalogDevice with the figures
in DESIGN.md (100 atoms, |detuning| <= 2*pi*10 rad/us) and a SPAM default
noise model (state preparation 0.005, false positive 0.025, false
negative 0.1).
"""

import dataclasses
import json
import sys

import numpy as np
from pulser.devices import AnalogDevice, DigitalAnalogDevice, MockDevice
from pulser.noise_model import NoiseModel


def main(out_dir: str) -> None:
    analog = dataclasses.replace(
        AnalogDevice, max_atom_num=80, max_sequence_duration=6000
    )
    fresnel_channel = dataclasses.replace(
        AnalogDevice.channels["rydberg_global"],
        max_abs_detuning=2 * np.pi * 10,
        max_duration=6000,
    )
    fresnel = dataclasses.replace(
        AnalogDevice,
        name="Fresnel",
        max_atom_num=100,
        max_sequence_duration=6000,
        channel_objects=(fresnel_channel,),
        channel_ids=("rydberg_global",),
        default_noise_model=NoiseModel(
            state_prep_error=0.005,
            runs=15,
            samples_per_run=5,
            p_false_pos=0.025,
            p_false_neg=0.1,
        ),
    )
    for dev in (analog, DigitalAnalogDevice, MockDevice, fresnel):
        obj = json.loads(dev.to_abstract_repr())
        with open(f"{out_dir}/{obj['name']}.json", "w") as f:
            json.dump(obj, f, indent=1, sort_keys=True)
            f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
