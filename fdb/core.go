package fdb

import (
	"hash/maphash"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for NewTable and NewNeighbors.
const (
	DefaultMaxEntries = 8192
	DefaultAgeing     = 300 * time.Second
)

// sweepBatch is how many slots a sweep visits before it releases the writers'
// mutex, bounding how long a sweep of a large table holds up the Learns of
// new keys (Lookups and refreshing Learns never wait for it).
const sweepBatch = 1024

// maxSweepRestarts bounds how often one sweep starts over on a newer array;
// see sweep.
const maxSweepRestarts = 2

// minSlots is the smallest slot array, a power of two.
const minSlots = 16

// groupLen is how many slots a probe examines at once. Two slots of a
// uint64-keyed table fill one 64-byte cache line; see find.
const groupLen = 2

// A slot's tag is 0 while the slot is empty. Once filled it is the key's hash
// with the low three bits replaced by these flags. A slot goes from empty to
// live once per array and from live to deleted at most once; it never goes
// back.
const (
	tagLive    = 1 << 0
	tagDeleted = 1 << 1 // a tombstone: probes continue past it, inserts do not reuse it
	tagStatic  = 1 << 2
	tagFlags   = tagLive | tagDeleted | tagStatic
)

// slot is one cell of the open-addressing array.
//
// The writer fills key, val and seen before it stores the tag, and never
// changes key or the static flag afterwards (in that array), so a reader
// that loaded a live tag may read key without further synchronization.
// val and seen are atomics because refreshing Learns store them without the
// mutex. Tombstones are never reused: a slot that held key k holds k for
// the life of the array, so a reader cannot find one key's slot refilled
// with another's.
type slot[K comparable] struct {
	tag  atomic.Uint64
	key  K
	val  atomic.Uint64 // packed Dest or MAC
	seen atomic.Int64  // last learned, caller's clock in ns; unused when static
}

func (s *slot[K]) static() bool { return s.tag.Load()&tagStatic != 0 }

// slots is one generation of a table's slot array. A rehash builds a new one
// and publishes it through table.cur; the old one stays valid, and frozen
// except for refreshes, for readers that loaded it before.
type slots[K comparable] struct {
	g     []group[K]   // len is a power of two
	gmask uint64       // len(g) - 1
	seed  maphash.Seed // hash seed for keys other than uint64
	k0    uint64       // hash seeds for uint64 keys
	k1    uint64

	used    int         // slots not empty (live + tombstones); guarded by table.mu
	retired atomic.Bool // set before a rehash copies g; see table.learn
}

// group is the unit of probing: see find.
type group[K comparable] [groupLen]slot[K]

// newSlots returns an empty array of n slots, n a power of two.
func newSlots[K comparable](n int) *slots[K] {
	return &slots[K]{
		g:     make([]group[K], n/groupLen),
		gmask: uint64(n/groupLen - 1),
		seed:  maphash.MakeSeed(),
		k0:    rand.Uint64(),
		k1:    rand.Uint64(),
	}
}

// hash returns k's hash with the flag bits cleared. Keys come off the wire,
// so the hash is seeded, with a fresh seed per array: a sender cannot choose
// keys that collide.
func (a *slots[K]) hash(k K) uint64 {
	if u, ok := any(k).(uint64); ok {
		return hashU64(u, a.k0, a.k1)
	}
	return maphash.Comparable(a.seed, k) &^ tagFlags
}

// hashU64 is hash for a uint64 key (a MAC), seeded with k0 and k1. It is
// how the runtime hashes 8 bytes on machines without AES instructions, and
// inlines, where hash/maphash costs a call through the map type's hasher.
func hashU64(k, k0, k1 uint64) uint64 {
	return mix(0x1d8e4e27c47d124f^8, mix(k^k1, k^k0)) &^ tagFlags
}

func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// len returns the number of slots.
func (a *slots[K]) len() int { return len(a.g) * groupLen }

// slot returns slot i, in the order of the array.
func (a *slots[K]) slot(i int) *slot[K] { return &a.g[i/groupLen][i%groupLen] }

// group returns the i'th group of the probe sequence for hash h.
func (a *slots[K]) group(h uint64, i uint64) *group[K] { return &a.g[(h>>3+i)&a.gmask] }

// find returns the live slot holding k, or nil.
//
// Probing is linear over groups of groupLen slots: an insert takes the first
// empty slot of the first group that has one, so k is in its home group or
// behind groups without an empty slot, and the probe can stop at the first
// group with one. Some group always has one: a rehash keeps the array at
// most 3/4 full.
//
// The tags of a group are compared without branching on which slot matched.
// A lookup's branches then depend only on whether the key is in its home
// group, which holds 93% of keys in an array 3/8 full and 76% at 3/4 full,
// so the processor mostly predicts them and overlaps the cache misses of
// successive lookups instead of waiting out each one.
func (a *slots[K]) find(k K) *slot[K] {
	h := a.hash(k)
	want := h | tagLive
	g := &a.g[(h>>3)&a.gmask]
	t0, t1 := g[0].tag.Load()&^tagStatic, g[1].tag.Load()&^tagStatic
	// hit is 1 if either tag matches, j the higher one matching; written so
	// that the compiler computes them without branches.
	var j, hit uint
	if t0 == want {
		hit = 1
	}
	if t1 == want {
		j, hit = 1, 1
	}
	if s := &g[j&1]; hit != 0 && s.key == k {
		return s
	}
	return a.probe(k, h, tagStatic)
}

// probe is find's loop over groups, for the keys the fast path did not find
// in their home group: misses, keys in later groups, and keys whose group
// has two live slots with their tag. Tags are compared with the bits in
// ignore cleared.
func (a *slots[K]) probe(k K, h, ignore uint64) *slot[K] {
	want := h | tagLive
	for i := uint64(0); ; i++ {
		g := a.group(h, i)
		empty := false
		for j := range g {
			s := &g[j]
			tag := s.tag.Load()
			if tag&^ignore == want && s.key == k {
				return s
			}
			empty = empty || tag == 0
		}
		if empty {
			return nil
		}
	}
}

// findLearned returns the live learned slot holding k, or nil. Unlike find
// it passes over a static slot for k, which exists alongside the learned one
// only while addStatic turns it static.
func (a *slots[K]) findLearned(k K) *slot[K] { return a.probe(k, a.hash(k), 0) }

// table is the learning and ageing engine shared by Table (MAC→Dest) and
// Neighbors (IP→MAC); values are packed into a uint64.
//
// It is an open-addressing hash table with linear probing. Readers (lookup,
// snapshot, and learn when it refreshes a known key) take no lock: they load
// the current array from cur and read slots with atomic loads. Writers
// (inserting a new key, addStatic, delete, sweep) serialise on mu.
type table[K comparable] struct {
	// Read by every lookup; kept apart from what writers update.
	cur    atomic.Pointer[slots[K]]
	max    int   // learned entries allowed; statics are extra
	ageing int64 // ns

	_ [64]byte // cache line padding

	mu        sync.Mutex
	count     atomic.Int64  // live entries, static and learned; written under mu
	learned   atomic.Int64  // live learned entries; written under mu
	convs     atomic.Uint64 // odd while addStatic turns a learned entry static; see snapshotRows
	fullDrops atomic.Uint64
}

func (t *table[K]) init(limit int, ageing time.Duration) {
	if limit <= 0 {
		limit = DefaultMaxEntries
	}
	if ageing <= 0 {
		ageing = DefaultAgeing
	}
	t.max, t.ageing = limit, int64(ageing)
	t.cur.Store(newSlots[K](minSlots))
}

// aged reports whether a learned entry last seen at seen is stale at now.
func (t *table[K]) aged(seen, now int64) bool { return now-seen > t.ageing }

func (t *table[K]) lookup(k K, now int64) (uint64, bool) {
	s := t.cur.Load().find(k)
	if s == nil {
		return 0, false
	}
	v := s.val.Load()
	if !s.static() && t.aged(s.seen.Load(), now) {
		return 0, false
	}
	return v, true
}

// lookupMAC is Table.Lookup, the data path's most frequent call. Generic
// code passes a dictionary and its calls do not inline, so the common case
// is written out here for uint64 keys; with a million entries this measured
// about a quarter faster than lookup. It looks in the key's home group only,
// choosing the slot without a branch (see find), and leaves anything else
// (misses, keys further along the probe sequence, two slots with one tag)
// to lookup.
func lookupMAC(t *table[uint64], mac MAC, now int64) (Dest, bool) {
	k := mac.key()
	a := t.cur.Load()
	h := hashU64(k, a.k0, a.k1)
	want := h | tagLive
	g := &a.g[(h>>3)&a.gmask]
	var j uint
	if g[1].tag.Load()&^tagStatic == want {
		j = 1
	}
	s := &g[j&1]
	tag := s.tag.Load()
	if tag&^tagStatic != want || s.key != k {
		v, ok := t.lookup(k, now)
		return unpackDest(v), ok
	}
	v := s.val.Load()
	if tag&tagStatic == 0 && now-s.seen.Load() > t.ageing {
		return Dest{}, false
	}
	return unpackDest(v), true
}

// learn records k→v at now. A known key is refreshed without the mutex; only
// a new key takes it.
//
// A lock-free refresh stores into a slot that a writer may be taking away:
// a rehash copying the array, or a sweep deleting the entry after deciding
// on the values it read before the refresh. After its stores, the refresh
// loads the array's retired flag and the slot's tag; the rehash sets retired
// before it copies, and the sweep reads the values again after deleting.
// Go's atomics are sequentially consistent, so either the writer sees the
// stores (the copy carries them, the sweep puts the entry back) or the
// refresh sees the flag or the tombstone and learns again under the mutex.
func (t *table[K]) learn(k K, v uint64, now int64) Result {
	a := t.cur.Load()
	if s := a.find(k); s != nil {
		return t.learnFound(a, s, k, v, now)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.learnLocked(k, v, now)
}

// learnFound is learn for a key that find found in slot s of array a,
// without the mutex.
func (t *table[K]) learnFound(a *slots[K], s *slot[K], k K, v uint64, now int64) Result {
	if s.static() {
		return StaticKept
	}
	r, stored := t.refresh(s, v, now)
	if stored && (a.retired.Load() || s.tag.Load()&tagLive == 0) {
		return t.relearn(k, v, now, r)
	}
	return r
}

func (t *table[K]) learnLocked(k K, v uint64, now int64) Result {
	if s := t.cur.Load().find(k); s != nil { // learned by someone else meanwhile
		if s.static() {
			return StaticKept
		}
		r, _ := t.refresh(s, v, now)
		return r
	}
	if t.learned.Load() >= int64(t.max) {
		t.fullDrops.Add(1)
		return Full
	}
	t.roomLocked().insertLocked(k, false, v, now)
	t.count.Add(1)
	t.learned.Add(1)
	return LearnedNew
}

// relearn repeats, under the mutex, a lock-free refresh of k whose stores
// may be lost (see learn); r is what the refresh found. If k is still
// learned, the refresh is applied again and r stands. If k is gone, it was
// deleted after the refresh found it, and k is learned anew. If k is now
// static, it became so after the refresh, and there is nothing to do.
func (t *table[K]) relearn(k K, v uint64, now int64, r Result) Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.cur.Load().find(k)
	switch {
	case s == nil:
		return t.learnLocked(k, v, now)
	case !s.static():
		t.refresh(s, v, now)
	}
	return r
}

// refresh updates the learned entry in s and reports whether it stored
// anything. An aged entry is revived in place: it already holds a slot, so
// reviving it cannot push the table over its limit.
//
// Concurrent Learns of one key each leave the entry consistent, but may both
// report Moved or LearnedNew.
func (t *table[K]) refresh(s *slot[K], v uint64, now int64) (r Result, stored bool) {
	seen := s.seen.Load()
	r = Refreshed
	if s.val.Load() != v {
		s.val.Store(v)
		r, stored = Moved, true
	}
	if t.aged(seen, now) {
		r = LearnedNew
	}
	// Callers' clocks may disagree by a little; never move last-seen back.
	// Skipping the store when equal also saves a cache-line write.
	if now > seen {
		s.seen.Store(now)
		stored = true
	}
	return r, stored
}

// insertLocked puts k into a, which must have room (see roomLocked), and
// returns its slot. The caller holds mu and updates the counts.
func (a *slots[K]) insertLocked(k K, static bool, v uint64, seen int64) *slot[K] {
	return a.place(a.hash(k), k, static, v, seen)
}

// place puts k, whose hash is h, into the first empty slot of the first
// group on its probe sequence that has one.
func (a *slots[K]) place(h uint64, k K, static bool, v uint64, seen int64) *slot[K] {
	for i := uint64(0); ; i++ {
		g := a.group(h, i)
		for j := range g {
			s := &g[j]
			if s.tag.Load() != 0 {
				continue
			}
			tag := h | tagLive
			if static {
				tag |= tagStatic
			}
			s.key = k
			s.val.Store(v)
			s.seen.Store(seen)
			s.tag.Store(tag) // publishes the fields above
			a.used++
			return s
		}
	}
}

// roomLocked returns the current array if it can take one more slot and
// stay at most 3/4 full, tombstones included; otherwise it rehashes first
// and returns the new array. The caller holds mu.
func (t *table[K]) roomLocked() *slots[K] {
	a := t.cur.Load()
	if 4*(a.used+1) <= 3*a.len() {
		return a
	}
	return t.rehashLocked(a)
}

// rehashLocked copies the live slots of old into a new array sized for them
// and makes it current. The new array is at most half full, so at least a
// quarter of it takes inserts before the next rehash, and dropping the
// tombstones keeps its size tied to the live count however many deletes
// came before.
func (t *table[K]) rehashLocked(old *slots[K]) *slots[K] {
	old.retired.Store(true) // before the copy reads any val or seen
	n := minSlots
	for n < 2*(int(t.count.Load())+1) {
		n *= 2
	}
	a := newSlots[K](n)
	for i := range old.len() {
		o := old.slot(i)
		tag := o.tag.Load()
		if tag&tagLive == 0 {
			continue
		}
		a.place(a.hash(o.key), o.key, tag&tagStatic != 0, o.val.Load(), o.seen.Load())
	}
	t.cur.Store(a)
	return a
}

func (t *table[K]) addStatic(k K, v uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.cur.Load().find(k)
	switch {
	case s == nil:
		t.roomLocked().insertLocked(k, true, v, 0)
		t.count.Add(1)
	case s.static():
		s.val.Store(v)
	default:
		// A learned entry becomes static. The static slot goes in first and
		// the learned one is deleted after, so a concurrent lookup finds one
		// or the other, never neither: the new slot is at or after the
		// learned one's group on k's probe sequence, since that group and
		// any before it on the sequence have no empty slot, or k would be
		// there.
		t.convs.Add(1)
		a := t.roomLocked() // a rehash moves the learned slot
		a.insertLocked(k, true, v, 0)
		t.tombstone(a.findLearned(k))
		t.learned.Add(-1)
		t.convs.Add(1)
	}
}

func (t *table[K]) delete(k K) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.cur.Load().find(k)
	if s == nil {
		return false
	}
	t.deleteLocked(s)
	return true
}

