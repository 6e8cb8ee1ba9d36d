package namesys

import (
	"fmt"
	"testing"
	"time"
)

func TestCacheLRUAndExpiry(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newCache(3)
	for i := range 3 {
		c.put(fmt.Sprint(i), fmt.Sprint("v", i), now.Add(time.Hour), now)
	}
	if _, _, ok := c.get("0", now); !ok { // 0 becomes the most recent
		t.Fatal("0 missing")
	}
	c.put("3", "v3", now.Add(time.Hour), now) // evicts 1, the least recent
	if _, _, ok := c.get("1", now); ok {
		t.Fatal("the least recently used entry was not evicted")
	}
	for _, k := range []string{"0", "2", "3"} {
		if _, _, ok := c.get(k, now); !ok {
			t.Fatalf("%s evicted", k)
		}
	}
	if c.len() != 3 {
		t.Fatalf("len %d, want 3", c.len())
	}

	// Expiry: usable strictly before the instant, with the time left.
	c.put("e", "ve", now.Add(time.Minute), now)
	if v, ttl, ok := c.get("e", now.Add(59*time.Second)); !ok || v != "ve" || ttl != time.Second {
		t.Fatalf("before expiry: %q %v %v", v, ttl, ok)
	}
	if _, _, ok := c.get("e", now.Add(time.Minute)); ok {
		t.Fatal("served at its expiry instant")
	}
	// An update replaces value and expiry; an already-expired answer is
	// not cached and drops the old entry.
	c.put("2", "new", now.Add(2*time.Hour), now)
	if v, _, _ := c.get("2", now.Add(90*time.Minute)); v != "new" {
		t.Fatalf("updated entry: %q", v)
	}
	c.put("2", "stale", now, now)
	if _, _, ok := c.get("2", now); ok {
		t.Fatal("an answer expiring now replaced nothing")
	}
	c.put("z", "zero", now, now)
	if _, _, ok := c.get("z", now); ok {
		t.Fatal("a TTL-0 answer was cached")
	}

	var off *cache // CacheSize < 0
	off.put("a", "b", now.Add(time.Hour), now)
	if _, _, ok := off.get("a", now); ok || off.len() != 0 {
		t.Fatal("a nil cache cached")
	}
}

// TestCacheSizeConfig: the cache size from the config bounds the cache;
// negative turns it off.
func TestCacheSizeConfig(t *testing.T) {
	for size, want := range map[int]int{0: DefaultCacheSize, 5: 5, -1: 0} {
		ns, err := New(Config{Store: newMemStore(), CacheSize: size})
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		if ns.cache != nil {
			got = ns.cache.size
		}
		if got != want {
			t.Errorf("CacheSize %d: cache of %d, want %d", size, got, want)
		}
	}
}
