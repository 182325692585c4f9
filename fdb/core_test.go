package fdb

import (
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// seqMAC returns the i'th of a run of distinct learnable MACs.
func seqMAC(i int) MAC { return macFromKey(0x02_00_00_00_00_00 | uint64(i)) }

// errOnce collects the first few errors from goroutines that must not call
// t.Fatal.
type errOnce struct {
	mu   sync.Mutex
	errs []string
}

func (e *errOnce) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.errs) < 10 {
		e.errs = append(e.errs, fmt.Sprintf(format, args...))
	}
}

func (e *errOnce) check(t *testing.T) {
	t.Helper()
	for _, s := range e.errs {
		t.Error(s)
	}
	if len(e.errs) > 0 {
		t.FailNow()
	}
}

// checkSlots checks the bookkeeping of the current array against its slots.
func checkSlots[K comparable](t *testing.T, tab *table[K]) {
	t.Helper()
	a := tab.cur.Load()
	used, live, learned := 0, 0, 0
	for i := range a.len() {
		tag := a.at(i).kw.Load()
		if tag != 0 {
			used++
		}
		if tag&tagLive != 0 {
			live++
			if tag&tagStatic == 0 {
				learned++
			}
		}
	}
	if used != a.used || live != tab.len() || learned != tab.learnedLen() {
		t.Fatalf("slots: used %d, live %d, learned %d; want %d, %d, %d", used, live, learned, a.used, tab.len(), tab.learnedLen())
	}
	if 4*a.used > 3*a.len() {
		t.Fatalf("array of %d slots has %d used, more than 3/4", a.len(), a.used)
	}
}

func TestSlotLayout(t *testing.T) {
	// Four slots per 64-byte cache line; see groupLen.
	if got := unsafe.Sizeof(slot{}); got != 16 {
		t.Errorf("slot is %d bytes, want 16", got)
	}
	if got := unsafe.Sizeof(group{}); got != 64 {
		t.Errorf("MAC group is %d bytes, want 64", got)
	}
}

// TestTableRehashConcurrent grows a table through many rehashes, with
// deletes leaving tombstones, while readers and refreshers work on entries
// that were there from the start: none may miss or see a wrong value.
func TestTableRehashConcurrent(t *testing.T) {
	const base, grow = 2000, 30_000
	tab := NewTable(base+grow, time.Hour)
	want := func(i int) Dest { return vtep(uint32(i)) }
	for i := range base {
		tab.Learn(seqMAC(i), want(i), 0)
	}
	first := tab.t.cur.Load()

	var (
		stop atomic.Bool
		wg   sync.WaitGroup
		errs errOnce
	)
	for r := range 2 {
		wg.Go(func() {
			for n := 0; !stop.Load(); n++ {
				i := (n*7919 + r*1000) % base
				if d, ok := tab.Lookup(seqMAC(i), 1); !ok || d != want(i) {
					errs.add("Lookup(%v) = %v, %v during rehash, want %v", seqMAC(i), d, ok, want(i))
				}
			}
		})
	}
	wg.Go(func() {
		for n := 0; !stop.Load(); n++ {
			i, now := n%base, int64(n/base+1)
			if r := tab.Learn(seqMAC(i), want(i), now); r != Refreshed {
				errs.add("Learn(%v) = %v during rehash, want %v", seqMAC(i), r, Refreshed)
			}
		}
	})
	for i := base; i < base+grow; i++ {
		tab.Learn(seqMAC(i), port(1), 0)
		if i%3 == 0 {
			tab.Delete(seqMAC(i - 1))
		}
	}
	stop.Store(true)
	wg.Wait()
	errs.check(t)

	if a := tab.t.cur.Load(); a == first || a.len() <= first.len() {
		t.Fatalf("array went from %d to %d slots; the test needs it to grow", first.len(), a.len())
	}
	for i := range base {
		wantLookup(t, tab, seqMAC(i), 1, want(i))
	}
	if got, want := tab.Len(), base+grow-grow/3; got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}
	checkSlots(t, &tab.t)
}

