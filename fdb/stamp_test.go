package fdb

import (
	"math"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// Tests of the coarse last-seen stamp that lets lookupMAC judge most
// learned entries without reading their exact last-seen (see table.fresh).
// The stamp may only make a Lookup cheaper: every answer must be the one
// the exact last-seen gives.

// stampAgeings covers tiny ageing times (never fresh by stamp alone), the
// smallest stamp unit, common ones, and times so long that the unit is at
// its cap.
var stampAgeings = []time.Duration{
	1, time.Microsecond, time.Millisecond, 20 * time.Millisecond, time.Second,
	300 * time.Second, time.Hour, 100 * 365 * 24 * time.Hour, math.MaxInt64,
}

// exactFresh is the answer Lookup gave before stamps, overflow and all.
func exactFresh(ageing time.Duration, seen, now int64) bool { return now-seen <= int64(ageing) }

// macSlot returns the slot index of mac's live entry in tab's current array.
func macSlot(t *testing.T, tab *Table, mac MAC) (*slots[uint64], int) {
	t.Helper()
	a := tab.t.cur.Load()
	i := a.find(mac.key())
	if i < 0 {
		t.Fatalf("%v not in the table", mac)
	}
	return a, i
}

// fastFresh reports whether lookupMAC would decide mac's entry is fresh at
// now from its stamp alone.
func fastFresh(t *testing.T, tab *Table, mac MAC, now int64) bool {
	t.Helper()
	a, i := macSlot(t, tab, mac)
	return tab.t.fresh(a.at(i).vw.Load(), tab.t.oldest.Load(), now)
}

// checkStamps checks, for a table nothing runs against concurrently, that
// oldest bounds every live learned entry's last-seen and that every stamp
// is that of its entry's last-seen.
func checkStamps(t *testing.T, tab *table[uint64]) {
	t.Helper()
	a := tab.cur.Load()
	oldest := tab.oldest.Load()
	for i := range a.len() {
		s := a.at(i)
		kw := s.kw.Load()
		if kw&(tagLive|tagStatic) != tagLive {
			continue
		}
		seen := a.seen[i].Load()
		if seen < oldest {
			t.Fatalf("%v last seen at %d, before oldest %d", macFromKey(a.key(i, kw)), seen, oldest)
		}
		if got, want := s.vw.Load()&stampMask, tab.stamp(seen); got != want {
			t.Fatalf("%v last seen at %d has stamp %#x, want %#x", macFromKey(a.key(i, kw)), seen, got, want)
		}
	}
}

func TestStampParams(t *testing.T) {
	for _, ageing := range stampAgeings {
		tab := &NewTable(1, ageing).t
		u := int64(1) << tab.shift
		switch {
		case tab.shift < minStampShift || tab.shift > maxStampShift:
			t.Errorf("ageing %v: stamp unit 1<<%d outside [1<<%d, 1<<%d]", ageing, tab.shift, minStampShift, maxStampShift)
		case tab.shift > minStampShift && u > int64(ageing)/stampFraction:
			t.Errorf("ageing %v: stamp unit %d above ageing/%d", ageing, u, stampFraction)
		case tab.shift < maxStampShift && 2*u <= int64(ageing)/stampFraction:
			t.Errorf("ageing %v: stamp unit %d not the largest possible", ageing, u)
		}
		if tab.dlim != uint64(ageing)/uint64(u) || tab.horizon != 1<<(stampBits-1)*uint64(u) || tab.smask != stampMask || tab.vshift != stampBits {
			t.Errorf("ageing %v: dlim %d horizon %d smask %#x vshift %d", ageing, tab.dlim, tab.horizon, tab.smask, tab.vshift)
		}
	}
	if n := &NewNeighbors(1, time.Hour).t; n.smask != 0 || n.vshift != 0 || n.dlim != 0 {
		t.Errorf("Neighbors has stamps: smask %#x vshift %d dlim %d", n.smask, n.vshift, n.dlim)
	}
}

// TestStampBoundary learns one entry at various times and looks it up
// around the ageing boundary, around unit boundaries, at earlier times
// (clocks that disagree) and at extremes: Lookup must agree with the exact
// rule every time, and the stamp alone must have decided some of them.
func TestStampBoundary(t *testing.T) {
	mac := testMAC(1)
	for _, ageing := range stampAgeings {
		t.Run(ageing.String(), func(t *testing.T) {
			u := int64(1) << NewTable(1, ageing).t.shift
			age := int64(ageing)
			seens := []int64{0, 1, u - 1, u, 5*u + 3, 1<<40 + 7, 1 << 62, -1, -5 * u, math.MinInt64, math.MaxInt64}
			var deltas []int64
			for _, d := range []int64{0, 1, 2, u - 1, u, u + 1, 2*u - 1, 2 * u, 3 * u} {
				deltas = append(deltas, d, -d)
			}
			fast, checked := 0, 0
			for _, seen := range seens {
				tab := NewTable(1, ageing)
				tab.Learn(mac, port(1), seen)
				var nows []int64
				add := func(base int64, ok bool) {
					if !ok {
						return
					}
					for _, d := range deltas {
						if now, ok := addOK(base, d); ok {
							nows = append(nows, now)
						}
					}
				}
				limit, ok := addOK(seen, age)
				add(limit, ok)      // the ageing boundary
				add(limit/u*u, ok)  // the unit boundary below it
				add(seen, true)     // just learned, or clocks disagree
				add(seen/u*u, true) // the unit it was learned in
				nows = append(nows, 0, math.MinInt64, math.MaxInt64)
				for _, now := range nows {
					want := exactFresh(ageing, seen, now)
					if _, got := tab.Lookup(mac, now); got != want {
						t.Fatalf("learned at %d, Lookup at %d (%+d from the limit): hit %v, want %v", seen, now, now-limit, got, want)
					}
					if fastFresh(t, tab, mac, now) {
						fast++
						if !want {
							t.Fatalf("learned at %d: stamp says fresh at %d, but it is aged", seen, now)
						}
					}
					checked++
				}
				checkStamps(t, &tab.t)
			}
			if age >= 2*u && fast == 0 {
				t.Errorf("the stamp decided none of %d lookups", checked)
			}
		})
	}
}

// addOK returns a+b and whether it did not overflow.
func addOK(a, b int64) (int64, bool) {
	s := a + b
	return s, (s > a) == (b > 0) || b == 0
}

// TestStampWrap looks up entries far more than 2^24 stamp units after they
// were last seen, where the stamp has wrapped round and alone would call
// them fresh: without an Expire in between, oldest must keep the stamp out
// of it.
func TestStampWrap(t *testing.T) {
	const ageing = 20 * time.Millisecond
	mac := testMAC(1)
	for _, seen := range []int64{0, 12345, 1 << 50, 1<<62 - 1<<44} {
		tab := NewTable(4, ageing)
		u := int64(1) << tab.t.shift
		wrap := u << stampBits
		tab.Learn(mac, port(1), seen)
		tab.Learn(testMAC(2), port(2), seen+wrap/4) // others refreshed or learned since change nothing
		for k := int64(1); k <= 3; k++ {
			for _, d := range []int64{-2 * u, -1, 0, 1, u, int64(ageing) / 2} {
				now := seen + k*wrap + d
				if got, ok := tab.Lookup(mac, now); ok {
					t.Fatalf("learned at %d: Lookup at %d (%d wraps on) = %v, want a miss", seen, now, k, got)
				}
			}
		}
		checkStamps(t, &tab.t)
	}
}

// TestStampExpire keeps one entry alive over many stamp wraps, with Expire
// after every refresh as the switch calls it: Expire must raise oldest so
// that the stamp keeps deciding, and answers stay exact throughout.
func TestStampExpire(t *testing.T) {
	const ageing = 20 * time.Millisecond
	a, b := testMAC(1), testMAC(2)
	tab := NewTable(4, ageing)
	u := int64(1) << tab.t.shift
	step := u << (stampBits - 2) // four steps per wrap
	tab.Learn(a, port(1), 0)
	tab.Learn(b, port(2), 0)
	tab.AddStatic(testMAC(3), port(3))
	for k := int64(1); k <= 12; k++ {
		now := k * step
		wantLookup(t, tab, b, now, Dest{})
		if r := tab.Learn(a, port(1), now); r != LearnedNew {
			t.Fatalf("step %d: Learn = %v, want %v", k, r, LearnedNew)
		}
		tab.Expire(now)
		if got := tab.t.oldest.Load(); got != now {
			t.Fatalf("step %d: oldest = %d after Expire, want %d", k, got, now)
		}
		if !fastFresh(t, tab, a, now+1) {
			t.Fatalf("step %d: the stamp no longer decides", k)
		}
		wantLookup(t, tab, a, now+int64(ageing), port(1))
		wantLookup(t, tab, a, now+int64(ageing)+1, Dest{})
		wantLookup(t, tab, testMAC(3), now, port(3))
		checkStamps(t, &tab.t)
	}
	// With nothing learned, Expire must not leave a bound that a later
	// insert does not lower.
	tab.Expire(1 << 62)
	tab.Learn(b, port(2), 5)
	if got := tab.t.oldest.Load(); got != 5 {
		t.Errorf("oldest = %d after learning at 5, want 5", got)
	}
	wantLookup(t, tab, b, 5+(u<<stampBits), Dest{})
}

// TestStampRefresh checks that a refresh moves the stamp with last-seen,
// and that one with an earlier clock moves neither back.
func TestStampRefresh(t *testing.T) {
	const ageing = time.Second
	mac := testMAC(1)
	tab := NewTable(4, ageing)
	u := int64(1) << tab.t.shift
	tab.Learn(mac, port(1), 10*sec)
	tab.Learn(mac, port(2), 9*sec) // an earlier clock: moves, keeps last-seen
	checkStamps(t, &tab.t)
	wantLookup(t, tab, mac, 11*sec, port(2))
	wantLookup(t, tab, mac, 11*sec+1, Dest{})

	tab.Learn(mac, port(2), 30*sec) // revives
	checkStamps(t, &tab.t)
	if !fastFresh(t, tab, mac, 30*sec+u) {
		t.Error("the stamp was not moved with last-seen")
	}
	wantLookup(t, tab, mac, 31*sec, port(2))
	wantLookup(t, tab, mac, 31*sec+1, Dest{})
}

// TestStampSweepInsert inserts an entry with an old last-seen while a sweep
// is between two batches, at a slot the sweep has passed. The sweep must not
// raise oldest past it; if it did, the stamp of the new entry, a whole wrap
// old, would make a Lookup hit.
func TestStampSweepInsert(t *testing.T) {
	const (
		n      = 4 * sweepBatch
		ageing = 20 * time.Millisecond
	)
	for attempt := 0; ; attempt++ {
		if attempt == 20 {
			t.Fatal("no insert came between two batches of a sweep")
		}
		tab := NewTable(1<<20, ageing)
		u := int64(1) << tab.t.shift
		later := u<<stampBits + 5*u // a wrap after 0, plus a little
		for i := range n {
			tab.Learn(seqMAC(i), port(1), later)
		}
		// A key whose slot will be in the sweep's first batch.
		a := tab.t.cur.Load()
		old := MAC{}
		for i := n; ; i++ {
			if h := a.hash(seqMAC(i).key()); int(h&a.gmask) < sweepBatch/groupLen/2 {
				old = seqMAC(i)
				break
			}
		}
		var (
			wg    sync.WaitGroup
			calls int
			seen  bool // old was in the table during the sweep
		)
		tab.FlushDests(func(Dest) bool {
			// Called with the mutex held, so the Learn waits for a
			// batch to end.
			if calls++; calls == 1 {
				wg.Go(func() { tab.Learn(old, port(2), 0) })
			}
			seen = seen || a.find(old.key()) >= 0
			return false
		})
		wg.Wait()
		if tab.t.cur.Load() != a {
			t.Fatal("unexpected rehash")
		}
		if !seen {
			continue
		}
		if _, i := macSlot(t, tab, old); i >= sweepBatch {
			t.Fatalf("%v went to slot %d, after the first batch", old, i)
		}
		checkStamps(t, &tab.t)
		if got, ok := tab.Lookup(old, later); ok {
			t.Fatalf("Lookup of an entry a wrap old = %v, want a miss", got)
		}
		return
	}
}

// TestStampSweepConcurrent runs Expires against Learns of new keys with
// old-ish times and refreshes, then checks oldest against every entry.
func TestStampSweepConcurrent(t *testing.T) {
	const n = 3 * sweepBatch
	tab := NewTable(4*n, time.Hour)
	for i := range n {
		tab.Learn(seqMAC(i), port(1), int64(i)*sec)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range n {
			tab.Learn(seqMAC(n+i), port(2), int64(i%7)*sec)
		}
	})
	wg.Go(func() {
		for i := range 2 * n {
			tab.Learn(seqMAC(i%n), port(1), int64(n+i)*sec)
		}
	})
	for i := range 20 {
		tab.Expire(int64(n+i*100) * sec)
	}
	wg.Wait()
	checkStamps(t, &tab.t)
	for i := range 2 * n {
		now := int64(2*n) * sec
		_, ok := tab.Lookup(seqMAC(i), now)
		_, inTable := macSlotOK(tab, seqMAC(i))
		if ok && !inTable {
			t.Fatalf("Lookup(%v) hit an entry not in the table", seqMAC(i))
		}
		if inTable {
			a, j := macSlot(t, tab, seqMAC(i))
			if want := exactFresh(time.Hour, a.seen[j].Load(), now); ok != want {
				t.Fatalf("Lookup(%v, %d) hit %v, want %v", seqMAC(i), now, ok, want)
			}
		}
	}
}

