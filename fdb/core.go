package fdb

import (
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for NewTable and NewNeighbors.
const (
	DefaultMaxEntries = 8192
	DefaultAgeing     = 300 * time.Second
)

// sweepBatch is how many entries a sweep visits before it lets waiting
// readers in, bounding the data-path stall while a large table is walked.
const sweepBatch = 1024

// entry is one row of a table. Its value and timestamp are atomics so that a
// holder of the read lock can refresh or move it; static is written only
// under the write lock.
type entry struct {
	val    atomic.Uint64 // packed Dest or MAC
	seen   atomic.Int64  // last learned, caller's clock in ns; unused when static
	static bool
}

// table is the learning and ageing engine shared by Table (MAC→Dest) and
// Neighbors (IP→MAC); values are packed into a uint64.
type table[K comparable] struct {
	max       int   // learned entries allowed; statics are extra
	ageing    int64 // ns
	fullDrops atomic.Uint64

	mu      sync.RWMutex
	m       map[K]*entry // guarded by mu
	learned int          // guarded by mu; entries in m with !static
}

func (t *table[K]) init(limit int, ageing time.Duration) {
	if limit <= 0 {
		limit = DefaultMaxEntries
	}
	if ageing <= 0 {
		ageing = DefaultAgeing
	}
	t.max, t.ageing = limit, int64(ageing)
	t.m = make(map[K]*entry)
}

// aged reports whether a learned entry last seen at seen is stale at now.
func (t *table[K]) aged(seen, now int64) bool { return now-seen > t.ageing }

func (t *table[K]) lookup(k K, now int64) (uint64, bool) {
	t.mu.RLock()
	e := t.m[k]
	if e == nil {
		t.mu.RUnlock()
		return 0, false
	}
	v, seen, static := e.val.Load(), e.seen.Load(), e.static
	t.mu.RUnlock()
	if !static && t.aged(seen, now) {
		return 0, false
	}
	return v, true
}

// learn records k→v at now. Known keys are updated under the read lock; only
// a new key takes the write lock.
func (t *table[K]) learn(k K, v uint64, now int64) Result {
	t.mu.RLock()
	if e := t.m[k]; e != nil {
		r := t.refreshLocked(e, v, now)
		t.mu.RUnlock()
		return r
	}
	t.mu.RUnlock()

	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.m[k]; e != nil { // learned by someone else meanwhile
		return t.refreshLocked(e, v, now)
	}
	if t.learned >= t.max {
		t.fullDrops.Add(1)
		return Full
	}
	e := new(entry)
	e.val.Store(v)
	e.seen.Store(now)
	t.m[k] = e
	t.learned++
	return LearnedNew
}

// refreshLocked updates an existing entry; mu must be held for reading or
// writing. An aged entry is revived in place: it already holds a slot, so
// reviving it cannot push the table over its limit.
//
// Concurrent Learns of one key each leave the entry consistent, but may both
// report Moved or LearnedNew.
func (t *table[K]) refreshLocked(e *entry, v uint64, now int64) Result {
	if e.static {
		return StaticKept
	}
	seen := e.seen.Load()
	r := Refreshed
	if e.val.Load() != v {
		e.val.Store(v)
		r = Moved
	}
	if t.aged(seen, now) {
		r = LearnedNew
	}
	// Callers' clocks may disagree by a little; never move last-seen back.
	// Skipping the store when equal also saves a cache-line write.
	if now > seen {
		e.seen.Store(now)
	}
	return r
}

func (t *table[K]) addStatic(k K, v uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.m[k]
	switch {
	case e == nil:
		e = &entry{static: true}
		t.m[k] = e
	case !e.static:
		e.static = true
		t.learned--
	}
	e.val.Store(v)
}

func (t *table[K]) delete(k K) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.m[k]
	if e == nil {
		return false
	}
	t.deleteLocked(k, e)
	return true
}

func (t *table[K]) deleteLocked(k K, e *entry) {
	delete(t.m, k)
	if !e.static {
		t.learned--
	}
}

// sweep deletes the learned entries for which drop reports true and returns
// how many it deleted. Every sweepBatch entries it drops and retakes the
// write lock so that readers waiting on a large table are not stalled for
// the whole walk. Resuming the range after others changed the map is sound:
// each step of the iterator runs with the lock held, and the language
// defines iteration over a map that changes between steps.
func (t *table[K]) sweep(drop func(*entry) bool) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, visited := 0, 0
	for k, e := range t.m {
		if !e.static && drop(e) {
			t.deleteLocked(k, e)
			n++
		}
		if visited++; visited%sweepBatch == 0 {
			t.mu.Unlock()
			t.mu.Lock()
		}
	}
	return n
}

func (t *table[K]) expire(now int64) int {
	return t.sweep(func(e *entry) bool { return t.aged(e.seen.Load(), now) })
}

func (t *table[K]) len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.m)
}

func (t *table[K]) learnedLen() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.learned
}

// snapshot calls row for every entry that a lookup at now would find, with
// the entry's age (zero for statics), under the read lock.
func (t *table[K]) snapshot(now int64, row func(k K, v uint64, typ Type, age time.Duration)) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for k, e := range t.m {
		if e.static {
			row(k, e.val.Load(), Static, 0)
			continue
		}
		seen := e.seen.Load()
		if t.aged(seen, now) {
			continue
		}
		row(k, e.val.Load(), Learned, time.Duration(max(now-seen, 0)))
	}
}
