// Package scheduler holds the pure queueing rules of Tweezer: the order in
// which pending batches of one device type start, and which device has room
// for the next one. It reads no API server and keeps no state; the Batch
// reconciler feeds it what its cache sees.
//
// The order: queue priority first (HIGH, MEDIUM, LOW), whatever the
// project. Among the batches of one queue priority the turns are shared
// fairly across projects (a project is the batch's namespace): the next one
// goes to the project that runs the fewest batches on the device type's
// devices; ties to the project that started a batch on them the longest ago
// (never first), then to the one whose oldest waiting batch is the oldest.
// Within a project batches start by priority, then age. A project that
// queues 50 batches thus delays another project's single batch by one turn,
// not 50, even on a device that runs one batch at a time (where nobody runs
// anything when the next batch is chosen, so the running count alone would
// leave the order first come, first served).
package scheduler

import (
	"slices"
	"time"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// Item is a pending batch as the queue sees it.
type Item struct {
	// Key identifies the batch ("namespace/name").
	Key string
	// Project is the batch's project (its namespace): the turns of one
	// queue priority are shared fairly across projects.
	Project string
	// QueuePriority is compared first: HIGH before MEDIUM before LOW.
	QueuePriority quantumv1alpha1.QueuePriority
	// Priority orders a project's batches: higher first.
	Priority int32
	// Created then orders them: older first. Key breaks the remaining ties.
	Created time.Time
}

// Less reports whether a starts before b in one project's queue (queue
// priority, priority, age, key); Order shares the turns across projects.
func Less(a, b Item) bool {
	if ra, rb := a.QueuePriority.Rank(), b.QueuePriority.Rank(); ra != rb {
		return ra > rb
	}
	if a.Priority != b.Priority {
		return a.Priority > b.Priority
	}
	if !a.Created.Equal(b.Created) {
		return a.Created.Before(b.Created)
	}
	return a.Key < b.Key
}

// Sort orders items by Less, in place: the queue order of a single project.
func Sort(items []Item) { copy(items, sorted(items)) }

// sorted returns a copy of items ordered by Less. It sorts indices, not the
// items themselves: moving small integers is much cheaper than moving
// structs that hold strings.
func sorted(items []Item) []Item {
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(i, j int) int {
		switch {
		case Less(items[i], items[j]):
			return -1
		case Less(items[j], items[i]):
			return 1
		}
		return 0
	})
	out := make([]Item, len(items))
	for k, i := range idx {
		out[k] = items[i]
	}
	return out
}

// Usage is what a project holds of a queue's devices.
type Usage struct {
	// Running is how many of its batches run on them now.
	Running int
	// LastStart is when it last started a batch on them; zero: never.
	LastStart time.Time
}

// Order returns the items in the order they start, if none of the running
// batches ended meanwhile. usage is each project's use of the queue's
// devices (a project absent from it uses none). Neither is modified.
func Order(items []Item, usage map[string]Usage) []Item {
	return order(items, usage, len(items))
}

// turns is a project's usage as the order unfolds: a batch it starts in the
// order counts as running and as its latest start (seq, later than any
// LastStart).
type turns struct {
	Usage
	seq int
}

// order returns the first n items of the queue order.
func order(items []Item, usage map[string]Usage, n int) []Item {
	queue := sorted(items)
	held := make(map[string]*turns, len(usage))
	for p, u := range usage {
		held[p] = &turns{Usage: u}
	}
	seq := 0
	out := make([]Item, 0, min(n, len(queue)))
	for start := 0; start < len(queue) && len(out) < n; {
		end := start + 1
		for end < len(queue) && queue[end].QueuePriority.Rank() == queue[start].QueuePriority.Rank() {
			end++
		}
		out = share(queue[start:end], held, &seq, out, n)
		start = end
	}
	return out
}

// projectQueue is one project's batches of one queue priority, as indices
// into the level's items.
type projectQueue struct {
	*turns
	name string
	next []int // by Less: the batch it starts next first
	// oldest[k] is the creation time of the oldest of next[k:]: the batches
	// start from the head of next, so those still waiting are a suffix.
	oldest []time.Time
	head   int // next[head:] wait
}