func macSlotOK(tab *Table, mac MAC) (*slots[uint64], bool) {
	a := tab.t.cur.Load()
	return a, a.find(mac.key()) >= 0
}

// FuzzTableClock is FuzzTable with a clock that moves by stamp units, by
// the ageing time, by whole stamp wraps and backwards, for several ageing
// times: the stamp must never change an answer, and oldest and the stamps
// must stay consistent with the entries.
func FuzzTableClock(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 0, 0x10, 6, 0x02, 5, 0x00, 6, 0x0a, 5, 0x00, 4, 0, 6, 0x0b, 5, 0x00})
	f.Add([]byte{2, 0, 0x10, 6, 0x0c, 0, 0x11, 4, 0, 5, 0x00, 6, 0x0c, 5, 0x01, 6, 0x03, 5, 0x01})
	f.Add([]byte{5, 0, 0x10, 6, 0x04, 1, 0x10, 6, 0x05, 5, 0x00, 6, 0x09, 5, 0x00, 7, 0x10, 5, 0x00})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) == 0 {
			return
		}
		const limit = 4
		ageing := stampAgeings[int(ops[0])%len(stampAgeings)]
		ops = ops[1:min(len(ops), 1+2*maxFuzzOps)]
		tab := NewTable(limit, ageing)
		u := int64(1) << tab.t.shift
		// Clock steps; the argument's low nibble picks one, the high
		// nibble's low bit makes it go backwards.
		steps := []int64{
			1, u - 1, u, int64(ageing), int64(ageing) + 1, int64(ageing) - u,
			u << (stampBits - 1), u << stampBits, u<<stampBits - 1, 3 * u << (stampBits - 2),
			int64(ageing) / 2, int64(ageing)/u*u - 1, 1 << 40, 1 << 50, 1 << 61, 0,
		}
		ref := refTable{max: limit, ageing: int64(ageing), m: map[MAC]refEntry{}}
		statics := map[MAC]Dest{}
		var now int64
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i]%8, ops[i+1]
			if !tableOp(t, i/2, op, arg, tab, &ref, statics, now) { // 6, 7: the clock
				step := steps[arg&15]
				if arg&0x10 != 0 {
					step = -step
				}
				if next, ok := addOK(now, step); ok {
					now = next
				}
			}
			checkAgainstRef(t, i/2, tab, &ref, statics, now)
			checkStamps(t, &tab.t)
		}
	})
}

