package server_test

import (
	"strings"
	"testing"
)

// GET /api/v1/batches/{id}/queue_position places a waiting batch in its
// device type's queue in the scheduler's order (here: priority first, as both
// are MEDIUM), answers 404 to another project and to an unknown id, 401
// without a token, and takes a canceled batch out of the queue.
func TestQueuePosition(t *testing.T) {
	alice, bob := tokens["alice"], tokens["bob"]
	low := createBatch(t, alice, newBatch(projA, 1, map[string]any{"device_type": "FRESNEL", "priority": 1}))["id"].(string)
	high := createBatch(t, alice, newBatch(projA, 1, map[string]any{"device_type": "FRESNEL", "priority": 9}))["id"].(string)

	position := func(id string) map[string]any {
		t.Helper()
		return expect(t, call(t, "GET", "/api/v1/batches/"+id+"/queue_position", alice, nil, false), 200).data()
	}
	// The controller marks the jobs created just after the route answers.
	eventuallyT(t, "both batches queued", func() bool {
		return position(low)["waiting"] == true && position(high)["waiting"] == true
	})
	lo, hi := position(low), position(high)
	for _, p := range []map[string]any{lo, hi} {
		if p["reason"] != "Queued" || p["status"] != "PENDING" || p["device_type"] != "FRESNEL" || p["queue_priority"] != "MEDIUM" || p["device_id"] != nil {
			t.Errorf("queued batch: %v", p)
		}
		if p["queue_length"].(float64) < 2 || p["free_slots"] != 1.0 {
			t.Errorf("queue of FRESNEL (one idle QPU): %v", p)
		}
	}
	if hi["position"].(float64) >= lo["position"].(float64) {
		t.Errorf("priority 9 at %v, priority 1 at %v: the higher priority goes first", hi["position"], lo["position"])
	}
	if hi["priority"] != 9.0 || lo["priority"] != 1.0 {
		t.Errorf("priorities: %v, %v", hi["priority"], lo["priority"])
	}

	envelopeFail(t, call(t, "GET", "/api/v1/batches/"+high+"/queue_position", bob, nil, false), 404, high)
	envelopeFail(t, call(t, "GET", "/api/v1/batches/00000000-0000-0000-0000-000000000000/queue_position", alice, nil, false), 404, "00000000")
	envelopeFail(t, call(t, "GET", "/api/v1/batches/"+high+"/queue_position", "", nil, false), 401, "bearer token")

	// Canceled, the higher one leaves the queue and the lower one moves up.
	expect(t, call(t, "PUT", "/api/v1/batches/"+high+"/cancel", alice, nil, false), 200)
	p := position(high)
	if p["waiting"] != false || p["position"] != nil || p["status"] != "CANCELED" || p["reason"] != "Finished" {
		t.Errorf("canceled batch: %v", p)
	}
	if got := position(low); got["position"].(float64) != lo["position"].(float64)-1 {
		t.Errorf("after the cancel the lower batch is at %v, want %v", got["position"], lo["position"].(float64)-1)
	}
}

// GET /api/v1/devices/{id}/runner counts what a device runs, for anyone who
// may read devices; an unknown device is 404.
func TestDeviceRunner(t *testing.T) {
	r := expect(t, call(t, "GET", "/api/v1/devices/fresnel/runner", tokens["bob"], nil, false), 200).data()
	if r["device_id"] != "fresnel" || r["device_type"] != "FRESNEL" || r["capacity"] != 1.0 || r["running"] != 0.0 || len(r["batch_ids"].([]any)) != 0 {
		t.Errorf("idle QPU: %v", r)
	}
	envelopeFail(t, call(t, "GET", "/api/v1/devices/nope/runner", tokens["bob"], nil, false), 404, "nope")
	envelopeFail(t, call(t, "GET", "/api/v1/devices/fresnel/runner", tokens["nobody"], nil, false), 403, "devices")
}

// The console is served without a token (its API calls carry one), and the
// new routes are in the OpenAPI document.
func TestConsoleAndOpenAPI(t *testing.T) {
	if page := get(t, facade.URL+"/console"); !strings.Contains(page, `src="console/app.js"`) {
		t.Errorf("console page: %.300s", page)
	}
	paths := expect(t, call(t, "GET", "/openapi.json", "", nil, false), 200).body["paths"].(map[string]any)
	for _, p := range []string{"/api/v1/batches/{batch_id}/queue_position", "/api/v1/devices/{device_id}/runner"} {
		if _, ok := paths[p]; !ok {
			t.Errorf("openapi.json lacks %s", p)
		}
	}
}
