package scheduler

import (
	"fmt"
	"reflect"
	"sort"
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
			if got := Plan(queue, c.slots, nil); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Plan = %v, want %v", got, c.want)
			}
		})
	}
}

// in is item with a project.
func in(project, key string, qp quantumv1alpha1.QueuePriority, prio int32, age time.Duration) Item {
	it := item(key, qp, prio, age)
	it.Project = project
	return it
}

// flood is n batches of project p, a minute apart, the first the oldest.
func flood(p string, n int) []Item {
	var out []Item
	for i := range n {
		out = append(out, in(p, fmt.Sprintf("%s%02d", p, i), quantumv1alpha1.QueuePriorityMedium, 0, time.Hour-time.Duration(i)*time.Minute))
	}
	return out
}

func TestOrderSharesTurnsAcrossProjects(t *testing.T) {
	med, high, low := quantumv1alpha1.QueuePriorityMedium, quantumv1alpha1.QueuePriorityHigh, quantumv1alpha1.QueuePriorityLow
	cases := []struct {
		name  string
		items []Item
		usage map[string]Usage
		want  []string
	}{
		{"one project alone: priority, then age, as before",
			[]Item{in("a", "young", med, 0, 0), in("a", "old", med, 0, time.Hour), in("a", "prio", med, 5, 0), in("a", "high", high, 0, 0), in("a", "low", low, 9, 2*time.Hour)},
			map[string]Usage{"a": {Running: 3, LastStart: t0}},
			[]string{"high", "prio", "old", "young", "low"}},
		{"a flood and a later single batch: the single one goes second",
			append(flood("A", 20), in("B", "B00", med, 0, 0)), nil,
			append([]string{"A00", "B00"}, keys(flood("A", 20)[1:])...)},
		{"the project running fewer batches goes first, whatever its batches' age",
			[]Item{in("a", "a-old", med, 0, time.Hour), in("b", "b-young", med, 0, 0)},
			map[string]Usage{"a": {Running: 2}, "b": {Running: 1}},
			[]string{"b-young", "a-old"}},
		{"running alike: the project that started one the longest ago, never first",
			[]Item{in("a", "a-old", med, 0, time.Hour), in("b", "b-young", med, 0, 0), in("c", "c-mid", med, 0, time.Minute)},
			map[string]Usage{"a": {LastStart: t0}, "b": {LastStart: t0.Add(-time.Second)}},
			[]string{"c-mid", "b-young", "a-old"}},
		{"running and started alike: the oldest waiting batch's project, then by turns",
			[]Item{in("a", "a1", med, 0, time.Minute), in("a", "a2", med, 0, 2*time.Minute), in("b", "b1", med, 0, time.Hour), in("b", "b2", med, 0, 0)},
			nil,
			[]string{"b1", "a2", "b2", "a1"}},
		{"a project's own batches keep priority then age; its priority does not outrank other projects",
			[]Item{in("a", "a-prio", med, 9, 0), in("a", "a-old", med, 0, time.Hour), in("b", "b", med, 0, 2*time.Hour)},
			nil,
			[]string{"b", "a-prio", "a-old"}},
		{"queue priority still wins across projects",
			[]Item{in("a", "a-high", high, 0, 0), in("b", "b-med", med, 0, time.Hour), in("b", "b-low", low, 0, 2*time.Hour), in("a", "a-high2", high, 0, 0)},
			map[string]Usage{"a": {Running: 5}},
			[]string{"a-high", "a-high2", "b-med", "b-low"}},
		{"turns taken in a higher queue priority count in the lower one",
			[]Item{in("a", "a-high", high, 0, 0), in("a", "a-med", med, 0, time.Hour), in("b", "b-med", med, 0, 0)},
			nil,
			[]string{"a-high", "b-med", "a-med"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := fmt.Sprint(c.usage)
			if got := keys(Order(c.items, c.usage)); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Order = %v, want %v", got, c.want)
			}
			if fmt.Sprint(c.usage) != before {
				t.Fatalf("Order changed its usage argument: %s, was %s", fmt.Sprint(c.usage), before)
			}
		})
	}
}

