package handlers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// queuedBatch is a PENDING batch of dt with its jobs created, created at t0+age.
func queuedBatch(ns, name string, dt v1.DeviceType, qp v1.QueuePriority, prio int32, age time.Duration) *v1.Batch {
	return &v1.Batch{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(t0.Add(age))},
		Spec:       v1.BatchSpec{DeviceType: dt, QueuePriority: qp, Priority: prio},
		Status: v1.BatchStatusFields{Phase: v1.BatchPending, Conditions: []metav1.Condition{
			{Type: v1.ConditionJobsCreated, Status: metav1.ConditionTrue, Reason: "Created"},
			{Type: v1.ConditionScheduled, Status: metav1.ConditionFalse, Reason: "Queued"},
		}},
	}
}

func running(b *v1.Batch, device string) *v1.Batch {
	b.Status.Phase, b.Status.DeviceID = v1.BatchRunning, device
	b.Status.Conditions[1] = metav1.Condition{Type: v1.ConditionScheduled, Status: metav1.ConditionTrue, Reason: "Started"}
	return b
}

func device(name string, dt v1.DeviceType, emulator bool, avail v1.DeviceAvailability, concurrency int32) v1.Device {
	return v1.Device{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.DeviceSpec{
		DeviceType: dt, IsEmulator: emulator, Availability: avail, Concurrency: concurrency, Active: ptr.To(true)}}
}

// The position follows the manager's queue order: queue priority, then
// turns shared across projects (here p1 runs the holder and p2's HIGH batch
// goes first, so p1, whose last start is the earlier, has the next MEDIUM
// turn), then priority and age; started, canceled, idle and jobless batches
// are not in the queue.
func TestPositionOfOrdersLikeTheScheduler(t *testing.T) {
	qpu := []v1.Device{device("fresnel", v1.DeviceTypeFresnel, false, v1.DeviceUp, 0)}
	holder := running(queuedBatch("p1", "holder", v1.DeviceTypeFresnel, v1.QueuePriorityLow, 0, 0), "fresnel")
	lowOld := queuedBatch("p1", "low-old", v1.DeviceTypeFresnel, v1.QueuePriorityLow, 0, time.Second)
	medNew := queuedBatch("p2", "med-new", v1.DeviceTypeFresnel, v1.QueuePriorityMedium, 0, 3*time.Second)
	medPrio := queuedBatch("p1", "med-prio", v1.DeviceTypeFresnel, v1.QueuePriorityMedium, 5, 4*time.Second)
	high := queuedBatch("p2", "high", v1.DeviceTypeFresnel, v1.QueuePriorityHigh, 0, 5*time.Second)
	canceled := queuedBatch("p1", "canceled", v1.DeviceTypeFresnel, v1.QueuePriorityHigh, 0, 0)
	canceled.Spec.Canceled = true
	idle := queuedBatch("p1", "idle", v1.DeviceTypeFresnel, v1.QueuePriorityHigh, 0, 0)
	idle.Spec.Open = true
	idle.Status.Conditions[1].Reason = PositionIdle
	jobless := queuedBatch("p1", "jobless", v1.DeviceTypeFresnel, v1.QueuePriorityHigh, 0, 0)
	jobless.Status.Conditions = nil
	all := []*v1.Batch{holder, lowOld, medNew, medPrio, high, canceled, idle, jobless}

	want := map[*v1.Batch]int{high: 1, medPrio: 2, medNew: 3, lowOld: 4}
	for b, pos := range want {
		got := PositionOf(b, all, qpu)
		if !got.Waiting || got.Position == nil || *got.Position != pos {
			t.Errorf("%s: position %v (waiting %v), want %d", b.Name, got.Position, got.Waiting, pos)
		}
		if got.QueueLength != 4 || got.Reason != "Queued" || got.FreeSlots != 0 {
			t.Errorf("%s: %+v, want 4 queued, reason Queued, no free slot", b.Name, got)
		}
	}
	if got := PositionOf(high, all, qpu); got.Message != "next to start: every FRESNEL device is busy" {
		t.Errorf("head's message %q", got.Message)
	}
	if got := PositionOf(lowOld, all, qpu); got.Message != "3 batch(es) ahead of it on FRESNEL (3 of a higher queue priority)" {
		t.Errorf("last one's message %q", got.Message)
	}
	for b, reason := range map[*v1.Batch]string{holder: PositionRunning, canceled: PositionCanceled, idle: PositionIdle, jobless: PositionJobsNotCreated} {
		got := PositionOf(b, all, qpu)
		if got.Waiting || got.Position != nil || got.Reason != reason {
			t.Errorf("%s: %+v, want not waiting, reason %s", b.Name, got, reason)
		}
	}
	if got := PositionOf(holder, all, qpu); got.DeviceID == nil || *got.DeviceID != "fresnel" || got.Status != "RUNNING" {
		t.Errorf("holder: %+v, want RUNNING on fresnel", got)
	}
}

