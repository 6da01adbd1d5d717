#!/usr/bin/env python3
"""Writes the starter notebooks of the learning packages into
controllers/learner/starters/<PACKAGE>.ipynb (nbformat 4, no outputs).

Each holds a small working example: build a Pulser sequence and submit it to
this platform with the pasqal-cloud SDK. Run from the repository root after
changing the texts below, and commit the .ipynb files (the manager embeds them).
"""
import json
import pathlib

# package -> (title, what the example shows, register lines, durations in ns)
PACKAGES = {
    "QUANTUM_DISCOVERY": ("Quantum Discovery", "four atoms on a square, driven together: how long the drive lasts decides how many end up excited",
                          'register = Register.square(2, spacing=6, prefix="q")', [100, 250, 400]),
    "QUANTUM_DISCOVERY_CHEMISTRY": ("Quantum Discovery: Chemistry", "two atoms close enough to block each other (the Rydberg blockade, the interaction behind molecular-like simulations)",
                                    'register = Register.from_coordinates([(0, 0), (5, 0)], prefix="q")', [200, 500]),
    "QUANTUM_DISCOVERY_LIGHT": ("Quantum Discovery: Light", "one atom under a laser pulse: its Rabi oscillation, the light-atom interaction in its simplest form",
                                'register = Register.from_coordinates([(0, 0)], prefix="q")', [125, 250, 500]),
    "QUANTUM_DISCOVERY_PLAY": ("Quantum Discovery: Play", "six atoms on a ring: change the spacing and the duration and see the counts move",
                               'register = Register.from_coordinates(\n    [(7 * np.cos(a), 7 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 6, endpoint=False)], prefix="q"\n)', [300, 600]),
    "QUANTUM_DISCOVERY_ESSENTIAL": ("Quantum Discovery: Essentials", "three atoms in a row, the smallest chain with a middle atom",
                                    'register = Register.from_coordinates([(0, 0), (6, 0), (12, 0)], prefix="q")', [250, 500]),
    "LEARN_BY_CODING": ("Learn by coding", "a parametrized sequence: one declared variable, several jobs, one batch",
                        'register = Register.square(2, spacing=6, prefix="q")', [100, 200, 300, 400]),
    "VQPU": ("Virtual QPU", "the same sequence you would send to a QPU, run on the emulator first",
             'register = Register.square(2, spacing=6, prefix="q")', [400]),
}

CONNECT = '''import os
from getpass import getpass

from pasqal_cloud import SDK, Endpoints
from pasqal_cloud.authentication import TokenProvider

# The notebook server was started with the platform's address and your project.
API_URL = os.environ.get("TWEEZER_API_URL", "http://127.0.0.1:8000")
PROJECT_ID = os.environ["TWEEZER_PROJECT_ID"]
# Your API token (the one you use with the SDK); never write it in the notebook.
TOKEN = os.environ.get("TWEEZER_TOKEN") or getpass("Tweezer API token: ")


class StaticToken(TokenProvider):
    def get_token(self):
        return TOKEN


sdk = SDK(
    project_id=PROJECT_ID,
    token_provider=StaticToken(),
    endpoints=Endpoints(core=API_URL, account=API_URL),
)'''

SEQUENCE = '''import numpy as np
from pulser import Pulse, Register, Sequence
from pulser.devices import DigitalAnalogDevice

{register}
seq = Sequence(register, DigitalAnalogDevice)
seq.declare_channel("ryd", "rydberg_global")
# The pulse duration is a variable: each job of the batch gives it a value.
t = seq.declare_variable("t", dtype=int)
seq.add(Pulse.ConstantPulse(t, 2 * np.pi, 0.0, 0.0), "ryd")
seq.measure("ground-rydberg")
serialized_sequence = seq.to_abstract_repr()
register.draw()'''

SUBMIT = '''batch = sdk.create_batch(
    serialized_sequence,
    jobs=[{{"runs": 200, "variables": {{"t": [t]}}}} for t in {durations}],
    device_type="EMU_FREE",
    wait=True,
)
for job in batch.ordered_jobs:
    print(job.variables, job.status, job.result)'''


def cell(kind, text, cid):
    c = {"cell_type": kind, "id": cid, "metadata": {}, "source": text.splitlines(keepends=True)}
    if kind == "code":
        c.update(execution_count=None, outputs=[])
    return c


def notebook(pkg, title, what, register, durations):
    cells = [
        ("markdown", f"# {title}: your first sequence\n\n"
             f"This notebook builds a [Pulser](https://pulser.readthedocs.io) sequence ({what}) "
             "and runs it on this platform's emulator with the pasqal-cloud SDK.\n\n"
             "It is your copy: change it as you like. A fresh copy comes back only if you delete it."),
        ("markdown", "## 1. Connect to the platform"),
        ("code", CONNECT),
        ("markdown", "## 2. Build the sequence"),
        ("code", SEQUENCE.format(register=register)),
        ("markdown", "## 3. Submit it and read the counts\n\n"
             "One job per pulse duration; `wait=True` returns once every job is done. "
             "Each result maps a bitstring (1 = excited atom) to how many of the runs gave it."),
        ("code", SUBMIT.format(durations=durations)),
    ]
    return {
        "cells": [cell(kind, text, f"cell-{i}") for i, (kind, text) in enumerate(cells)],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
            "tweezer": {"package": pkg},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def main():
    out = pathlib.Path("controllers/learner/starters")
    out.mkdir(parents=True, exist_ok=True)
    for pkg, args in PACKAGES.items():
        nb = notebook(pkg, *args)
        for code in (c for c in nb["cells"] if c["cell_type"] == "code"):
            compile("".join(code["source"]), pkg, "exec")  # each cell is valid Python
        (out / f"{pkg}.ipynb").write_text(json.dumps(nb, indent=1) + "\n")


if __name__ == "__main__":
    main()
