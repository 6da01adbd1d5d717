// Package fairqueue is the storage under a controller's work queue that
// takes turns across projects: each namespace with work waiting gets one
// item handed out in turn, in the order the namespaces first had work
// waiting, and within a namespace items go first in, first out.
//
// client-go's work queue keeps its own semantics on top (an item waits at
// most once, an item being reconciled is not handed out again until it is
// Done, delays and rate limits); this package only decides which waiting
// item goes next. With the plain FIFO storage a project that changes 500
// batches at once puts 500 reconciles ahead of another project's one; here
// that one waits for at most one item of each other project.
package fairqueue

import (
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Queue is a workqueue.Queue that takes turns across keys (for a
// controller's requests: namespaces). Its methods are called from one
// goroutine, the work queue's, and need no lock.
type Queue[T comparable] struct {
	key     func(T) string
	waiting map[string][]T // by key, oldest first
	turns   []string       // keys with items waiting, the next to serve first
	n       int
}

// New returns an empty Queue that takes turns across key(item).
func New[T comparable](key func(T) string) *Queue[T] {
	return &Queue[T]{key: key, waiting: map[string][]T{}}
}

// Touch is called when a waiting item is added again: it keeps its place.
func (q *Queue[T]) Touch(T) {}

// Push adds an item behind its key's others; a key with nothing waiting
// takes the last turn.
func (q *Queue[T]) Push(item T) {
	k := q.key(item)
	items, ok := q.waiting[k]
	if !ok {
		q.turns = append(q.turns, k)
	}
	q.waiting[k] = append(items, item)
	q.n++
}

// Len is the number of items waiting.
func (q *Queue[T]) Len() int { return q.n }

// Pop hands out the oldest item of the key whose turn it is; that key, if
// it has more waiting, takes the last turn. The work queue calls it only
// when Len is positive.
func (q *Queue[T]) Pop() T {
	k := q.turns[0]
	q.turns[0] = ""
	q.turns = q.turns[1:]
	items := q.waiting[k]
	item := items[0]
	var zero T
	items[0] = zero
	if items = items[1:]; len(items) == 0 {
		delete(q.waiting, k)
	} else {
		q.waiting[k] = items
		q.turns = append(q.turns, k)
	}
	q.n--
	return item
}

// ByNamespace returns the storage for a controller's requests, taking
// turns across their namespaces.
func ByNamespace() *Queue[reconcile.Request] {
	return New(func(r reconcile.Request) string { return r.Namespace })
}

// NewRateLimitingQueue is a controller's work queue, named like
// controller-runtime's own (so its workqueue metrics keep their names),
// that takes turns across namespaces; use it as controller.Options.NewQueue.
func NewRateLimitingQueue(name string, rateLimiter workqueue.TypedRateLimiter[reconcile.Request]) workqueue.TypedRateLimitingInterface[reconcile.Request] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(rateLimiter, workqueue.TypedRateLimitingQueueConfig[reconcile.Request]{
		Name: name,
		DelayingQueue: workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[reconcile.Request]{
			Name: name,
			Queue: workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[reconcile.Request]{
				Name:  name,
				Queue: ByNamespace(),
			}),
		}),
	})
}
