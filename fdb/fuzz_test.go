package fdb

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// FuzzTable decodes its input as operations on a small Table and checks every
// answer against refTable, a plain map. Each operation is two bytes, an
// opcode and an argument; the argument's low nibble picks one of 16 MACs
// (some not learnable) and its high nibble a destination (some invalid).
func FuzzTable(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0x10, 0, 0x11, 0, 0x12, 0, 0x13, 0, 0x14, 5, 0x04, 6, 9, 1, 0x21, 4, 0})
	f.Add([]byte{0, 0x10, 2, 0x20, 0, 0x10, 3, 0x00, 0, 0x10, 7, 0x10, 5, 0})
	f.Add([]byte{0, 0x1c, 0, 0x0d, 0, 0x3e, 0, 0x01, 6, 15, 0, 0x11, 4, 0, 5, 0x01})
	f.Add([]byte{0, 0x10, 0, 0x51, 0, 0x92, 0, 0xd3, 1, 0x14, 6, 8, 0, 0x90, 6, 1, 0, 0x15, 4, 0, 0, 0x15})
	f.Fuzz(func(t *testing.T, ops []byte) {
		const (
			limit  = 4
			ageing = 8 * time.Nanosecond
		)
		tab := NewTable(limit, ageing)
		ref := refTable{max: limit, ageing: int64(ageing), m: map[MAC]refEntry{}}
		statics := map[MAC]Dest{} // kept apart from ref: no Learn may change these
		var now int64
		// Longer inputs only slow the fuzzer down: a table of four
		// entries shows its bugs within a few hundred operations.
		ops = ops[:min(len(ops), 2*maxFuzzOps)]
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i]%8, ops[i+1]
			switch d := fuzzDest(arg >> 4); {
			case tableOp(t, i/2, op, arg, tab, &ref, statics, now):
			case op == 6:
				now += int64(arg & 15)
			case op == 7:
				if got, want := tab.FlushDest(d), ref.sweep(func(e refEntry) bool { return e.d == d }); got != want {
					t.Fatalf("op %d: FlushDest(%v) = %d, want %d", i/2, d, got, want)
				}
			}
			checkAgainstRef(t, i/2, tab, &ref, statics, now)
		}
	})
}

// tableOp applies fuzz operation op with argument arg, if it is one of
// those FuzzTable and FuzzTableClock share (0-5: Learn, AddStatic, Delete,
// Expire, Lookup), to tab and to the model ref at now, failing t where they
// disagree; n numbers the operation in messages. It reports false for the
// other operations, which the caller applies.
func tableOp(t *testing.T, n int, op, arg byte, tab *Table, ref *refTable, statics map[MAC]Dest, now int64) bool {
	t.Helper()
	mac, d := fuzzMAC(arg&15), fuzzDest(arg>>4)
	switch op {
	case 0, 1:
		if got, want := tab.Learn(mac, d, now), ref.learn(mac, d, now); got != want {
			t.Fatalf("op %d: Learn(%v, %v, %d) = %v, want %v", n, mac, d, now, got, want)
		}
	case 2:
		tab.AddStatic(mac, d)
		ref.m[mac] = refEntry{d: d, static: true}
		statics[mac] = d
	case 3:
		_, want := ref.m[mac]
		delete(ref.m, mac)
		delete(statics, mac)
		if got := tab.Delete(mac); got != want {
			t.Fatalf("op %d: Delete(%v) = %v, want %v", n, mac, got, want)
		}
	case 4:
		if got, want := tab.Expire(now), ref.sweep(func(e refEntry) bool { return ref.aged(e, now) }); got != want {
			t.Fatalf("op %d: Expire(%d) = %d, want %d", n, now, got, want)
		}
	case 5:
		gotD, gotOK := tab.Lookup(mac, now)
		wantD, wantOK := ref.lookup(mac, now)
		if gotD != wantD || gotOK != wantOK {
			t.Fatalf("op %d: Lookup(%v, %d) = %v, %v, want %v, %v", n, mac, now, gotD, gotOK, wantD, wantOK)
		}
	default:
		return false
	}
	return true
}

// maxFuzzOps bounds an input's length. Each operation is checked against
// the model in full, so long inputs are slow, and the fuzzer minimizes every
// new input it keeps: at 512 operations minimizing one took most of a
// minute's run.
const maxFuzzOps = 256