// tombstone marks the live slot s deleted. The caller holds mu.
func (t *table[K]) tombstone(s *slot[K]) {
	s.tag.Store(s.tag.Load()&^tagLive | tagDeleted)
}

// deleteLocked deletes the entry in the live slot s of the current array.
func (t *table[K]) deleteLocked(s *slot[K]) {
	static := s.static()
	t.tombstone(s)
	t.count.Add(-1)
	if !static {
		t.learned.Add(-1)
	}
}

// sweep deletes the learned entries for which drop(value, last seen) reports
// true and returns how many it deleted. Every sweepBatch slots it releases
// and retakes mu so that Learns of new keys are not held up for the whole
// walk of a large table.
//
// Between batches others may insert and delete; each batch works on the
// array current at the time, so the table stays consistent. An insert may
// also rehash, moving every entry to a new array where the walk's position
// means nothing: the sweep then starts over on the new array, revisiting
// entries it kept (drop must give the same answer twice) but missing none.
// After maxSweepRestarts it carries on from the same index instead, so that
// a stream of rehashes cannot keep it going forever; entries it then skips
// stay until the next sweep.
func (t *table[K]) sweep(drop func(v uint64, seen int64) bool) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.cur.Load()
	n, restarts := 0, 0
	for i := 0; ; {
		if b := t.cur.Load(); b != a {
			a = b
			if restarts < maxSweepRestarts {
				i, restarts = 0, restarts+1
			}
		}
		if i >= a.len() {
			return n
		}
		for end := min(i+sweepBatch, a.len()); i < end; i++ {
			s := a.slot(i)
			if s.tag.Load()&(tagLive|tagStatic) != tagLive {
				continue
			}
			v, seen := s.val.Load(), s.seen.Load()
			if !drop(v, seen) {
				continue
			}
			t.deleteLocked(s)
			n++
			// A refresh that stored between the loads and the delete
			// made the entry one drop may keep; see learn.
			v2, seen2 := s.val.Load(), s.seen.Load()
			if (v2 == v && seen2 == seen) || drop(v2, seen2) {
				continue
			}
			t.roomLocked().insertLocked(s.key, false, v2, seen2)
			t.count.Add(1)
			t.learned.Add(1)
			n--
			if t.cur.Load() != a { // that insert rehashed
				i++
				break
			}
		}
		t.mu.Unlock()
		// Let a writer waiting for mu have it; without this the sweep
		// would usually take it straight back.
		runtime.Gosched()
		t.mu.Lock()
	}
}

