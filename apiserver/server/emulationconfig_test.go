package server_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
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

// pasqal-cloud >= 0.22 may send no batch sequence and one per job: each
// job is served with its own sequence; a job with neither is refused.
func TestPerJobSequences(t *testing.T) {
	tok := tokens["alice"]
	seq := `{"version": "1", "name": "job-own"}`
	batch := expect(t, call(t, "POST", "/api/v1/batches", tok, map[string]any{
		"sequence_builder": nil, "device_type": "EMU_FREE", "open": true, "project_id": projA,
		"jobs": []map[string]any{{"runs": 10, "variables": nil, "sequence": seq}},
	}, true), 200).data()
	jobs := batch["jobs"].([]any)
	if len(jobs) != 1 || jobs[0].(map[string]any)["sequence"] != seq {
		t.Fatalf("the job's own sequence is served: %v", jobs)
	}
	if batch["sequence_builder"] != "" && batch["sequence_builder"] != nil {
		t.Errorf("no batch sequence: %v", batch["sequence_builder"])
	}
	id := batch["id"].(string)
	envelopeFail(t, call(t, "POST", "/api/v2/batches/"+id+"/jobs", tok, []map[string]any{{"runs": 5}}, true), 422, "[0].sequence")
	added := expect(t, call(t, "POST", "/api/v2/batches/"+id+"/jobs", tok, []map[string]any{{"runs": 5, "sequence": seq}}, true), 200).data()
	if added["jobs_count"] != 2.0 {
		t.Fatalf("add_jobs with a sequence: %v", added)
	}
	envelopeFail(t, call(t, "POST", "/api/v1/batches", tok, map[string]any{
		"sequence_builder": nil, "device_type": "EMU_FREE", "project_id": projA,
		"jobs": []map[string]any{{"runs": 10, "sequence": seq}, {"runs": 10}},
	}, true), 422, "jobs[1].sequence")
	// A batch with a sequence: jobs need none, and serve null.
	withSeq := expect(t, call(t, "POST", "/api/v1/batches", tok, map[string]any{
		"sequence_builder": seq, "device_type": "EMU_FREE", "project_id": projA, "jobs": []map[string]any{{"runs": 10}},
	}, true), 200).data()
	if s := withSeq["jobs"].([]any)[0].(map[string]any)["sequence"]; s != nil {
		t.Errorf("a job running its batch's sequence serves sequence null, got %v", s)
	}
}

// A StateResult (Tweezer's extension of Pulser's schema) is accepted on a
// register whose states fit the cap, and refused with a 422 naming the
// observable on the batch's register or on a job's own when they do not,
// at creation and on add-jobs.
func TestStateResultCapAtBatchCreation(t *testing.T) {
	data, err := os.ReadFile("../../internal/emulationconfig/testdata/config.json")
	if err != nil {
		t.Fatal(err)
	}
	valid := strings.TrimSpace(string(data))
	state := `{"observable": "state", "evaluation_times": [0.5, 1.0], "tag_suffix": null}`
	i := strings.Index(valid, `"observables": [`) + len(`"observables": [`)
	cfg := valid[:i] + state + ", " + valid[i:]
	register := func(n int) string {
		atoms := make([]string, n)
		for k := range atoms {
			atoms[k] = fmt.Sprintf(`{"name": "q%d", "x": %d, "y": 0}`, k, 6*k)
		}
		return `{"version": "1", "name": "pulser-exported", "register": [` + strings.Join(atoms, ", ") + `]}`
	}
	tok := tokens["alice"]
	create := func(seq string, jobs []map[string]any) response {
		return call(t, "POST", "/api/v1/batches", tok, map[string]any{
			"sequence_builder": seq, "device_type": "EMU_FREE", "open": true,
			"jobs": jobs, "backend_configuration": cfg, "project_id": projA,
		}, true)
	}
	batch := expect(t, create(register(2), []map[string]any{{"runs": 10}}), 200).data()
	envelopeFail(t, create(register(12), []map[string]any{{"runs": 10}}), 422, "backend_configuration.observables[0]")
	envelopeFail(t, create(register(2), []map[string]any{{"runs": 10}, {"runs": 10, "sequence": register(12)}}), 422, "backend_configuration.observables[0]")
	id := batch["id"].(string)
	envelopeFail(t, call(t, "POST", "/api/v2/batches/"+id+"/jobs", tok, []map[string]any{{"runs": 5, "sequence": register(12)}}, true), 422, "backend_configuration.observables[0]")
	expect(t, call(t, "POST", "/api/v2/batches/"+id+"/jobs", tok, []map[string]any{{"runs": 5, "sequence": register(3)}}, true), 200)

	// The MPS engine computes no StateResult: refused at creation, naming
	// the observable, for both of its device types; nothing is created.
	for _, dt := range []string{"EMU_MPS", "EMU_TN"} {
		before := batchesIn(t, projA)
		r := call(t, "POST", "/api/v1/batches", tok, map[string]any{
			"sequence_builder": register(2), "device_type": dt,
			"jobs": []map[string]any{{"runs": 10}}, "backend_configuration": cfg, "project_id": projA,
		}, true)
		envelopeFail(t, r, 422, "backend_configuration.observables[0]")
		if after := batchesIn(t, projA); after != before {
			t.Errorf("%s: a refused batch left %d batches behind", dt, after-before)
		}
	}
}

// batchesIn counts the Batch objects of a project, as an administrator.
func batchesIn(t *testing.T, project string) int {
	t.Helper()
	var list quantumv1alpha1.BatchList
	if err := admin.List(context.Background(), &list, client.InNamespace(project)); err != nil {
		t.Fatal(err)
	}
	return len(list.Items)
}
