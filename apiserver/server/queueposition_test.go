package server_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
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

	// Canceled, the higher one leaves the queue and the lower one moves up:
	// by one or more, as the turns are shared across projects (with the
	// shared suite's other batches waiting on FRESNEL, alice's project may
	// also win a tie it lost while the higher batch held its turn).
	expect(t, call(t, "PUT", "/api/v1/batches/"+high+"/cancel", alice, nil, false), 200)
	p := position(high)
	if p["waiting"] != false || p["position"] != nil || p["status"] != "CANCELED" || p["reason"] != "Finished" {
		t.Errorf("canceled batch: %v", p)
	}
	if got := position(low); got["position"].(float64) >= lo["position"].(float64) || got["position"].(float64) < 1 {
		t.Errorf("after the cancel the lower batch is at %v, want ahead of %v", got["position"], lo["position"])
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

// A device's runner lists only the running batches the caller may read: a
// member of another project sees the batch counted, never its id.
func TestDeviceRunnerHidesOtherProjectsBatches(t *testing.T) {
	ctx := context.Background()
	id := createBatch(t, tokens["alice"], newBatch(projA, 1, nil))["id"].(string)
	setPhase := func(phase quantumv1alpha1.BatchStatus) {
		patch := fmt.Sprintf(`{"status":{"phase":%q,"deviceID":"emu-free"}}`, phase)
		b := &quantumv1alpha1.Batch{ObjectMeta: metav1.ObjectMeta{Namespace: projA, Name: id}}
		if err := admin.Status().Patch(ctx, b, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			t.Fatal(err)
		}
	}
	setPhase(quantumv1alpha1.BatchRunning)
	t.Cleanup(func() { setPhase(quantumv1alpha1.BatchDone) })

	ids := func(token string) (running float64, seen []any) {
		r := expect(t, call(t, "GET", "/api/v1/devices/emu-free/runner", token, nil, false), 200).data()
		return r["running"].(float64), r["batch_ids"].([]any)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, seen := ids(tokens["alice"]); slices.Contains(seen, any(id)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the owner never saw her running batch on the device")
		}
	}
	running, seen := ids(tokens["bob"])
	if running < 1 {
		t.Errorf("another project's member sees %v running batches, want the batch counted", running)
	}
	if slices.Contains(seen, any(id)) {
		t.Errorf("another project's member sees the batch id %s: %v", id, seen)
	}
}