func (t *table[K]) expire(now int64) int {
	return t.sweep(func(_ uint64, seen int64) bool { return t.aged(seen, now) })
}

func (t *table[K]) len() int { return int(t.count.Load()) }

func (t *table[K]) learnedLen() int { return int(t.learned.Load()) }

// snapshotRows returns row(k, v, type, age) for every entry that a lookup
// at now would find (age is zero for statics), in slot order.
//
// It walks the current array without the mutex. Inserts, deletes and
// refreshes during the walk are concurrent with the snapshot and either
// show or not; but turning a learned entry static briefly makes two slots
// for one key, which a walk could see both of or neither of. addStatic marks
// that window in convs, seqlock fashion, and a walk that overlapped one is
// repeated; after a few overlaps the walk runs under mu.
func snapshotRows[K comparable, R any](t *table[K], now int64, row func(k K, v uint64, typ Type, age time.Duration) R) []R {
	var rows []R
	walk := func(a *slots[K]) {
		rows = nil
		for i := range a.len() {
			s := a.slot(i)
			tag := s.tag.Load()
			switch {
			case tag&tagLive == 0:
			case tag&tagStatic != 0:
				rows = append(rows, row(s.key, s.val.Load(), Static, 0))
			default:
				v, seen := s.val.Load(), s.seen.Load()
				if !t.aged(seen, now) {
					rows = append(rows, row(s.key, v, Learned, time.Duration(max(now-seen, 0))))
				}
			}
		}
	}
	for range 3 {
		c := t.convs.Load()
		if c&1 != 0 {
			continue
		}
		walk(t.cur.Load())
		if t.convs.Load() == c {
			return rows
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	walk(t.cur.Load())
	return rows
}
