package server_test

import (
	"os"
	"strings"
	"testing"
)

// An EmulationConfig (what pasqal-cloud's remote backends send as
// backend_configuration) is validated at batch creation: a valid one is
// accepted and returned as sent, one the emulators cannot honour gets a 422
// naming the field, and a legacy value is stored as before.
func TestBatchCreationValidatesTheEmulationConfig(t *testing.T) {
	data, err := os.ReadFile("../../internal/emulationconfig/testdata/config.json")
	if err != nil {
		t.Fatal(err)
	}
	valid := strings.TrimSpace(string(data))
	create := func(cfg any) response {
		return call(t, "POST", "/api/v1/batches", tokens["alice"], map[string]any{
			"sequence_builder": `{"version": "1", "name": "pulser-exported"}`, "device_type": "EMU_FREE",
			"jobs": []map[string]any{{"runs": 10}}, "backend_configuration": cfg, "project_id": projA,
		}, true)
	}
	got := expect(t, create(valid), 200).data()
	if got["backend_configuration"] != valid {
		t.Errorf("backend_configuration is returned as sent, got %v", got["backend_configuration"])
	}
	expect(t, create(`"a legacy value"`), 200)
	for bad, field := range map[string]string{
		strings.Replace(valid, `"with_modulation": false`, `"with_modulation": true`, 1):              "backend_configuration.with_modulation",
		strings.Replace(valid, `"num_shots": 200`, `"num_shots": "many"`, 1):                          "backend_configuration.observables[0].num_shots",
		strings.Replace(valid, `"noise_types": []`, `"noise_types": ["leakage"]`, 1):                  "backend_configuration.noise_model.noise_types[0]",
		strings.Replace(valid, `"n_trajectories": 1`, `"n_trajectories": 1, "sampling_rate": 0.1`, 1): "backend_configuration.sampling_rate",
	} {
		envelopeFail(t, create(bad), 422, field)
	}
}