// TestTableRefreshRacingRehash refreshes entries while an insert rehashes
// the table: a refresh that stores into the old array after the copy read
// the slot must be repeated on the new one, or the entry keeps its old value
// and ages out.
func TestTableRefreshRacingRehash(t *testing.T) {
	const n = 1000
	rounds := 100
	if testing.Short() {
		rounds = 10
	}
	for round := range rounds {
		tab := NewTable(1<<20, 10*time.Nanosecond)
		for i := range n {
			tab.Learn(seqMAC(i), port(1), 0)
		}
		// Fill up to the rehash threshold, so the next new key rehashes.
		next := n
		for a := tab.t.cur.Load(); 4*(a.used+1) <= 3*a.len(); next++ {
			tab.Learn(seqMAC(next), port(3), 100)
		}
		old := tab.t.cur.Load()

		var (
			start = make(chan struct{})
			wg    sync.WaitGroup
			errs  errOnce
		)
		wg.Go(func() {
			<-start
			for i := range n {
				// Aged at 100, so the refresh revives it.
				if r := tab.Learn(seqMAC(i), port(2), 100); r != LearnedNew {
					errs.add("Learn(%v) = %v, want %v", seqMAC(i), r, LearnedNew)
				}
			}
		})
		wg.Go(func() {
			<-start
			tab.Learn(seqMAC(next), port(3), 100)
		})
		close(start)
		wg.Wait()
		errs.check(t)
		if tab.t.cur.Load() == old {
			t.Fatal("no rehash")
		}
		for i := range n {
			if d, ok := tab.Lookup(seqMAC(i), 100); !ok || d != port(2) {
				t.Fatalf("round %d: Lookup(%v) = %v, %v after refresh, want %v: refresh lost in the rehash", round, seqMAC(i), d, ok, port(2))
			}
		}
	}
}

// TestTableTombstoneChurn fills and empties a table many times. Deletes
// leave tombstones that inserts never reuse, so only rehashing bounds the
// array; it must stay sized for what is live.
func TestTableTombstoneChurn(t *testing.T) {
	const limit, cycles = 500, 100
	tab := NewTable(limit, 10*time.Second)
	bound := 0 // largest array seen
	for c := range cycles {
		keys := func(i int) MAC { return seqMAC(c*limit + i) }
		for i := range limit {
			if r := tab.Learn(keys(i), port(uint32(i)), 0); r != LearnedNew {
				t.Fatalf("cycle %d: Learn = %v, want %v", c, r, LearnedNew)
			}
		}
		for i := range limit {
			wantLookup(t, tab, keys(i), 0, port(uint32(i)))
		}
		if c%2 == 0 {
			for i := range limit {
				if !tab.Delete(keys(i)) {
					t.Fatalf("cycle %d: Delete(%v) = false", c, keys(i))
				}
			}
		} else if got := tab.Expire(11 * sec); got != limit {
			t.Fatalf("cycle %d: Expire = %d, want %d", c, got, limit)
		}
		for i := range limit {
			wantLookup(t, tab, keys(i), 0, Dest{})
		}
		if tab.Len() != 0 || tab.LearnedLen() != 0 {
			t.Fatalf("cycle %d: Len, LearnedLen = %d, %d, want 0", c, tab.Len(), tab.LearnedLen())
		}
		checkSlots(t, &tab.t)
		bound = max(bound, tab.t.cur.Load().len())
	}
	// A rehash sizes the array to at least twice the live entries plus
	// one, rounded up to a power of two: 1024 or 2048 for up to 500.
	if bound > 2048 {
		t.Errorf("array grew to %d slots for %d entries", bound, limit)
	}
}

// TestTableTombstoneNotReused checks what lock-free readers rely on: a slot
// keeps its key for the life of the array, even once deleted.
func TestTableTombstoneNotReused(t *testing.T) {
	tab := NewTable(10, time.Hour)
	k := testMAC(1)
	tab.Learn(k, port(1), 0)
	a := tab.t.cur.Load()
	i1 := a.find(k.key())
	tab.Delete(k)
	tab.Learn(k, port(2), 0)
	if tab.t.cur.Load() != a {
		t.Fatal("unexpected rehash")
	}
	if i2 := a.find(k.key()); i1 == i2 {
		t.Fatal("re-learned key went into its own tombstone")
	}
	s1 := a.at(i1)
	if kw := s1.kw.Load(); kw&tagLive != 0 || kw&tagDeleted == 0 || a.key(i1, kw) != k.key() || s1.vw.Load()>>stampBits != port(1).pack() {
		t.Fatalf("deleted slot changed: kw %#x vw %#x", kw, s1.vw.Load())
	}
	wantLookup(t, tab, k, 0, port(2))
}

