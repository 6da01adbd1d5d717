package auth

import (
	"container/list"
	"time"
)

// lru is a bounded cache whose entries also expire: when full, adding
// evicts the least recently used entry (not everyone), and an expired entry
// is a miss. It is not safe for concurrent use; the Reviewer's mutex guards it.
type lru[K comparable, V any] struct {
	max   int
	order *list.List // of *lruEntry, most recently used first
	items map[K]*list.Element
}

type lruEntry[K comparable, V any] struct {
	key     K
	val     V
	expires time.Time
}

func newLRU[K comparable, V any](max int) *lru[K, V] {
	return &lru[K, V]{max: max, order: list.New(), items: map[K]*list.Element{}}
}

// get returns the value of key unless it is absent or expired at now, and
// marks it recently used.
func (c *lru[K, V]) get(key K, now time.Time) (V, bool) {
	var zero V
	el, ok := c.items[key]
	if !ok {
		return zero, false
	}
	e := el.Value.(*lruEntry[K, V])
	if !now.Before(e.expires) {
		c.order.Remove(el)
		delete(c.items, key)
		return zero, false
	}
	c.order.MoveToFront(el)
	return e.val, true
}

// add stores val under key until expires, evicting the least recently used
// entry when the cache is full.
func (c *lru[K, V]) add(key K, val V, expires time.Time) {
	if el, ok := c.items[key]; ok {
		e := el.Value.(*lruEntry[K, V])
		e.val, e.expires = val, expires
		c.order.MoveToFront(el)
		return
	}
	if c.order.Len() >= c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*lruEntry[K, V]).key)
	}
	c.items[key] = c.order.PushFront(&lruEntry[K, V]{key: key, val: val, expires: expires})
}

func (c *lru[K, V]) len() int { return c.order.Len() }