// A batch not in the list it is placed among (a cache that lags) still
// gets its place; a finished batch is out of the queue.
func TestPositionOfSelfAndFinished(t *testing.T) {
	emu := []v1.Device{device("emu-1", v1.DeviceTypeEmuFree, true, v1.DeviceUp, 2)}
	a := queuedBatch("p", "a", v1.DeviceTypeEmuFree, "", 0, 0)
	b := queuedBatch("p", "b", v1.DeviceTypeEmuFree, "", 0, time.Second)
	got := PositionOf(b, []*v1.Batch{a}, emu)
	if got.Position == nil || *got.Position != 2 || got.QueueLength != 2 || got.QueuePriority != "MEDIUM" || got.FreeSlots != 2 {
		t.Errorf("b: %+v, want 2nd of 2 in MEDIUM with 2 free slots", got)
	}
	// The batch itself holds room when it runs, even when the list lacks it.
	if got := PositionOf(running(queuedBatch("p", "c", v1.DeviceTypeEmuFree, "", 0, 0), "emu-1"), []*v1.Batch{a}, emu); got.FreeSlots != 1 || got.Reason != PositionRunning {
		t.Errorf("running c: %+v, want 1 free slot left", got)
	}
	done := queuedBatch("p", "done", v1.DeviceTypeEmuFree, "", 0, 0)
	done.Status.Phase = v1.BatchDone
	if got := PositionOf(done, []*v1.Batch{a, done}, emu); got.Waiting || got.Reason != PositionFinished || got.Status != "DONE" || got.QueueLength != 1 {
		t.Errorf("done: %+v", got)
	}
}

// The reason a queued batch waits comes from scheduler.Why on the type's devices.
func TestPositionOfReasons(t *testing.T) {
	b := queuedBatch("p", "b", v1.DeviceTypeFresnel, v1.QueuePriorityHigh, 0, 0)
	down := device("fresnel", v1.DeviceTypeFresnel, false, v1.DeviceDown, 0)
	inactive := device("old", v1.DeviceTypeFresnel, false, v1.DeviceUp, 0)
	inactive.Spec.Active = ptr.To(false)
	for _, c := range []struct {
		devices []v1.Device
		reason  string
		message string
	}{
		{nil, "NoDevice", "no device of type FRESNEL exists"},
		{[]v1.Device{inactive}, "NoActiveDevice", "every device of type FRESNEL is inactive"},
		{[]v1.Device{down, inactive}, "DeviceDown", "every device of type FRESNEL is DOWN"},
		{[]v1.Device{device("fresnel", v1.DeviceTypeFresnel, false, v1.DeviceUp, 0)}, "Queued", "next to start: a device has room"},
	} {
		got := PositionOf(b, []*v1.Batch{b}, c.devices)
		if !got.Waiting || *got.Position != 1 || got.Reason != c.reason || !strings.HasPrefix(got.Message, c.message) {
			t.Errorf("devices %d: %+v, want reason %s, message %q", len(c.devices), got, c.reason, c.message)
		}
	}
}

// The position shares the turns across projects as the manager's queue
// does: a project's single batch waits behind one batch of a project that
// queued many, not behind all of them; a project's last start, finished
// batches included, breaks the tie.
func TestPositionOfSharesTurnsAcrossProjects(t *testing.T) {
	qpu := []v1.Device{device("fresnel", v1.DeviceTypeFresnel, false, v1.DeviceUp, 0)}
	var all []*v1.Batch
	for i := range 5 {
		all = append(all, queuedBatch("flood", fmt.Sprintf("a%d", i), v1.DeviceTypeFresnel, v1.QueuePriorityMedium, 0, time.Duration(i)*time.Second))
	}
	single := queuedBatch("quiet", "b", v1.DeviceTypeFresnel, v1.QueuePriorityMedium, 0, time.Minute)
	all = append(all, single)
	if got := PositionOf(single, all, qpu); got.Position == nil || *got.Position != 2 || got.QueueLength != 6 {
		t.Fatalf("single batch: %+v, want 2nd of 6", got)
	}
	if got := PositionOf(all[1], all, qpu); got.Position == nil || *got.Position != 3 {
		t.Fatalf("flood's second batch: %+v, want 3rd", got)
	}
	// The flooding project started a batch that has ended; the quiet one
	// never did: the quiet project's batch is next.
	done := running(queuedBatch("flood", "done", v1.DeviceTypeFresnel, v1.QueuePriorityMedium, 0, -time.Hour), "fresnel")
	done.Status.Phase = v1.BatchDone
	done.Status.StartTime = &metav1.Time{Time: t0}
	if got := PositionOf(single, append(all, done), qpu); got.Position == nil || *got.Position != 1 {
		t.Fatalf("single batch after the flood's start: %+v, want 1st", got)
	}
}