// TestTableStaticConversionConcurrent turns learned entries static while
// readers look up, and refreshers learn, the entry being converted. The
// conversions also fill the array with tombstones, so some of them rehash.
func TestTableStaticConversionConcurrent(t *testing.T) {
	const n = 4096
	tab := NewTable(n, time.Hour)
	learned := func(i int) Dest { return port(uint32(i%5 + 1)) }
	static := func(i int) Dest { return vtep(uint32(i)) }
	for i := range n {
		tab.Learn(seqMAC(i), learned(i), 0)
	}
	first := tab.t.cur.Load()

	var (
		cur  atomic.Int64 // index being converted
		stop atomic.Bool
		wg   sync.WaitGroup
		errs errOnce
	)
	wg.Go(func() {
		for !stop.Load() {
			i := int(cur.Load())
			d, ok := tab.Lookup(seqMAC(i), 0)
			if !ok || (d != learned(i) && d != static(i)) {
				errs.add("Lookup(%v) = %v, %v while turning static, want %v or %v", seqMAC(i), d, ok, learned(i), static(i))
			}
		}
	})
	wg.Go(func() {
		for !stop.Load() {
			i := int(cur.Load())
			if r := tab.Learn(seqMAC(i), learned(i), 0); r != Refreshed && r != StaticKept {
				errs.add("Learn(%v) = %v while turning static", seqMAC(i), r)
			}
		}
	})
	for i := range n {
		cur.Store(int64(i))
		tab.AddStatic(seqMAC(i), static(i))
	}
	stop.Store(true)
	wg.Wait()
	errs.check(t)

	if tab.t.cur.Load() == first {
		t.Fatal("no rehash during the conversions")
	}
	if tab.Len() != n || tab.LearnedLen() != 0 {
		t.Fatalf("Len, LearnedLen = %d, %d, want %d, 0", tab.Len(), tab.LearnedLen(), n)
	}
	for i := range n {
		wantLookup(t, tab, seqMAC(i), 0, static(i))
	}
	checkSlots(t, &tab.t)
}

// TestTableSnapshotDuringConversion takes snapshots while learned entries
// turn static: every entry is in each snapshot exactly once.
func TestTableSnapshotDuringConversion(t *testing.T) {
	const n = 2048
	rounds := 10
	if testing.Short() {
		rounds = 2
	}
	tab := NewTable(n, time.Hour)
	for range rounds {
		for i := range n {
			tab.Delete(seqMAC(i))
			tab.Learn(seqMAC(i), port(1), 0)
		}
		var (
			stop  atomic.Bool
			wg    sync.WaitGroup
			errs  errOnce
			snaps atomic.Int64
		)
		wg.Go(func() {
			for !stop.Load() {
				rows := tab.Snapshot(0)
				snaps.Add(1)
				if len(rows) != n {
					errs.add("Snapshot has %d rows, want %d", len(rows), n)
				}
				for i := 1; i < len(rows); i++ {
					if rows[i].MAC == rows[i-1].MAC {
						errs.add("Snapshot lists %v twice", rows[i].MAC)
					}
				}
			}
		})
		for i := range n {
			tab.AddStatic(seqMAC(i), vtep(1))
		}
		stop.Store(true)
		wg.Wait()
		errs.check(t)
		if snaps.Load() == 0 {
			t.Log("no snapshot overlapped the conversions")
		}
	}
}