// share appends to out, up to n items in all, the items of one queue
// priority (sorted by Less) in fair-share order, counting each start in
// held.
func share(level []Item, held map[string]*turns, seq *int, out []Item, n int) []Item {
	var queues []*projectQueue
	byName := map[string]*projectQueue{}
	for i, it := range level {
		q := byName[it.Project]
		if q == nil {
			t := held[it.Project]
			if t == nil {
				t = &turns{}
				held[it.Project] = t
			}
			q = &projectQueue{turns: t, name: it.Project}
			byName[it.Project] = q
			queues = append(queues, q)
		}
		q.next = append(q.next, i)
	}
	for _, q := range queues {
		q.oldest = make([]time.Time, len(q.next))
		for k := len(q.next) - 1; k >= 0; k-- {
			q.oldest[k] = level[q.next[k]].Created
			if k+1 < len(q.next) && q.oldest[k+1].Before(q.oldest[k]) {
				q.oldest[k] = q.oldest[k+1]
			}
		}
	}
	for len(out) < n {
		var pick *projectQueue
		for _, q := range queues {
			if q.head < len(q.next) && (pick == nil || before(q, pick)) {
				pick = q
			}
		}
		if pick == nil {
			break
		}
		i := pick.next[pick.head]
		pick.head++
		*seq++
		pick.Running++
		pick.seq = *seq
		out = append(out, level[i])
	}
	return out
}

// before reports whether project a takes the next turn before project b:
// fewer batches running, then the earlier last start, then the older oldest
// waiting batch, then the name.
func before(a, b *projectQueue) bool {
	if a.Running != b.Running {
		return a.Running < b.Running
	}
	if a.seq != b.seq {
		return a.seq < b.seq
	}
	if !a.LastStart.Equal(b.LastStart) {
		return a.LastStart.Before(b.LastStart)
	}
	if oa, ob := a.oldest[a.head], b.oldest[b.head]; !oa.Equal(ob) {
		return oa.Before(ob)
	}
	return a.name < b.name
}

// Slot is a device of the queue's type and how many batches it runs.
type Slot struct {
	// Device is the Device's name.
	Device string
	// Usable is false for a DOWN or inactive device: it starts nothing new.
	Usable bool
	// Capacity is how many batches the device runs at once (1 for a QPU).
	Capacity int
	// Running is how many batches it runs now.
	Running int
}

// Free is how many more batches the slot can start now.
func (s Slot) Free() int {
	if !s.Usable || s.Running >= s.Capacity {
		return 0
	}
	return s.Capacity - s.Running
}

// Capacity returns the batch capacity of a device: its concurrency for an
// emulator, one for a QPU.
func Capacity(d *quantumv1alpha1.Device) int {
	if IsQPU(d) {
		return 1
	}
	if d.Spec.Concurrency < 1 {
		return 1
	}
	return int(d.Spec.Concurrency)
}

// IsQPU reports whether a device is a quantum processor (it runs one batch at
// a time, held through a Lease).
func IsQPU(d *quantumv1alpha1.Device) bool { return !d.Spec.IsEmulator }

// Usable reports whether a device may start batches: active and UP.
func Usable(d *quantumv1alpha1.Device) bool {
	return d.IsActive() && d.Spec.Availability != quantumv1alpha1.DeviceDown
}

// Assignment starts the batch Key on Device.
type Assignment struct {
	Key    string
	Device string
}

// Plan returns the batches that start now: the head of the queue's Order
// (usage is each project's use of these devices), each on the usable device
// with the most free room (ties by name). The queue never lets a later batch
// overtake the head: when nothing is free, nothing starts.
func Plan(queue []Item, slots []Slot, usage map[string]Usage) []Assignment {
	free := append([]Slot(nil), slots...)
	room := 0
	for _, s := range free {
		room += s.Free()
	}
	var out []Assignment
	for _, it := range order(queue, usage, room) {
		best := -1
		for i, s := range free {
			if s.Free() == 0 {
				continue
			}
			if best < 0 || s.Free() > free[best].Free() ||
				(s.Free() == free[best].Free() && s.Device < free[best].Device) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		free[best].Running++
		out = append(out, Assignment{Key: it.Key, Device: free[best].Device})
	}
	return out
}

// Waiting explains why a batch of a device type does not start.
type Waiting string

// The reasons a pending batch waits, as condition reasons.
const (
	// WaitingNoDevice: no Device of the batch's type exists.
	WaitingNoDevice Waiting = "NoDevice"
	// WaitingNoActiveDevice: every Device of the type is inactive.
	WaitingNoActiveDevice Waiting = "NoActiveDevice"
	// WaitingDeviceDown: the type's active devices are all DOWN (the batch is PAUSED).
	WaitingDeviceDown Waiting = "DeviceDown"
	// WaitingQueued: a device is up; the batch waits for its turn.
	WaitingQueued Waiting = "Queued"
)

// Why tells why batches of a type with these devices wait.
func Why(devices []quantumv1alpha1.Device) Waiting {
	if len(devices) == 0 {
		return WaitingNoDevice
	}
	active := false
	for i := range devices {
		if Usable(&devices[i]) {
			return WaitingQueued
		}
		active = active || devices[i].IsActive()
	}
	if !active {
		return WaitingNoActiveDevice
	}
	return WaitingDeviceDown
}
