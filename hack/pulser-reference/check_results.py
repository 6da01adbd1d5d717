"""Checks Tweezer's serialised results against Pulser 1.9.

1. Writes internal/emulationconfig/testdata/pulser_config.json: an
   EmulationConfig.to_abstract_repr() as pasqal-cloud's RemoteSVBackend
   sends it in backend_configuration.
2. Loads every runners/emulator/testdata/serialised_*.json (a job's
   full_result.serialised_results, written by
   `go test ./runners/emulator -run TestSerialisedResultsFixture -update`)
   with Results.from_abstract_repr, checks what a Pulser user reads from it,
   and that it serialises back to the same document.
3. Loads runners/emulator/testdata/state_results.json (StateResult values,
   written by `go test ./runners/emulator -run TestStateResult -update`),
   checks each state is Pulser's state abstract repr, normalised and
   consistent with the occupation, and that it round-trips.

    python3 check_results.py ../.. --keep-config   # check the committed fixtures
    python3 check_results.py ../..                 # new config (new uuids): then
                                                   # go test ... -update, and check again

Needs Pulser v1.9.0 pulser-core on PYTHONPATH (pulser-simulation is not
needed), jsonschema >= 4.18 and referencing; see README.md beside this file.
"""

import glob
import json
import sys

from pulser.backend import (
    BitStrings,
    CorrelationMatrix,
    EmulationConfig,
    Energy,
    EnergySecondMoment,
    EnergyVariance,
    Occupation,
    Results,
)
from pulser.backend.state import StateRepr


def write_config(root):
    obs = [
        BitStrings(num_shots=100, evaluation_times=[0.5, 1.0]),
        Occupation(),
        CorrelationMatrix(),
        Energy(),
        EnergyVariance(),
        EnergySecondMoment(tag_suffix="m2"),
    ]
    config = EmulationConfig(observables=obs, default_evaluation_times=[0.25, 0.5, 1.0], default_num_shots=200)
    with open(f"{root}/internal/emulationconfig/testdata/pulser_config.json", "w") as f:
        f.write(config.to_abstract_repr())
        f.write("\n")


def check(path):
    with open(path) as f:
        text = f.read().strip()
    res = Results.from_abstract_repr(text)
    tags = sorted(res.get_result_tags())
    want = sorted(["bitstrings", "occupation", "correlation_matrix", "energy", "energy_variance", "energy_second_moment_m2"])
    assert tags == want, (path, tags)
    assert res.get_result_times("bitstrings") == [0.5, 1.0], res.get_result_times("bitstrings")
    assert res.get_result_times("energy") == [0.25, 0.5, 1.0]
    n = len(res.atom_order)
    assert all(len(v) == n for v in res.occupation)
    assert all(len(row) == n for m in res.correlation_matrix for row in m)
    assert sum(res.final_bitstrings.values()) == 100, res.final_bitstrings
    assert json.loads(res.to_abstract_repr()) == json.loads(text), "does not round-trip"
    print(f"{path}: atoms {res.atom_order}, {res.total_duration} ns, tags {tags}: ok")


def check_state(path):
    with open(path) as f:
        text = f.read().strip()
    res = Results.from_abstract_repr(text)
    states, occ = res.state, res.occupation
    assert len(states) == len(occ) == 2, (len(states), len(occ))
    for st, o in zip(states, occ):
        assert list(st["eigenstates"]) == ["r", "g"], st["eigenstates"]
        amps = st["amplitudes"]
        assert all(isinstance(a, complex) for a in amps.values())
        assert abs(sum(abs(a) ** 2 for a in amps.values()) - 1) < 1e-9
        for i, want in enumerate(o):
            got = sum(abs(a) ** 2 for k, a in amps.items() if k[i] == "r")
            assert abs(got - want) < 1e-9, (i, got, want)
        # A Pulser user rebuilds the state from it.
        StateRepr.from_state_amplitudes(eigenstates=tuple(st["eigenstates"]), amplitudes=amps)
    assert json.loads(res.to_abstract_repr()) == json.loads(text), "does not round-trip"
    print(f"{path}: {len(states)} states of {len(res.atom_order)} atoms: ok")


def main(root):
    if "--keep-config" not in sys.argv:
        write_config(root)
    paths = sorted(glob.glob(f"{root}/runners/emulator/testdata/serialised_*.json"))
    assert paths, "no serialised results: run the Go test with -update first"
    for p in paths:
        check(p)
    check_state(f"{root}/runners/emulator/testdata/state_results.json")


if __name__ == "__main__":
    main(sys.argv[1])