// TestStampSnapshotAge checks that Snapshot, which reads the exact
// last-seen, agrees with Lookup across a wrap.
func TestStampSnapshotAge(t *testing.T) {
	const ageing = 20 * time.Millisecond
	tab := NewTable(4, ageing)
	u := int64(1) << tab.t.shift
	tab.Learn(testMAC(1), port(1), 0)
	tab.Learn(testMAC(2), port(2), u<<stampBits)
	rows := tab.Snapshot(u << stampBits)
	want := []Entry{{MAC: testMAC(2), Dest: port(2), Type: Learned}}
	if !slices.Equal(rows, want) {
		t.Errorf("Snapshot = %v, want %v", rows, want)
	}
	for _, e := range rows {
		wantLookup(t, tab, e.MAC, u<<stampBits, e.Dest)
	}
	wantLookup(t, tab, testMAC(1), u<<stampBits, Dest{})
}

// TestStampOverflow has entries last seen at both ends of the clock's range,
// so that oldest is near its minimum, and looks one up at a negative time
// where now - seen overflows: the exact rule then calls it aged, and the
// stamp, whose arithmetic wraps differently, must not decide.
func TestStampOverflow(t *testing.T) {
	for _, ageing := range stampAgeings {
		tab := NewTable(4, ageing)
		u := int64(1) << tab.t.shift
		low, high := int64(math.MinInt64)+10, int64(1)<<62
		tab.Learn(testMAC(1), port(1), low)
		tab.Learn(testMAC(2), port(2), high)
		for _, d := range []int64{0, 1, u, 5 * u} {
			now := low + d
			for _, e := range []struct {
				mac  MAC
				seen int64
				d    Dest
			}{{testMAC(1), low, port(1)}, {testMAC(2), high, port(2)}} {
				want := Dest{}
				if exactFresh(ageing, e.seen, now) {
					want = e.d
				}
				wantLookup(t, tab, e.mac, now, want)
			}
		}
	}
}

