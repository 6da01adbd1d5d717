package restdoc

import (
	"encoding/json"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func decode(t *testing.T, v any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBatchFrom(t *testing.T) {
	later := metav1.NewTime(t0.Add(time.Minute))
	b := &quantumv1alpha1.Batch{
		ObjectMeta: metav1.ObjectMeta{
			Name: "b1", CreationTimestamp: metav1.NewTime(t0),
			ManagedFields: []metav1.ManagedFieldsEntry{{Time: &later}},
		},
		Spec: quantumv1alpha1.BatchSpec{
			SequenceBuilder: "{}", DeviceType: quantumv1alpha1.DeviceTypeFresnel, UserID: "alice", Open: true,
			Configuration: &apiextensionsv1.JSON{Raw: []byte(`{"dt":10}`)}, ParentID: "b0",
		},
		Status: quantumv1alpha1.BatchStatusFields{StartTime: &later},
	}
	jobs := []*quantumv1alpha1.Job{{Status: quantumv1alpha1.JobStatusFields{Phase: quantumv1alpha1.JobDone}}, {}}
	m := decode(t, BatchFrom(b, "proj", jobs, "DOWN"))
	want := map[string]any{
		"id": "b1", "parent_id": "b0", "status": "PENDING", "open": true, "complete": false, "user_id": "alice",
		"project_id": "proj", "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:05:05Z",
		"start_datetime": "2026-01-02T03:05:05Z", "end_datetime": nil, "device_status": "DOWN", "queue_priority": "MEDIUM",
		"jobs_count": 2.0, "webhook": nil, "backend_configuration": nil,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	per := m["jobs_count_per_status"].(map[string]any)
	if per["DONE"] != 1.0 || per["PENDING"] != 1.0 || per["ERROR"] != 0.0 || len(per) != 5 {
		t.Errorf("jobs_count_per_status: %v", per)
	}
	if m["configuration"].(map[string]any)["dt"] != 10.0 {
		t.Errorf("configuration: %v", m["configuration"])
	}
	if tags, ok := m["tags"].([]any); !ok || len(tags) != 0 {
		t.Errorf("tags must be a list: %v", m["tags"])
	}
}

func TestJobResults(t *testing.T) {
	j := &quantumv1alpha1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "j1", CreationTimestamp: metav1.NewTime(t0.Add(1500 * time.Microsecond))},
		Spec:       quantumv1alpha1.JobSpec{BatchName: "b1", Runs: 5, CreationOrder: 2},
	}
	m := decode(t, WithResult(j, "p", nil))
	if m["result"] != nil || m["full_result"] != nil || m["variables"] != nil || m["created_at"] != "2026-01-02T03:04:05.001500Z" {
		t.Errorf("no result yet: %v", m)
	}
	if errs, ok := m["errors"].([]any); !ok || len(errs) != 0 {
		t.Errorf("errors must be a list: %v", m["errors"])
	}
	j.Status.Counter = map[string]int64{"01": 5}
	m = decode(t, WithResult(j, "p", nil))
	if m["result"].(map[string]any)["01"] != 5.0 || m["full_result"].(map[string]any)["raw"] != nil {
		t.Errorf("counter only: %v", m)
	}
	m = decode(t, WithResult(j, "p", []byte(`{"counter":{"01":5},"raw":["01"]}`)))
	if len(m["full_result"].(map[string]any)["raw"].([]any)) != 1 {
		t.Errorf("stored: %v", m)
	}
}

func TestDeviceFrom(t *testing.T) {
	off := false
	d := &quantumv1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: "d"}, Spec: quantumv1alpha1.DeviceSpec{DeviceType: "EMU_TN", Active: &off}}
	m := decode(t, DeviceFrom(d, "{}", nil))
	if m["status"] != "UP" || m["active"] != false || m["specs"] != "{}" || m["name"] != "EMU_TN" || m["max_atom_num"] != nil || m["average_queue_time"] != nil {
		t.Errorf("device: %v", m)
	}
	wait := 2.5
	m = decode(t, DeviceFrom(d, `{"name": "Fresnel", "max_atom_num": 25}`, &wait))
	if m["name"] != "Fresnel" || m["max_atom_num"] != 25.0 || m["average_queue_time"] != 2.5 {
		t.Errorf("device from specs: %v", m)
	}
}