// TestTableSweepAcrossRehash rehashes the table in the middle of a sweep,
// between two batches: the sweep must start over on the new array rather
// than carry on at an index that no longer means anything.
func TestTableSweepAcrossRehash(t *testing.T) {
	const n = 4 * sweepBatch
	for attempt := 0; ; attempt++ {
		if attempt == 20 {
			t.Fatal("no rehash came between two batches of a sweep")
		}
		tab := NewTable(1<<20, time.Hour)
		for i := range n {
			tab.Learn(seqMAC(i), port(1), 0)
		}
		next := n
		for a := tab.t.cur.Load(); 4*(a.used+1) <= 3*a.len(); next++ {
			tab.Learn(seqMAC(next), port(2), 0)
		}
		kept := next - n
		old := tab.t.cur.Load()

		insert := make(chan struct{})
		var (
			wg        sync.WaitGroup
			calls     int
			sawRehash bool
		)
		wg.Go(func() {
			<-insert
			tab.Learn(seqMAC(next), port(2), 0) // rehashes
		})
		got := tab.FlushDests(func(d Dest) bool {
			// Called with the mutex held, so reading cur is safe.
			if calls++; calls == 1 {
				close(insert)
			}
			if tab.t.cur.Load() != old {
				sawRehash = true
			}
			return d == port(1)
		})
		wg.Wait()
		if got != n {
			t.Fatalf("FlushDests = %d, want %d", got, n)
		}
		if l := tab.LearnedLen(); l != kept+1 {
			t.Fatalf("LearnedLen() = %d, want %d", l, kept+1)
		}
		for i := range n {
			wantLookup(t, tab, seqMAC(i), 0, Dest{})
		}
		checkSlots(t, &tab.t)
		if sawRehash {
			return
		}
	}
}

// TestTableCapacity checks the array size, and so the memory, at the issue's
// 100k entries: 2^18 slots of 16 bytes and 8 more for the exact last-seen,
// 6 MiB.
func TestTableCapacity(t *testing.T) {
	const n = 100_000
	tab := NewTable(n, time.Hour)
	for i := range n {
		tab.Learn(seqMAC(i), port(1), 0)
	}
	if got := tab.t.cur.Load().len(); got > 1<<18 {
		t.Errorf("%d entries take %d slots, want at most %d", n, got, 1<<18)
	}
	checkSlots(t, &tab.t)
}

func TestNeighborsRehash(t *testing.T) {
	const n = 5000
	nb := NewNeighbors(n, time.Hour)
	ip := func(i int) [16]byte {
		return [16]byte{0x20, 0x01, 0x0d, 0xb8, 12: byte(i >> 24), 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)}
	}
	for i := range n {
		nb.Learn(netip.AddrFrom16(ip(i)), seqMAC(i+1), 0)
		if i%2 == 1 {
			nb.Delete(netip.AddrFrom16(ip(i - 1)))
		}
	}
	for i := range n {
		want := MAC{}
		if i%2 == 1 {
			want = seqMAC(i + 1)
		}
		wantNeigh(t, nb, netip.AddrFrom16(ip(i)), 0, want)
	}
	checkSlots(t, &nb.t)
	rows := nb.Snapshot(0)
	if len(rows) != n/2 || !slices.IsSortedFunc(rows, func(a, b NeighEntry) int { return a.IP.Compare(b.IP) }) {
		t.Errorf("Snapshot has %d rows (sorted: %v), want %d", len(rows), slices.IsSortedFunc(rows, func(a, b NeighEntry) int { return a.IP.Compare(b.IP) }), n/2)
	}
}

// BenchmarkTableBytesPerEntry reports the heap a MAC table holds per learned
// entry, at the load the table has after learning n entries one by one.
func BenchmarkTableBytesPerEntry(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var perEntry, mib float64
			for b.Loop() {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				tab := NewTable(n, time.Hour)
				for i := range n {
					tab.Learn(seqMAC(i), port(1), 0)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				inuse := float64(after.HeapInuse) - float64(before.HeapInuse)
				perEntry, mib = inuse/float64(n), inuse/(1<<20)
				runtime.KeepAlive(tab)
			}
			b.ReportMetric(perEntry, "B/entry")
			b.ReportMetric(mib, "MiB")
		})
	}
}