// TestStampRehash rehashes a table whose entries were last seen at
// different times: the new array's oldest must still bound the oldest
// entry, or its stamp decides a lookup a whole wrap later.
func TestStampRehash(t *testing.T) {
	const ageing = 20 * time.Millisecond
	tab := NewTable(1000, ageing)
	u := int64(1) << tab.t.shift
	wrap := u << stampBits
	old := tab.t.cur.Load()
	tab.Learn(testMAC(1), port(1), 0)
	for i := range 500 {
		tab.Learn(seqMAC(1000+i), port(2), wrap/4)
	}
	if tab.t.cur.Load() == old {
		t.Fatal("no rehash")
	}
	checkStamps(t, &tab.t)
	wantLookup(t, tab, testMAC(1), wrap+u, Dest{})
	wantLookup(t, tab, seqMAC(1000), wrap/4+int64(ageing), port(2))
}

// TestStampRepairedByRefresh: a rehash copies a slot's vw before its exact
// last-seen, so a refresh racing it can leave the new array's stamp older
// than the entry's last-seen, and the refresh it then repeats under the
// mutex finds nothing newer to store. That refresh must still bring the
// stamp up to date, or the entry takes the exact check until a later
// clock comes along. The race is staged by hand: the stamp is set back
// directly.
func TestStampRepairedByRefresh(t *testing.T) {
	tab := NewTable(4, time.Second)
	mac := testMAC(1)
	u := int64(1) << tab.t.shift
	seen := 40 * u
	tab.Learn(mac, port(1), seen)
	a, i := macSlot(t, tab, mac)
	s := a.at(i)
	s.vw.Store(s.vw.Load()&^stampMask | tab.t.stamp(seen-10*u)) // what the copy left
	if r := tab.Learn(mac, port(1), seen); r != Refreshed {
		t.Fatalf("Learn = %v, want %v", r, Refreshed)
	}
	checkStamps(t, &tab.t)
	if !fastFresh(t, tab, mac, seen+int64(time.Second)/2) {
		t.Errorf("entry refreshed at %d: the stamp alone does not call it fresh half an ageing later", seen)
	}
}

