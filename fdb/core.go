package fdb

import (
	"hash/maphash"
	"math"
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

// sweepYield is what a sweep does between two batches, with the mutex
// released. Tests replace it to run writers at exactly that point.
var sweepYield = runtime.Gosched

// minSlots is the smallest slot array, a power of two.
const minSlots = 16

// groupLen is how many slots a probe examines at once: four 16-byte slots
// fill one 64-byte cache line; see find and lookupMAC.
const groupLen = 4

// A slot's key word kw is 0 while the slot is empty. Once filled it is the
// key's word (see slots.word) shifted left by flagBits, with these flags in
// the low byte. A slot goes from empty to live once per array and from live
// to deleted at most once; it never goes back.
const (
	tagLive    = 1 << 0
	tagDeleted = 1 << 1 // a tombstone: probes continue past it, inserts do not reuse it
	tagStatic  = 1 << 2
	tagFlags   = tagLive | tagDeleted | tagStatic
	flagBits   = 8
)

// The value word vw of a Table's slot is the packed Dest (40 bits) shifted
// left by stampBits, over a coarse last-seen stamp: the entry's last-seen
// time in units of 1<<table.shift ns, modulo 1<<stampBits. Keeping both in
// one word lets a Move update them together and lets lookupMAC decide most
// lookups without reading the exact last-seen, which lives in another array
// and so costs another cache miss; see table.fresh.
const (
	stampBits = 24
	stampMask = 1<<stampBits - 1

	// The stamp unit is the largest power of two at most the ageing time
	// over stampFraction, within [minStampShift, maxStampShift]. Entries
	// older than about ageing*(1-1/stampFraction) take the exact check.
	// maxStampShift keeps the horizon (1<<(stampBits-1+shift) ns) within
	// an int64, and the stamp of a negative time equal, modulo 1<<stampBits,
	// to the floor of that time over the unit (which needs shift <= 40).
	stampFraction = 16
	minStampShift = 20 // about 1ms; the horizon is then 2.4 hours
	maxStampShift = 38 // about 275s; the horizon is then 73 years
)

// slot is one cell of the open-addressing array: two words, so that four
// share a cache line.
//
// The writer fills vw, the exact last-seen (slots.seen) and, for keys that
// do not fit in kw, slots.keys before it stores kw, and never changes the
// key or the static flag afterwards (in that array), so a reader that loaded
// a live kw may read the key without further synchronization. vw and seen
// are atomics because refreshing Learns store them without the mutex.
// Tombstones are never reused: a slot that held key k holds k for the life
// of the array, so a reader cannot find one key's slot refilled with
// another's.
type slot struct {
	kw atomic.Uint64 // key word and flags; 0 while empty
	vw atomic.Uint64 // value << table.vshift | stamp
}

func (s *slot) static() bool { return s.kw.Load()&tagStatic != 0 }

// group is the unit of probing: see find.
type group [groupLen]slot

// slots is one generation of a table's slot array. A rehash builds a new one
// and publishes it through table.cur; the old one stays valid, and frozen
// except for refreshes, for readers that loaded it before.
type slots[K comparable] struct {
	g     []group        // len is a power of two
	seen  []atomic.Int64 // exact last-seen by slot index, caller's clock in ns; unused when static
	keys  []K            // keys by slot index; nil when kw holds the key (uint64 keys)
	gmask uint64         // len(g) - 1
	seed  maphash.Seed   // hash seed for keys other than uint64
	k0    uint64         // hash seeds for uint64 keys
	k1    uint64

	used    int         // slots not empty (live + tombstones); guarded by table.mu
	retired atomic.Bool // set before a rehash copies g; see table.learn
}

// newSlots returns an empty array of n slots, n a power of two.
func newSlots[K comparable](n int) *slots[K] {
	a := &slots[K]{
		g:     make([]group, n/groupLen),
		seen:  make([]atomic.Int64, n),
		gmask: uint64(n/groupLen - 1),
		seed:  maphash.MakeSeed(),
		k0:    rand.Uint64(),
		k1:    rand.Uint64(),
	}
	var k K
	if _, ok := any(k).(uint64); !ok {
		a.keys = make([]K, n)
	}
	adviseHuge(a.g)
	adviseHuge(a.seen)
	return a
}

// hash returns k's hash. Keys come off the wire, so the hash is seeded, with
// a fresh seed per array: a sender cannot choose keys that collide.
func (a *slots[K]) hash(k K) uint64 {
	if u, ok := any(k).(uint64); ok {
		return hashU64(u, a.k0, a.k1)
	}
	return maphash.Comparable(a.seed, k)
}

// hashU64 is hash for a uint64 key (a MAC), seeded with k0 and k1. It is
// how the runtime hashes 8 bytes on machines without AES instructions, and
// inlines, where hash/maphash costs a call through the map type's hasher.
func hashU64(k, k0, k1 uint64) uint64 {
	return mix(0x1d8e4e27c47d124f^8, mix(k^k1, k^k0))
}

func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// word returns the kw of a live slot holding k, whose hash is h, without
// flags. A uint64 key (a 48-bit MAC) is its own word, so a match on kw is a
// match on the key and the key needs no storage of its own; any other key
// is stored in keys and kw carries hash bits, which spare most comparisons
// of the key itself.
func (a *slots[K]) word(k K, h uint64) uint64 {
	if u, ok := any(k).(uint64); ok {
		return u << flagBits
	}
	return h &^ (1<<flagBits - 1)
}

// key returns the key of slot i, whose kw is kw.
func (a *slots[K]) key(i int, kw uint64) K {
	if a.keys != nil {
		return a.keys[i]
	}
	k, _ := any(kw >> flagBits).(K)
	return k
}

// holds reports whether slot i, whose kw matched k's word, holds k.
func (a *slots[K]) holds(i int, k K) bool { return a.keys == nil || a.keys[i] == k }

// len returns the number of slots.
func (a *slots[K]) len() int { return len(a.g) * groupLen }

// at returns slot i, in the order of the array.
func (a *slots[K]) at(i int) *slot { return &a.g[i/groupLen][i%groupLen] }

// find returns the index of the live slot holding k, or -1.
//
// Probing is linear over groups of groupLen slots: an insert takes the first
// empty slot of the first group that has one, so k is in its home group or
// behind groups without an empty slot, and the probe can stop at the first
// group with one. Some group always has one: a rehash keeps the array at
// most 3/4 full. In an array 3/8 full, 98% of keys are in their home group;
// lookupMAC relies on that.
func (a *slots[K]) find(k K) int { return a.probe(k, tagStatic) }

// findLearned returns the index of the live learned slot holding k, or -1.
// Unlike find it passes over a static slot for k, which exists alongside the
// learned one only while addStatic turns it static.
func (a *slots[K]) findLearned(k K) int { return a.probe(k, 0) }

// probe is find's loop over groups. Key words are compared with the bits in
// ignore cleared.
func (a *slots[K]) probe(k K, ignore uint64) int {
	h := a.hash(k)
	want := a.word(k, h) | tagLive
	for n := uint64(0); ; n++ {
		gi := (h + n) & a.gmask
		g := &a.g[gi]
		empty := false
		for j := range g {
			kw := g[j].kw.Load()
			if i := int(gi)*groupLen + j; kw&^ignore == want && a.holds(i, k) {
				return i
			}
			empty = empty || kw == 0
		}
		if empty {
			return -1
		}
	}
}

// table is the learning and ageing engine shared by Table (MAC→Dest) and
// Neighbors (IP→MAC); values are packed into a uint64.
//
// It is an open-addressing hash table with linear probing. Readers (lookup,
// snapshot, and learn when it refreshes a known key) take no lock: they load
// the current array from cur and read slots with atomic loads. Writers
// (inserting a new key, addStatic, delete, sweep) serialise on mu.
type table[K comparable] struct {
	// Read by every lookup; kept apart from what writers update. oldest
	// changes only when an insert or sweep moves the bound.
	cur    atomic.Pointer[slots[K]]
	oldest atomic.Int64 // at most the last-seen of every live learned entry; see fresh
	max    int          // learned entries allowed; statics are extra
	ageing int64        // ns

	// Stamps (see stampBits); all zero for a table without them.
	vshift  uint8  // values are stored in vw shifted left by this
	shift   uint8  // the stamp unit is 1<<shift ns
	smask   uint64 // stampMask, or 0: no stamps
	dlim    uint64 // ageing >> shift; see fresh
	horizon uint64 // 1<<(stampBits-1+shift); see fresh

	_ [64]byte // cache line padding

	mu        sync.Mutex
	count     atomic.Int64  // live entries, static and learned; written under mu
	learned   atomic.Int64  // live learned entries; written under mu
	convs     atomic.Uint64 // odd while addStatic turns a learned entry static; see snapshotRows
	fullDrops atomic.Uint64

	// Guarded by mu; see sweep.
	sweepers int   // sweeps under way
	insMin   int64 // least last-seen inserted since the oldest sweep under way began
}

// init sets the table up; with stamps, values must fit in 64-stampBits bits.
func (t *table[K]) init(limit int, ageing time.Duration, stamps bool) {
	if limit <= 0 {
		limit = DefaultMaxEntries
	}
	if ageing <= 0 {
		ageing = DefaultAgeing
	}
	t.max, t.ageing = limit, int64(ageing)
	t.oldest.Store(math.MaxInt64)
	if stamps {
		shift := minStampShift
		for shift < maxStampShift && int64(1)<<(shift+1) <= t.ageing/stampFraction {
			shift++
		}
		t.vshift, t.shift, t.smask = stampBits, uint8(shift), stampMask
		t.dlim = uint64(t.ageing) >> shift
		t.horizon = 1 << (stampBits - 1 + shift)
	}
	t.cur.Store(newSlots[K](minSlots))
}

// aged reports whether a learned entry last seen at seen is stale at now.
func (t *table[K]) aged(seen, now int64) bool { return now-seen > t.ageing }

// stamp returns the coarse stamp of time ns; see stampBits.
func (t *table[K]) stamp(ns int64) uint64 { return uint64(ns) >> t.shift & t.smask }

// pack returns the vw of a slot holding value v, last seen at seen.
func (t *table[K]) pack(v uint64, seen int64) uint64 { return v<<t.vshift | t.stamp(seen) }

// fresh reports whether a learned entry whose vw is vw is certainly not aged
// at now, judging by its stamp alone; false means the exact last-seen must
// decide. oldest is t.oldest, loaded after vw.
//
// Let u = 1<<shift, N = floor(now/u) and S the entry's time in units, so
// its stamp is S mod 2^24 and d = (N - stamp) mod 2^24. If 0 <= N-S < 2^24,
// d = N-S and now - seen < (d+1)u, so (d+1)u <= ageing, which is d < dlim,
// means fresh. If N < S, now < seen and the entry is fresh anyway. N-S
// reaches 2^24 only when now - seen >= (2^24-1)u; the guard excludes that
// by requiring now - oldest < horizon = 2^23 u, with oldest at most every
// live learned entry's last-seen. The other 2^23 u of the wrap are margin
// for a stamp older than its entry's exact last-seen (refreshes with
// disagreeing clocks racing, or a Lookup descheduled between loading the
// array and oldest while a sweep raised it); and now >= 0 keeps the
// unsigned difference, and the exact check's now - seen, from overflowing.
func (t *table[K]) fresh(vw uint64, oldest, now int64) bool {
	return now >= 0 && uint64(now)-uint64(oldest) < t.horizon &&
		(uint64(now)>>(t.shift&63)-vw)&stampMask < t.dlim
}

func (t *table[K]) lookup(k K, now int64) (uint64, bool) {
	a := t.cur.Load()
	i := a.find(k)
	if i < 0 {
		return 0, false
	}
	s := a.at(i)
	v := s.vw.Load() >> t.vshift
	if !s.static() && t.aged(a.seen[i].Load(), now) {
		return 0, false
	}
	return v, true
}

// eq returns 1 if x == y and 0 otherwise, without a branch: go1.26
// compiles this form to SETEQ (check with go tool objdump -s
// 'fdb.lookupMAC$' on a test binary); should a compiler branch here
// instead, ((d|-d)>>63)^1 with d = x^y is the same without a comparison.
func eq(x, y uint64) uint {
	if x == y {
		return 1
	}
	return 0
}

// lookupMAC is Table.Lookup, the data path's most frequent call. Generic
// code passes a dictionary and its calls do not inline, so the common case
// is written out here for uint64 keys.
//
// It looks in the key's home group only, and chooses the slot whose kw
// matches without branching on which one it is: the branches left depend
// only on whether the key is in its home group (98% of keys in an array
// 3/8 full), so the processor predicts them and overlaps the cache misses
// of successive lookups instead of waiting out each one. A learned entry is
// judged by its stamp (see fresh), read in the same cache line, and the
// exact last-seen is read only when the stamp cannot decide. Anything else
// (misses, keys further along the probe sequence, two slots with one key
// while addStatic turns it static) goes to lookup.
func lookupMAC(t *table[uint64], mac MAC, now int64) (Dest, bool) {
	// homeMAC, written out: the call does not inline.
	k := mac.key()
	a := t.cur.Load()
	want := k<<flagBits | tagLive
	gi := int(hashU64(k, a.k0, a.k1) & a.gmask)
	g := &a.g[gi]
	e1 := eq(g[1].kw.Load()&^tagStatic, want)
	e2 := eq(g[2].kw.Load()&^tagStatic, want)
	e3 := eq(g[3].kw.Load()&^tagStatic, want)
	j := int((e1|e3)|(e2|e3)<<1) & (groupLen - 1) // slot 0 if none matched
	s := &g[j]
	kw := s.kw.Load()
	if kw&^tagStatic != want {
		v, ok := t.lookup(k, now)
		return unpackDest(v), ok
	}
	vw := s.vw.Load()
	if kw&tagStatic == 0 && !t.fresh(vw, t.oldest.Load(), now) && t.aged(a.seen[gi*groupLen+j].Load(), now) {
		return Dest{}, false
	}
	return unpackDest(vw >> stampBits), true
}

// homeMAC returns the slot of MAC key k's home group in a that holds k, if
// any, with its index and kw: the caller checks kw. The slot is chosen
// without branching on which one matched, so if no slot or two slots match
// the result is some slot of the group, and the caller falls back to find.
func homeMAC(a *slots[uint64], k uint64) (int, *slot, uint64) {
	want := k<<flagBits | tagLive
	gi := int(hashU64(k, a.k0, a.k1) & a.gmask)
	g := &a.g[gi]
	e1 := eq(g[1].kw.Load()&^tagStatic, want)
	e2 := eq(g[2].kw.Load()&^tagStatic, want)
	e3 := eq(g[3].kw.Load()&^tagStatic, want)
	j := int((e1|e3)|(e2|e3)<<1) & (groupLen - 1) // slot 0 if none matched
	s := &g[j]
	return gi*groupLen + j, s, s.kw.Load()
}

// learnMAC is Table.Learn for a valid MAC key k and packed Dest v. A
// refresh needs the exact last-seen, in another array; loading its cache
// line before the group's slots are compared overlaps the two cache misses
// instead of taking them one after the other. Anything but a key in its
// home group goes to learn.
func learnMAC(t *table[uint64], k, v uint64, now int64) Result {
	a := t.cur.Load()
	gi := hashU64(k, a.k0, a.k1) & a.gmask
	_ = a.seen[gi*groupLen].Load() // a group's last-seens share a line
	i, _, kw := homeMAC(a, k)
	if kw&^tagStatic != k<<flagBits|tagLive {
		return t.learn(k, v, now)
	}
	return t.learnFound(a, i, k, v, now)
}

// learn records k→v at now. A known key is refreshed without the mutex; only
// a new key takes it.
//
// A lock-free refresh stores into a slot that a writer may be taking away:
// a rehash copying the array, or a sweep deleting the entry after deciding
// on the values it read before the refresh. After its stores, the refresh
// loads the array's retired flag and the slot's kw; the rehash sets retired
// before it copies, and the sweep reads the values again after deleting.
// Go's atomics are sequentially consistent, so either the writer sees the
// stores (the copy carries them, the sweep puts the entry back) or the
// refresh sees the flag or the tombstone and learns again under the mutex.
func (t *table[K]) learn(k K, v uint64, now int64) Result {
	a := t.cur.Load()
	if i := a.find(k); i >= 0 {
		return t.learnFound(a, i, k, v, now)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.learnLocked(k, v, now)
}

// learnFound is learn for a key that find found in slot i of array a,
// without the mutex.
func (t *table[K]) learnFound(a *slots[K], i int, k K, v uint64, now int64) Result {
	s := a.at(i)
	if s.static() {
		return StaticKept
	}
	r, stored := t.refresh(a, i, v, now)
	if stored && (a.retired.Load() || s.kw.Load()&tagLive == 0) {
		return t.relearn(k, v, now, r)
	}
	return r
}

func (t *table[K]) learnLocked(k K, v uint64, now int64) Result {
	a := t.cur.Load()
	if i := a.find(k); i >= 0 { // learned by someone else meanwhile
		if a.at(i).static() {
			return StaticKept
		}
		r, _ := t.refresh(a, i, v, now)
		return r
	}
	if t.learned.Load() >= int64(t.max) {
		t.fullDrops.Add(1)
		return Full
	}
	t.insertLocked(t.roomLocked(), k, false, v, now)
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
	a := t.cur.Load()
	i := a.find(k)
	switch {
	case i < 0:
		return t.learnLocked(k, v, now)
	case !a.at(i).static():
		t.refresh(a, i, v, now)
	}
	return r
}

// refresh updates the learned entry in slot i of a and reports whether it
// stored anything. An aged entry is revived in place: it already holds a
// slot, so reviving it cannot push the table over its limit.
//
// Callers' clocks may disagree by a little; last-seen never moves back, not
// even when refreshes race (the store is a compare-and-swap), which is what
// lets a sweep raise t.oldest. The stamp is stored after the exact time, so
// it never stands for a later time than seen holds. Concurrent Learns of
// one key each leave the entry consistent, but may both report Moved or
// LearnedNew.
func (t *table[K]) refresh(a *slots[K], i int, v uint64, now int64) (r Result, stored bool) {
	s, sp := a.at(i), &a.seen[i]
	seen := sp.Load()
	vw := s.vw.Load()
	r = Refreshed
	if vw>>t.vshift != v {
		r = Moved
	}
	if t.aged(seen, now) {
		r = LearnedNew
	}
	for now > seen {
		if sp.CompareAndSwap(seen, now) {
			seen, stored = now, true
			break
		}
		seen = sp.Load()
	}
	// The stamp is that of the last-seen this refresh stored or found:
	// not later than seen holds, which only grows, and a stamp left older
	// than its entry (a rehash copies vw before seen, so a refresh racing
	// it leaves the copy's stamp behind) is brought up to date. Skipping
	// the store when equal saves a cache-line write.
	if w := v<<t.vshift | t.stamp(seen); w != vw {
		s.vw.Store(w)
		stored = true
	}
	return r, stored
}

// insertLocked puts k into a, which must have room (see roomLocked), and
// returns its slot index. The caller holds mu and updates the counts.
func (t *table[K]) insertLocked(a *slots[K], k K, static bool, v uint64, seen int64) int {
	h := a.hash(k)
	kw := a.word(k, h) | tagLive
	vw := v << t.vshift
	if static {
		kw |= tagStatic
	} else {
		vw = t.pack(v, seen)
		// Before the slot is published: a lookup that finds it loads
		// oldest after its kw.
		if seen < t.oldest.Load() {
			t.oldest.Store(seen)
		}
		if t.sweepers > 0 {
			t.insMin = min(t.insMin, seen)
		}
	}
	return a.place(h, k, kw, vw, seen)
}

// place puts k, whose hash is h, into the first empty slot of the first
// group on its probe sequence that has one, with the given words.
func (a *slots[K]) place(h uint64, k K, kw, vw uint64, seen int64) int {
	for n := uint64(0); ; n++ {
		gi := (h + n) & a.gmask
		g := &a.g[gi]
		for j := range g {
			s := &g[j]
			if s.kw.Load() != 0 {
				continue
			}
			i := int(gi)*groupLen + j
			if a.keys != nil {
				a.keys[i] = k
			}
			a.seen[i].Store(seen)
			s.vw.Store(vw)
			s.kw.Store(kw) // publishes the fields above
			a.used++
			return i
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
//
// It also sets oldest to the least last-seen it copies: every live learned
// entry is among them, inserts wait for mu, and refreshes only raise
// last-seen.
func (t *table[K]) rehashLocked(old *slots[K]) *slots[K] {
	old.retired.Store(true) // before the copy reads any vw or seen
	n := minSlots
	for n < 2*(int(t.count.Load())+1) {
		n *= 2
	}
	a := newSlots[K](n)
	oldest := int64(math.MaxInt64)
	for i := range old.len() {
		o := old.at(i)
		kw := o.kw.Load()
		if kw&tagLive == 0 {
			continue
		}
		k := old.key(i, kw)
		// vw before seen, so that the stamp is not later than seen.
		vw := o.vw.Load()
		seen := old.seen[i].Load()
		if kw&tagStatic == 0 {
			oldest = min(oldest, seen)
		}
		h := a.hash(k)
		a.place(h, k, a.word(k, h)|kw&tagFlags, vw, seen)
	}
	t.oldest.Store(oldest)
	t.cur.Store(a)
	return a
}

func (t *table[K]) addStatic(k K, v uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.cur.Load()
	i := a.find(k)
	switch {
	case i < 0:
		t.insertLocked(t.roomLocked(), k, true, v, 0)
		t.count.Add(1)
	case a.at(i).static():
		a.at(i).vw.Store(v << t.vshift)
	default:
		// A learned entry becomes static. The static slot goes in first and
		// the learned one is deleted after, so a concurrent lookup finds one
		// or the other, never neither: the new slot is at or after the
		// learned one's group on k's probe sequence, since that group and
		// any before it on the sequence have no empty slot, or k would be
		// there.
		t.convs.Add(1)
		a := t.roomLocked() // a rehash moves the learned slot
		t.insertLocked(a, k, true, v, 0)
		t.tombstone(a.at(a.findLearned(k)))
		t.learned.Add(-1)
		t.convs.Add(1)
	}
}

func (t *table[K]) delete(k K) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.cur.Load()
	i := a.find(k)
	if i < 0 {
		return false
	}
	t.deleteLocked(a.at(i))
	return true
}

// tombstone marks the live slot s deleted. The caller holds mu.
func (t *table[K]) tombstone(s *slot) {
	s.kw.Store(s.kw.Load()&^tagLive | tagDeleted)
}

// deleteLocked deletes the entry in the live slot s of the current array.
func (t *table[K]) deleteLocked(s *slot) {
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
//
// A sweep that missed none also raises oldest to the least last-seen of
// the entries it kept and of those inserted while it ran (insMin, which
// inserts lower while any sweep is under way, so overlapping sweeps share
// it and each sees at least the inserts since it began). Entries it kept
// can only have been refreshed since, which never lowers last-seen. This is
// what keeps lookupMAC's stamp check working however long the table lives,
// given Expire now and then.
func (t *table[K]) sweep(drop func(v uint64, seen int64) bool) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sweepers == 0 {
		t.insMin = math.MaxInt64
	}
	t.sweepers++
	defer func() { t.sweepers-- }()
	a := t.cur.Load()
	n, restarts := 0, 0
	kept, missed := int64(math.MaxInt64), false
	for i := 0; ; {
		if b := t.cur.Load(); b != a {
			a = b
			if restarts < maxSweepRestarts {
				i, restarts = 0, restarts+1
			} else {
				missed = true
			}
		}
		if i >= a.len() {
			if m := min(kept, t.insMin); !missed && m > t.oldest.Load() {
				t.oldest.Store(m)
			}
			return n
		}
		for end := min(i+sweepBatch, a.len()); i < end; i++ {
			s := a.at(i)
			if s.kw.Load()&(tagLive|tagStatic) != tagLive {
				continue
			}
			v, seen := s.vw.Load()>>t.vshift, a.seen[i].Load()
			if !drop(v, seen) {
				kept = min(kept, seen)
				continue
			}
			t.deleteLocked(s)
			n++
			// A refresh that stored between the loads and the delete
			// made the entry one drop may keep; see learn.
			v2, seen2 := s.vw.Load()>>t.vshift, a.seen[i].Load()
			if (v2 == v && seen2 == seen) || drop(v2, seen2) {
				continue
			}
			t.insertLocked(t.roomLocked(), a.key(i, s.kw.Load()), false, v2, seen2)
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
		sweepYield()
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
			s := a.at(i)
			kw := s.kw.Load()
			switch {
			case kw&tagLive == 0:
			case kw&tagStatic != 0:
				rows = append(rows, row(a.key(i, kw), s.vw.Load()>>t.vshift, Static, 0))
			default:
				v, seen := s.vw.Load()>>t.vshift, a.seen[i].Load()
				if !t.aged(seen, now) {
					rows = append(rows, row(a.key(i, kw), v, Learned, time.Duration(max(now-seen, 0))))
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
