package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tweezer-dev/tweezer/runners/mps/mpsseq"
)

const rabi = `{"version":"1","name":"rabi","device":"MockDevice","variables":{"t":{"type":"int","value":[0]}},
"register":[{"name":"a","x":0,"y":0}],"channels":{"g":"rydberg_global"},"measurement":"ground-rydberg",
"operations":[{"op":"pulse","channel":"g","protocol":"min-delay","phase":0,"post_phase_shift":0,
"amplitude":{"kind":"constant","duration":{"variable":"t"},"value":6.283185307179586},
"detuning":{"kind":"constant","duration":{"variable":"t"},"value":0}}]}`

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := dispatch(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestEmulateCLI(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seq.json")
	if err := os.WriteFile(path, []byte(rabi), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "emulate", "--sequence", path, "--variables", `{"t":500}`, "--runs", "50", "--seed", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res struct {
		Counter map[string]int64 `json:"counter"`
		Raw     []string         `json:"raw"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Counter["1"] != 50 || len(res.Raw) != 50 {
		t.Errorf("a π pulse must give 50 × \"1\": %s", out)
	}

	code, out, _ = runCLI(t, "emulate", "--sequence", path, "--variables", `{"t":250}`, "--probabilities")
	var p map[string]float64
	if err := json.Unmarshal([]byte(out), &p); code != 0 || err != nil || len(p) != 2 || p["0"] < 0.4999 || p["0"] > 0.5001 {
		t.Errorf("probabilities: exit %d, %s", code, out)
	}

	code, _, errs = runCLI(t, "emulate", "--sequence", path, "--runs", "5")
	if code == 0 || !strings.Contains(errs, "variables.t") {
		t.Errorf("missing variable: exit %d, %q", code, errs)
	}
	bad := strings.Replace(rabi, `"kind":"constant","duration":{"variable":"t"},"value":0`, `"kind":"constant","duration":{"variable":"t"},"value":"x"`, 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs = runCLI(t, "emulate", "--sequence", path, "--variables", `{"t":100}`)
	if code == 0 || !strings.Contains(errs, "$.operations[0].detuning.value") {
		t.Errorf("bad value: exit %d, %q", code, errs)
	}
	if code, _, _ := runCLI(t, "emulate"); code != 2 {
		t.Errorf("no --sequence: exit %d", code)
	}
	if code, _, _ := runCLI(t, "frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
}

func TestEmulateCLIRunsEMUMPSBeyondTheStateVector(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chain.json")
	if err := os.WriteFile(path, mpsseq.Quench(1, 30, 7, 200), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCLI(t, "emulate", "--sequence", path, "--runs", "5", "--device", "EMU_FREE")
	if code == 0 || !strings.Contains(errs, "at most") {
		t.Fatalf("the state vector should refuse 30 atoms: exit %d, %q", code, errs)
	}
	for _, dev := range []string{"EMU_MPS", "EMU_TN"} {
		code, out, errs := runCLI(t, "emulate", "--sequence", path, "--runs", "40", "--seed", "2", "--device", dev,
			"--backend-configuration", `{"max_bond_dim": 8, "dt": 20}`)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", dev, code, errs)
		}
		var res struct {
			Counter map[string]int64 `json:"counter"`
			Raw     []string         `json:"raw"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Raw) != 40 || len(res.Raw[0]) != 30 {
			t.Errorf("%s: want 40 shots of 30 atoms: %.200s", dev, out)
		}
		if !strings.Contains(errs, "mps: ") || !strings.Contains(errs, "mps step: end 20 ns") {
			t.Errorf("%s: the run's statistics should go to stderr: %.300s", dev, errs)
		}
	}
	code, _, errs = runCLI(t, "emulate", "--sequence", path, "--runs", "5", "--device", "EMU_MPS", "--backend-configuration", `{"max_bond_dim": -1}`)
	if code == 0 || !strings.Contains(errs, "invalid input: backend_configuration.max_bond_dim") {
		t.Errorf("bad max_bond_dim: exit %d, %q", code, errs)
	}
	code, _, errs = runCLI(t, "emulate", "--sequence", path, "--device", "EMU_MPS", "--probabilities")
	if code != 2 || !strings.Contains(errs, "state-vector devices") {
		t.Errorf("--probabilities on EMU_MPS: exit %d, %q", code, errs)
	}
}
