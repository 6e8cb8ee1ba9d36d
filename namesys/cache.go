package namesys

import (
	"container/list"
	"sync"
	"time"
)

// cache is a size-bounded LRU of one-step resolutions: a name (an IPNS
// name in its "k51..." form, or a lower-case domain) to the path it points
// at, with the instant the answer stops being usable. The caller computes
// that instant (now + TTL, never past the record's validity) and passes
// the clock in, so the cache itself has no notion of time.
type cache struct {
	size int

	mu    sync.Mutex // guards order and items
	order *list.List // of *cacheEntry, most recently used first
	items map[string]*list.Element
}

type cacheEntry struct {
	key     string
	value   string
	expires time.Time
}

func newCache(size int) *cache {
	return &cache{size: size, order: list.New(), items: map[string]*list.Element{}}
}

// get returns key's value and how long it stays usable, if it is cached
// and usable at now. An expired entry is dropped.
func (c *cache) get(key string, now time.Time) (string, time.Duration, bool) {
	if c == nil {
		return "", 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return "", 0, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.order.Remove(el)
		delete(c.items, key)
		return "", 0, false
	}
	c.order.MoveToFront(el)
	return e.value, e.expires.Sub(now), true
}

// put caches key's value until expires. An answer already unusable at now
// is not cached, and removes an older entry for the key.
func (c *cache) put(key, value string, expires, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		if !now.Before(expires) {
			c.order.Remove(el)
			delete(c.items, key)
			return
		}
		e := el.Value.(*cacheEntry)
		e.value, e.expires = value, expires
		c.order.MoveToFront(el)
		return
	}
	if !now.Before(expires) {
		return
	}
	c.items[key] = c.order.PushFront(&cacheEntry{key: key, value: value, expires: expires})
	for c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*cacheEntry).key)
	}
}

// len returns the number of entries, usable or not.
func (c *cache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