// TestSweepGivesUpAfterRestarts rehashes the table between every two
// batches of a sweep. The sweep starts over maxSweepRestarts times and then
// carries on from where it is in each newer array: it must end, leave the
// aged entries it skipped for the next sweep (where no Lookup finds them),
// and not raise oldest past them; the next sweep, undisturbed, removes them
// and raises oldest.
func TestSweepGivesUpAfterRestarts(t *testing.T) {
	const (
		n        = 4 * sweepBatch
		ageing   = time.Second
		now      = 10 * sec // the first n entries, seen at 0, are aged by then
		rehashes = maxSweepRestarts + 3
	)
	tab := NewTable(1<<20, ageing)
	for i := range n {
		tab.Learn(seqMAC(i), port(1), 0)
	}
	next, done := n, 0
	sweepYield = func() {
		if done == rehashes {
			return // a sweep that restarts every time still ends, and fails below
		}
		a := tab.t.cur.Load()
		for tab.t.cur.Load() == a {
			tab.Learn(seqMAC(next), port(2), now)
			next++
		}
		done++
	}
	t.Cleanup(func() { sweepYield = runtime.Gosched })

	deleted := tab.Expire(now)
	sweepYield = runtime.Gosched
	if done != rehashes {
		t.Fatalf("the sweep yielded for %d rehashes, want %d: too few batches", done, rehashes)
	}
	left := 0
	for i := range n {
		if _, in := macSlotOK(tab, seqMAC(i)); in {
			left++
		}
		if d, ok := tab.Lookup(seqMAC(i), now); ok {
			t.Fatalf("Lookup(%v) = %v at %d s, seen at 0 with ageing %v: want a miss", seqMAC(i), d, now/sec, ageing)
		}
	}
	if left == 0 {
		t.Fatalf("the sweep deleted all %d aged entries despite %d rehashes: it never gave up restarting", n, rehashes)
	}
	if deleted+left != n {
		t.Fatalf("deleted %d, %d aged left: want %d in all", deleted, left, n)
	}
	checkStamps(t, &tab.t) // includes oldest <= 0, the skipped entries' last-seen

	if got := tab.Expire(now); got != left {
		t.Fatalf("second sweep deleted %d, want the %d the first skipped", got, left)
	}
	if got, want := tab.LearnedLen(), next-n; got != want {
		t.Fatalf("%d learned entries after both sweeps, want the %d fresh ones", got, want)
	}
	checkStamps(t, &tab.t)
	if got := tab.t.oldest.Load(); got != now {
		t.Fatalf("oldest = %d after a sweep that missed nothing, want %d (every entry's last-seen)", got, now)
	}
}
