package deploy

import (
	"container/list"
	"sync"
)

// memo is a bounded map that forgets the least recently used entry when
// full; safe for concurrent use. The Deployer keeps in memos what is
// costly to work out again and does not change for its key (the ancestors
// of a deployed commit, the merge check of a commit), so memory stays
// bounded however many projects and environments there are.
type memo[K comparable, V any] struct {
	mu    sync.Mutex
	max   int
	order *list.List // of K, most recent first
	m     map[K]memoEntry[V]
}

type memoEntry[V any] struct {
	v  V
	at *list.Element
}

func newMemo[K comparable, V any](max int) *memo[K, V] {
	return &memo[K, V]{max: max, order: list.New(), m: map[K]memoEntry[V]{}}
}

func (c *memo[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(e.at)
	return e.v, true
}

func (c *memo[K, V]) put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		c.order.MoveToFront(e.at)
		c.m[k] = memoEntry[V]{v: v, at: e.at}
		return
	}
	c.m[k] = memoEntry[V]{v: v, at: c.order.PushFront(k)}
	for len(c.m) > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.m, last.Value.(K))
	}
}

// len is how many entries the memo holds.
func (c *memo[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
