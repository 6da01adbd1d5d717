package scheduler

import (
	"reflect"
	"testing"
	"time"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func item(key string, qp quantumv1alpha1.QueuePriority, prio int32, age time.Duration) Item {
	return Item{Key: key, QueuePriority: qp, Priority: prio, Created: t0.Add(-age)}
}

func keys(items []Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.Key)
	}
	return out
}

func TestSortOrdersByQueuePriorityThenPriorityThenAgeThenKey(t *testing.T) {
	items := []Item{
		item("low-high-prio", quantumv1alpha1.QueuePriorityLow, 100, time.Hour),
		item("medium-1", quantumv1alpha1.QueuePriorityMedium, 1, time.Hour),
		item("high-0", quantumv1alpha1.QueuePriorityHigh, 0, 0),
		item("medium-5-young", quantumv1alpha1.QueuePriorityMedium, 5, time.Minute),
		item("medium-5-old", quantumv1alpha1.QueuePriorityMedium, 5, time.Hour),
		item("high-3", quantumv1alpha1.QueuePriorityHigh, 3, 0),
		item("unknown", "", 50, 2*time.Hour),
		item("b-tie", quantumv1alpha1.QueuePriorityLow, 0, 0),
		item("a-tie", quantumv1alpha1.QueuePriorityLow, 0, 0),
	}
	Sort(items)
	want := []string{"high-3", "high-0", "medium-5-old", "medium-5-young", "medium-1", "low-high-prio", "unknown", "a-tie", "b-tie"}
	if got := keys(items); !reflect.DeepEqual(got, want) {
		t.Fatalf("order = %v, want %v", got, want)
	}
}

func TestPlanFillsFreeRoomInQueueOrder(t *testing.T) {
	queue := []Item{
		item("c", quantumv1alpha1.QueuePriorityLow, 0, 0),
		item("a", quantumv1alpha1.QueuePriorityHigh, 0, 0),
		item("b", quantumv1alpha1.QueuePriorityMedium, 0, 0),
	}
	cases := []struct {
		name  string
		slots []Slot
		want  []Assignment
	}{
		{"no device", nil, nil},
		{"full device", []Slot{{Device: "d", Usable: true, Capacity: 1, Running: 1}}, nil},
		{"down device", []Slot{{Device: "d", Usable: false, Capacity: 4}}, nil},
		{"one free", []Slot{{Device: "d", Usable: true, Capacity: 2, Running: 1}},
			[]Assignment{{"a", "d"}}},
		{"room for all", []Slot{{Device: "d", Usable: true, Capacity: 5}},
			[]Assignment{{"a", "d"}, {"b", "d"}, {"c", "d"}}},
		{"spread over the freest device, ties by name", []Slot{
			{Device: "y", Usable: true, Capacity: 2},
			{Device: "x", Usable: true, Capacity: 2},
			{Device: "z", Usable: false, Capacity: 9},
		}, []Assignment{{"a", "x"}, {"b", "y"}, {"c", "x"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Plan(queue, c.slots); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Plan = %v, want %v", got, c.want)
			}
		})
	}
}

func TestCapacityAndUsable(t *testing.T) {
	f := false
	qpu := &quantumv1alpha1.Device{Spec: quantumv1alpha1.DeviceSpec{IsEmulator: false, Concurrency: 8}}
	emu := &quantumv1alpha1.Device{Spec: quantumv1alpha1.DeviceSpec{IsEmulator: true, Concurrency: 3}}
	zero := &quantumv1alpha1.Device{Spec: quantumv1alpha1.DeviceSpec{IsEmulator: true}}
	if Capacity(qpu) != 1 || Capacity(emu) != 3 || Capacity(zero) != 1 {
		t.Fatalf("capacities = %d %d %d, want 1 3 1", Capacity(qpu), Capacity(emu), Capacity(zero))
	}
	down := &quantumv1alpha1.Device{Spec: quantumv1alpha1.DeviceSpec{Availability: quantumv1alpha1.DeviceDown}}
	inactive := &quantumv1alpha1.Device{Spec: quantumv1alpha1.DeviceSpec{Active: &f}}
	if Usable(down) || Usable(inactive) || !Usable(emu) {
		t.Fatal("DOWN and inactive devices start nothing; an active UP one does")
	}
}

func TestWhy(t *testing.T) {
	f := false
	up := quantumv1alpha1.Device{Spec: quantumv1alpha1.DeviceSpec{Availability: quantumv1alpha1.DeviceUp}}
	down := quantumv1alpha1.Device{Spec: quantumv1alpha1.DeviceSpec{Availability: quantumv1alpha1.DeviceDown}}
	inactive := quantumv1alpha1.Device{Spec: quantumv1alpha1.DeviceSpec{Availability: quantumv1alpha1.DeviceUp, Active: &f}}
	cases := []struct {
		devices []quantumv1alpha1.Device
		want    Waiting
	}{
		{nil, WaitingNoDevice},
		{[]quantumv1alpha1.Device{inactive}, WaitingNoActiveDevice},
		{[]quantumv1alpha1.Device{inactive, down}, WaitingDeviceDown},
		{[]quantumv1alpha1.Device{down, up}, WaitingQueued},
	}
	for _, c := range cases {
		if got := Why(c.devices); got != c.want {
			t.Errorf("Why(%d devices) = %s, want %s", len(c.devices), got, c.want)
		}
	}
}