// TestTableMoveRacingFlush moves an entry while a sweep that will delete it
// for its old destination has read it but not yet deleted it. The move
// returns first, so the flush must not delete the moved entry.
func TestTableMoveRacingFlush(t *testing.T) {
	tab := NewTable(10, time.Hour)
	k := testMAC(1)
	tab.Learn(k, port(1), 0)
	moved := false
	n := tab.FlushDests(func(d Dest) bool {
		if !moved {
			moved = true
			// The sweep holds the mutex; a refresh does not need it.
			r := make(chan Result)
			go func() { r <- tab.Learn(k, port(2), 1) }()
			if got := <-r; got != Moved {
				t.Errorf("Learn during the sweep = %v, want %v", got, Moved)
			}
		}
		return d == port(1)
	})
	if n != 0 {
		t.Errorf("FlushDests = %d, want 0: the entry had moved", n)
	}
	wantLookup(t, tab, k, 1, port(2))
	if tab.Len() != 1 || tab.LearnedLen() != 1 {
		t.Errorf("Len, LearnedLen = %d, %d, want 1, 1", tab.Len(), tab.LearnedLen())
	}
	checkSlots(t, &tab.t)
}

// TestTableRefreshRacingExpire revives aged entries while Expire deletes
// them. Every Learn returns LearnedNew, so every entry must be there after.
// The interleavings that could lose one are rare here;
// TestTableMoveRacingFlush and TestTableRefreshAfterSweep force them.
func TestTableRefreshRacingExpire(t *testing.T) {
	const n = 4 * sweepBatch
	rounds := 20
	if testing.Short() {
		rounds = 3
	}
	for round := range rounds {
		tab := NewTable(n, 10*time.Nanosecond)
		for i := range n {
			tab.Learn(seqMAC(i), port(1), 0)
		}
		var (
			start = make(chan struct{})
			wg    sync.WaitGroup
			errs  errOnce
		)
		wg.Go(func() {
			<-start
			for i := range n {
				if r := tab.Learn(seqMAC(i), port(2), 100); r != LearnedNew {
					errs.add("Learn(%v) = %v, want %v", seqMAC(i), r, LearnedNew)
				}
			}
		})
		wg.Go(func() {
			<-start
			tab.Expire(100)
		})
		close(start)
		wg.Wait()
		errs.check(t)
		if got := tab.Len(); got != n {
			t.Fatalf("round %d: Len() = %d after Learns and Expire, want %d", round, got, n)
		}
		for i := range n {
			if d, ok := tab.Lookup(seqMAC(i), 100); !ok || d != port(2) {
				t.Fatalf("round %d: Lookup(%v) = %v, %v, want %v", round, seqMAC(i), d, ok, port(2))
			}
		}
		checkSlots(t, &tab.t)
	}
}

// TestTableRefreshAfterSweep has a refresh find an entry, a sweep delete it
// before the refresh stores, and the refresh store after: the refresh must
// notice the tombstone and learn the entry again, or its Learn returns
// Moved for an entry that is gone.
func TestTableRefreshAfterSweep(t *testing.T) {
	tab := NewTable(10, time.Hour)
	k := testMAC(1)
	tab.Learn(k, port(1), 0)
	// learn, stopped between find and learnFound.
	a := tab.t.cur.Load()
	s := a.find(k.key())
	if n := tab.FlushDest(port(1)); n != 1 {
		t.Fatalf("FlushDest = %d, want 1", n)
	}
	if r := tab.t.learnFound(a, s, k.key(), port(2).pack(), 1); r != LearnedNew {
		t.Errorf("Learn after the sweep = %v, want %v", r, LearnedNew)
	}
	wantLookup(t, tab, k, 1, port(2))
	checkSlots(t, &tab.t)
	if t.Failed() {
		t.FailNow()
	}

	// The same with a rehash instead of a sweep: the refresh stores into a
	// retired array and must repeat itself on the new one.
	tab.Learn(testMAC(2), port(1), 0)
	a = tab.t.cur.Load()
	s = a.find(k.key())
	for i := 3; tab.t.cur.Load() == a; i++ {
		tab.AddStatic(testMAC(byte(i)), vtep(1))
	}
	if r := tab.t.learnFound(a, s, k.key(), port(3).pack(), 2); r != Moved {
		t.Errorf("Learn after the rehash = %v, want %v", r, Moved)
	}
	wantLookup(t, tab, k, 2, port(3))
	checkSlots(t, &tab.t)
}