// On a device that runs one batch at a time, A's 20 queued batches and B's
// one, queued later, start A, B, then A's others: each start is planned when
// the previous batch ended, with nothing running.
func TestPlanSharesAOneBatchDevice(t *testing.T) {
	queue := append(flood("A", 20), in("B", "B00", quantumv1alpha1.QueuePriorityMedium, 0, 0))
	usage := map[string]Usage{}
	var started []string
	for step := range 21 {
		slots := []Slot{{Device: "fresnel", Usable: true, Capacity: 1}}
		got := Plan(queue, slots, usage)
		if len(got) != 1 || got[0].Device != "fresnel" {
			t.Fatalf("step %d: Plan = %v, want one batch on fresnel", step, got)
		}
		started = append(started, got[0].Key)
		// It runs (the device is full), then ends.
		slots[0].Running = 1
		if more := Plan(queue, slots, usage); more != nil {
			t.Fatalf("step %d: a full device starts %v", step, more)
		}
		for i, it := range queue {
			if it.Key == got[0].Key {
				usage[it.Project] = Usage{LastStart: t0.Add(time.Duration(step) * time.Second)}
				queue = append(queue[:i], queue[i+1:]...)
				break
			}
		}
	}
	if started[1] != "B00" {
		t.Fatalf("B's batch started %s, want second: %v", ordinal(started, "B00"), started)
	}
	if want := keys(flood("A", 20)); !reflect.DeepEqual(append(started[:1:1], started[2:]...), want) {
		t.Fatalf("A's batches started %v, want %v", started, want)
	}
}

func ordinal(keys []string, key string) string {
	for i, k := range keys {
		if k == key {
			return fmt.Sprintf("#%d", i+1)
		}
	}
	return "never"
}

// Plan fills the free room with the head of Order: a project that already
// runs batches waits for one that runs none, across devices of the type.
func TestPlanFairAcrossDevicesOfAType(t *testing.T) {
	queue := append(flood("A", 5), in("B", "B00", quantumv1alpha1.QueuePriorityMedium, 0, 0), in("C", "C00", quantumv1alpha1.QueuePriorityMedium, 0, 0))
	slots := []Slot{{Device: "x", Usable: true, Capacity: 2, Running: 2}, {Device: "y", Usable: true, Capacity: 3, Running: 1}}
	usage := map[string]Usage{"A": {Running: 2}, "B": {Running: 1}}
	want := []Assignment{{"C00", "y"}, {"B00", "y"}}
	if got := Plan(queue, slots, usage); !reflect.DeepEqual(got, want) {
		t.Fatalf("Plan = %v, want %v", got, want)
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

// BenchmarkPlan plans one free slot for a queue of 2,000 batches, all of
// one project or spread over 100 projects. The baseline, "before", is what
// planning cost before fair sharing: a copy of the queue stably sorted by
// Less with sort.SliceStable (then a pass that planned its head).
func BenchmarkPlan(b *testing.B) {
	for _, projects := range []int{1, 100} {
		var queue []Item
		usage := map[string]Usage{}
		for i := range 2000 {
			p := fmt.Sprintf("p%03d", i%projects)
			queue = append(queue, in(p, fmt.Sprintf("%s/b%04d", p, i), quantumv1alpha1.QueuePriorityMedium, int32(i%3), time.Duration(i)*time.Second))
			usage[p] = Usage{Running: i % 2, LastStart: t0.Add(-time.Duration(i) * time.Minute)}
		}
		slots := []Slot{{Device: "d", Usable: true, Capacity: 4, Running: 3}}
		b.Run(fmt.Sprintf("projects=%d/before", projects), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				items := append([]Item(nil), queue...)
				sort.SliceStable(items, func(i, j int) bool { return Less(items[i], items[j]) })
			}
		})
		b.Run(fmt.Sprintf("projects=%d/plan", projects), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if len(Plan(queue, slots, usage)) != 1 {
					b.Fatal("want one batch planned")
				}
			}
		})
	}
}
