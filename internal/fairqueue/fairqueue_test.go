package fairqueue

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func req(ns, name string) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}
}

func names(rs []reconcile.Request) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Namespace + "/" + r.Name
	}
	return out
}

// The storage alone: turns across namespaces in the order they first had
// work waiting, FIFO within one, a namespace that runs dry and comes back
// takes the last turn.
func TestTurnsAcrossNamespaces(t *testing.T) {
	q := ByNamespace()
	for i := 1; i <= 4; i++ {
		q.Push(req("a", fmt.Sprint("a", i)))
	}
	q.Push(req("b", "b1"))
	q.Push(req("c", "c1"))
	q.Push(req("c", "c2"))
	if q.Len() != 7 {
		t.Fatalf("Len %d, want 7", q.Len())
	}
	var got []reconcile.Request
	got = append(got, q.Pop(), q.Pop(), q.Pop(), q.Pop())
	q.Push(req("b", "b2")) // b ran dry after b1: it comes back last
	for q.Len() > 0 {
		got = append(got, q.Pop())
	}
	want := []string{"a/a1", "b/b1", "c/c1", "a/a2", "c/c2", "a/a3", "b/b2", "a/a4"}
	if !slices.Equal(names(got), want) {
		t.Errorf("order %v, want %v", names(got), want)
	}
	if len(q.waiting) != 0 || len(q.turns) != 0 {
		t.Errorf("empty queue keeps %v and turns %v", q.waiting, q.turns)
	}
}

// One namespace alone is served first in, first out, as the plain queue.
func TestOneNamespaceIsFIFO(t *testing.T) {
	q := ByNamespace()
	var want []string
	for i := range 50 {
		q.Push(req("a", fmt.Sprint(i)))
		want = append(want, fmt.Sprintf("a/%d", i))
	}
	var got []reconcile.Request
	for q.Len() > 0 {
		got = append(got, q.Pop())
	}
	if !slices.Equal(names(got), want) {
		t.Errorf("order %v", names(got))
	}
}

// Behind client-go's work queue, as a controller gets it: another project's
// request added after 200 of one project's is handed out second, an item
// added twice waits once, an item added again while it is reconciled comes
// back after Done, and delayed and rate-limited adds still arrive.
func TestAsAControllersWorkQueue(t *testing.T) {
	wq := NewRateLimitingQueue("fairqueue-test", workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](time.Millisecond, time.Second))
	defer wq.ShutDown()
	for i := range 200 {
		wq.Add(req("flood", fmt.Sprint(i)))
	}
	wq.Add(req("flood", "0")) // already waiting: not added again
	wq.Add(req("steady", "s1"))
	if wq.Len() != 201 {
		t.Fatalf("Len %d, want 201", wq.Len())
	}
	first, _ := wq.Get()
	second, _ := wq.Get()
	if first != req("flood", "0") || second != req("steady", "s1") {
		t.Fatalf("first %v, second %v: the steady project's request should be second", first, second)
	}
	// Added again while being reconciled: not handed out until Done.
	wq.Add(second)
	if wq.Len() != 199 {
		t.Errorf("Len %d after re-adding an item in flight, want 199", wq.Len())
	}
	wq.Done(second)
	// It waits its turn again: one of the flood's first.
	third, _ := wq.Get()
	fourth, _ := wq.Get()
	if third != req("flood", "1") || fourth != second {
		t.Errorf("third %v, fourth %v: want flood/1, then the re-added %v", third, fourth, second)
	}
	for _, r := range []reconcile.Request{first, third, fourth} {
		wq.Done(r)
	}

	// Delayed and rate-limited adds join the turns when they are due.
	wq.AddAfter(req("late", "l1"), 10*time.Millisecond)
	wq.AddRateLimited(req("retry", "r1"))
	deadline := time.Now().Add(5 * time.Second)
	for wq.Len() < 200 {
		if time.Now().After(deadline) {
			t.Fatalf("the delayed and rate-limited items never arrived (Len %d)", wq.Len())
		}
		time.Sleep(5 * time.Millisecond)
	}
	var next []reconcile.Request
	for range 3 {
		r, _ := wq.Get()
		next = append(next, r)
		wq.Done(r)
	}
	if !slices.Contains(next, req("late", "l1")) || !slices.Contains(next, req("retry", "r1")) {
		t.Errorf("after they are due, the next three are %v: want one turn of the flood, then the delayed and the retried", names(next))
	}
}
