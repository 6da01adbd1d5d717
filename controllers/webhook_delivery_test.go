package controllers

import (
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

// A project's deliveries take turns: the ones that find it busy wait in
// line, and each end of a delivery wakes the next one, once.
func TestWebhookProjectSlotsTakeTurns(t *testing.T) {
	r := &WebhookReconciler{PerProject: 1, inFlight: map[string]int{}, waiting: map[string][]client.ObjectKey{}, wake: make(chan event.GenericEvent, 8)}
	a, b, c := client.ObjectKey{Namespace: "p", Name: "a"}, client.ObjectKey{Namespace: "p", Name: "b"}, client.ObjectKey{Namespace: "p", Name: "c"}
	other := client.ObjectKey{Namespace: "q", Name: "x"}
	woken := func() []string {
		var names []string
		for {
			select {
			case ev := <-r.wake:
				names = append(names, ev.Object.GetName())
			default:
				return names
			}
		}
	}
	if !r.acquire(a) {
		t.Fatal("a found a free project busy")
	}
	if r.acquire(b) || r.acquire(c) || r.acquire(b) {
		t.Fatal("b or c got a second slot of a project with one")
	}
	if !r.acquire(other) {
		t.Fatal("another project is busy because of this one")
	}
	r.handOff("p") // b's and c's reconciliations end: the slot is a's
	if w := woken(); len(w) != 0 {
		t.Fatalf("woke %v while a holds the slot", w)
	}
	r.release(a)
	r.handOff("p")
	if w := woken(); len(w) != 1 || w[0] != "b" {
		t.Fatalf("after a: woke %v, want [b] (once, in order)", w)
	}
	if !r.acquire(b) {
		t.Fatal("b did not get the free slot")
	}
	r.release(b)
	r.handOff("p")
	if w := woken(); len(w) != 1 || w[0] != "c" {
		t.Fatalf("after b: woke %v, want [c]", w)
	}
	r.handOff("p") // c no longer waits (delivered elsewhere): the turn passes on, to nobody
	if w := woken(); len(w) != 0 || len(r.waiting) != 0 {
		t.Fatalf("woke %v, waiting %v; want nothing left", w, r.waiting)
	}
}
