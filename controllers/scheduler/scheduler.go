// Package scheduler holds the pure queueing rules of Tweezer: the order in
// which pending batches of one device type start, and which device has room
// for the next one. It reads no API server and keeps no state; the Batch
// reconciler feeds it what its cache sees.
package scheduler

import (
	"sort"
	"time"

	quantumv1alpha1 "github.com/tweezer-dev/tweezer/api/v1alpha1"
)

// Item is a pending batch as the queue sees it.
type Item struct {
	// Key identifies the batch ("namespace/name").
	Key string
	// QueuePriority is compared first: HIGH before MEDIUM before LOW.
	QueuePriority quantumv1alpha1.QueuePriority
	// Priority is compared second: higher first.
	Priority int32
	// Created is compared third: older first. Key breaks the remaining ties.
	Created time.Time
}

// Less reports whether a starts before b.
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

// Sort orders items in queue order, in place.
func Sort(items []Item) {
	sort.SliceStable(items, func(i, j int) bool { return Less(items[i], items[j]) })
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

// Plan returns the batches that start now: the queue head, in order, each on
// the usable device with the most free room (ties by name). The queue never
// lets a later batch overtake the head: when nothing is free, nothing starts.
func Plan(queue []Item, slots []Slot) []Assignment {
	items := append([]Item(nil), queue...)
	Sort(items)
	free := append([]Slot(nil), slots...)
	var out []Assignment
	for _, it := range items {
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