// fuzzMAC maps a nibble to a MAC: 12 unicast, then broadcast, multicast and
// zero, then one more unicast that differs from the first only in its top
// octet.
func fuzzMAC(n byte) MAC {
	switch n {
	case 12:
		return broadcast
	case 13:
		return MAC{0x01, 0x00, 0x5e, 0, 0, 1}
	case 14:
		return MAC{}
	case 15:
		return MAC{0x06, 0, 0, 0, 0, 0}
	}
	return testMAC(n)
}

// fuzzDest maps a nibble to a destination: the low two bits are the kind
// (none, port, vtep, unknown), the high two the ID.
func fuzzDest(n byte) Dest { return Dest{Kind(n & 3), uint32(n >> 2)} }

func checkAgainstRef(t *testing.T, op int, tab *Table, ref *refTable, statics map[MAC]Dest, now int64) {
	t.Helper()
	lrn := ref.learned()
	if lrn > ref.max {
		t.Fatalf("op %d: reference model broke its own limit: %d learned", op, lrn)
	}
	got := [3]int{tab.Len(), tab.LearnedLen(), int(tab.FullDrops())}
	want := [3]int{len(ref.m), lrn, int(ref.drops)}
	if got != want {
		t.Fatalf("op %d: Len, LearnedLen, FullDrops = %v, want %v", op, got, want)
	}
	if tab.Len() > ref.max+len(statics) {
		t.Fatalf("op %d: Len() = %d above max %d + %d statics", op, tab.Len(), ref.max, len(statics))
	}
	for mac, d := range statics {
		if got, ok := tab.Lookup(mac, now); !ok || got != d {
			t.Fatalf("op %d: static %v = %v, %v, want %v", op, mac, got, ok, d)
		}
	}
	for n := range byte(16) {
		mac := fuzzMAC(n)
		gotD, gotOK := tab.Lookup(mac, now)
		wantD, wantOK := ref.lookup(mac, now)
		if gotD != wantD || gotOK != wantOK {
			t.Fatalf("op %d: Lookup(%v, %d) = %v, %v, want %v, %v", op, mac, now, gotD, gotOK, wantD, wantOK)
		}
	}
	// cmp.Diff is slow; run it only to explain a mismatch.
	if want, got := ref.snapshot(now), tab.Snapshot(now); !slices.Equal(want, got) {
		t.Fatalf("op %d: Snapshot(%d) (-want +got):\n%s", op, now, cmp.Diff(want, got))
	}
}

// refTable is the obvious, slow model of a Table.
type refTable struct {
	max    int
	ageing int64
	m      map[MAC]refEntry
	drops  uint64
}

type refEntry struct {
	d      Dest
	static bool
	seen   int64
}

func (r *refTable) aged(e refEntry, now int64) bool { return !e.static && now-e.seen > r.ageing }

func (r *refTable) learned() int {
	n := 0
	for _, e := range r.m {
		if !e.static {
			n++
		}
	}
	return n
}

func (r *refTable) learn(mac MAC, d Dest, now int64) Result {
	if mac.IsMulticast() || mac.IsZero() || (d.Kind != KindPort && d.Kind != KindVTEP) {
		return Invalid
	}
	e, ok := r.m[mac]
	switch {
	case ok && e.static:
		return StaticKept
	case !ok && r.learned() >= r.max:
		r.drops++
		return Full
	}
	seen := now
	if ok {
		seen = max(seen, e.seen) // last-seen never moves back
	}
	r.m[mac] = refEntry{d: d, seen: seen}
	switch {
	case !ok || r.aged(e, now):
		return LearnedNew
	case e.d != d:
		return Moved
	}
	return Refreshed
}

func (r *refTable) lookup(mac MAC, now int64) (Dest, bool) {
	e, ok := r.m[mac]
	if !ok || r.aged(e, now) {
		return Dest{}, false
	}
	return e.d, true
}

// sweep deletes the learned entries drop picks and returns how many.
func (r *refTable) sweep(drop func(refEntry) bool) int {
	n := 0
	for mac, e := range r.m {
		if !e.static && drop(e) {
			delete(r.m, mac)
			n++
		}
	}
	return n
}

func (r *refTable) snapshot(now int64) []Entry {
	var rows []Entry
	for mac, e := range r.m {
		switch {
		case e.static:
			rows = append(rows, Entry{MAC: mac, Dest: e.d, Type: Static})
		case !r.aged(e, now):
			rows = append(rows, Entry{MAC: mac, Dest: e.d, Type: Learned, Age: time.Duration(max(now-e.seen, 0))})
		}
	}
	slices.SortFunc(rows, func(a, b Entry) int { return slices.Compare(a.MAC[:], b.MAC[:]) })
	return rows
}
