package fdb

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const sec = int64(time.Second)

// testMAC returns a unicast, locally administered MAC ending in n.
func testMAC(n byte) MAC { return MAC{0x02, 0, 0, 0, 0, n} }

func port(id uint32) Dest { return Dest{KindPort, id} }
func vtep(id uint32) Dest { return Dest{KindVTEP, id} }

// wantLookup fails t unless tab.Lookup(mac, now) returns want (a zero want means a miss).
func wantLookup(t *testing.T, tab *Table, mac MAC, now int64, want Dest) {
	t.Helper()
	got, ok := tab.Lookup(mac, now)
	if want == (Dest{}) {
		if ok {
			t.Errorf("Lookup(%v, %d) = %v, want miss", mac, now, got)
		}
		return
	}
	if !ok || got != want {
		t.Errorf("Lookup(%v, %d) = %v, %v, want %v", mac, now, got, ok, want)
	}
}

func TestTableLearn(t *testing.T) {
	a, b := testMAC(1), testMAC(2)
	tab := NewTable(10, 100*time.Second)
	steps := []struct {
		name string
		mac  MAC
		d    Dest
		now  int64
		want Result
	}{
		{"new", a, port(1), 0, LearnedNew},
		{"same dest refreshes", a, port(1), 50 * sec, Refreshed},
		{"refresh at same time", a, port(1), 50 * sec, Refreshed},
		{"other port moves", a, port(2), 60 * sec, Moved},
		{"to a vtep moves", a, vtep(2), 60 * sec, Moved},
		{"same id other kind moves", a, port(2), 61 * sec, Moved},
		{"second mac is new", b, vtep(7), 61 * sec, LearnedNew},
		{"refresh keeps it alive", a, port(2), 160 * sec, Refreshed},
		{"aged entry learned again is new", b, vtep(7), 161*sec + 1, LearnedNew},
		{"aged entry learned elsewhere is new", a, port(3), 261*sec + 1, LearnedNew},
		{"earlier clock refreshes", a, port(3), 200 * sec, Refreshed},
	}
	for _, s := range steps {
		if got := tab.Learn(s.mac, s.d, s.now); got != s.want {
			t.Errorf("step %q: Learn(%v, %v, %d) = %v, want %v", s.name, s.mac, s.d, s.now, got, s.want)
		}
		// Whatever the result, the entry points at the newest dest at once.
		wantLookup(t, tab, s.mac, s.now, s.d)
	}
	if got := tab.Len(); got != 2 {
		t.Errorf("Len() = %d, want 2", got)
	}
	// Learn at an earlier time must not have moved last-seen back.
	wantLookup(t, tab, a, 361*sec+1, port(3))
}

func TestTableAgeing(t *testing.T) {
	a, b := testMAC(1), testMAC(2)
	tab := NewTable(10, 300*time.Second)
	tab.Learn(a, port(1), 0)
	tab.Learn(b, port(2), 0)
	tab.Learn(b, port(2), 200*sec) // refresh extends b's life

	wantLookup(t, tab, a, 300*sec, port(1)) // exactly the ageing time: still valid
	wantLookup(t, tab, a, 300*sec+1, Dest{})
	wantLookup(t, tab, b, 500*sec, port(2))
	wantLookup(t, tab, b, 500*sec+1, Dest{})

	// Aged but not expired: a miss, still counted, not in a snapshot.
	if got := tab.Len(); got != 2 {
		t.Errorf("Len() = %d, want 2 before Expire", got)
	}
	if got := tab.Snapshot(300*sec + 1); len(got) != 1 || got[0].MAC != b {
		t.Errorf("Snapshot(300s+1) = %v, want only %v", got, b)
	}
	if n := tab.Expire(300 * sec); n != 0 {
		t.Errorf("Expire(300s) = %d, want 0", n)
	}
	if n := tab.Expire(300*sec + 1); n != 1 {
		t.Errorf("Expire(300s+1) = %d, want 1", n)
	}
	if got := tab.Len(); got != 1 {
		t.Errorf("Len() = %d after Expire, want 1", got)
	}
	wantLookup(t, tab, a, 0, Dest{}) // gone, not merely aged
}

func TestTableExpire(t *testing.T) {
	tab := NewTable(10, 100*time.Second)
	for i := range 5 {
		tab.Learn(testMAC(byte(i+1)), port(1), int64(i)*10*sec) // seen at 0s, 10s, .. 40s
	}
	tab.AddStatic(testMAC(9), port(9))
	tests := []struct {
		now         int64
		want, wantN int
	}{
		{now: 100 * sec, want: 0, wantN: 6},
		{now: 125 * sec, want: 3, wantN: 3}, // 0s, 10s and 20s are older than 100s
		{now: 125 * sec, want: 0, wantN: 3},
		{now: 1e6 * sec, want: 2, wantN: 1}, // the static stays
	}
	for _, tt := range tests {
		if got := tab.Expire(tt.now); got != tt.want {
			t.Errorf("Expire(%d) = %d, want %d", tt.now, got, tt.want)
		}
		if got := tab.Len(); got != tt.wantN {
			t.Errorf("Len() after Expire(%d) = %d, want %d", tt.now, got, tt.wantN)
		}
	}
	wantLookup(t, tab, testMAC(9), 1e6*sec, port(9))
}

func TestTableStatic(t *testing.T) {
	a := testMAC(1)
	tab := NewTable(10, 100*time.Second)
	tab.Learn(a, port(1), 0)
	tab.AddStatic(a, vtep(5)) // overrides the learned entry
	wantLookup(t, tab, a, 0, vtep(5))
	if got, want := [2]int{tab.Len(), tab.LearnedLen()}, [2]int{1, 0}; got != want {
		t.Errorf("Len, LearnedLen = %v, want %v", got, want)
	}

	for _, d := range []Dest{port(1), vtep(5)} {
		if got := tab.Learn(a, d, sec); got != StaticKept {
			t.Errorf("Learn(%v, %v) over a static = %v, want %v", a, d, got, StaticKept)
		}
	}
	wantLookup(t, tab, a, sec, vtep(5))

	// Statics never age and Expire leaves them.
	wantLookup(t, tab, a, 1e9*sec, vtep(5))
	if n := tab.Expire(1e9 * sec); n != 0 {
		t.Errorf("Expire = %d, want 0 with only a static", n)
	}
	tab.AddStatic(a, port(8)) // replaces a static
	wantLookup(t, tab, a, 0, port(8))
	if got := tab.Len(); got != 1 {
		t.Errorf("Len() = %d, want 1", got)
	}

	if !tab.Delete(a) {
		t.Fatalf("Delete(%v) = false for a static", a)
	}
	if got := tab.Learn(a, port(1), 2*sec); got != LearnedNew {
		t.Errorf("Learn after deleting the static = %v, want %v", got, LearnedNew)
	}
}

func TestTableDelete(t *testing.T) {
	a, b := testMAC(1), testMAC(2)
	tab := NewTable(10, 100*time.Second)
	tab.Learn(a, port(1), 0)
	tab.AddStatic(b, port(2))
	tests := []struct {
		mac              MAC
		want             bool
		wantLen, wantLrn int
	}{
		{a, true, 1, 0},
		{a, false, 1, 0},
		{b, true, 0, 0},
		{testMAC(3), false, 0, 0},
	}
	for _, tt := range tests {
		if got := tab.Delete(tt.mac); got != tt.want {
			t.Errorf("Delete(%v) = %v, want %v", tt.mac, got, tt.want)
		}
		if got := [2]int{tab.Len(), tab.LearnedLen()}; got != [2]int{tt.wantLen, tt.wantLrn} {
			t.Errorf("after Delete(%v): Len, LearnedLen = %v, want %d, %d", tt.mac, got, tt.wantLen, tt.wantLrn)
		}
		wantLookup(t, tab, tt.mac, 0, Dest{})
	}
}

func TestTableLimit(t *testing.T) {
	a, b, c, d, e, s := testMAC(1), testMAC(2), testMAC(3), testMAC(4), testMAC(5), testMAC(9)
	tab := NewTable(3, 100*time.Second)
	learn := func(mac MAC, dst Dest, now int64, want Result) {
		t.Helper()
		if got := tab.Learn(mac, dst, now); got != want {
			t.Errorf("Learn(%v, %v, %d) = %v, want %v", mac, dst, now, got, want)
		}
	}
	drops := func(want uint64) {
		t.Helper()
		if got := tab.FullDrops(); got != want {
			t.Errorf("FullDrops() = %d, want %d", got, want)
		}
	}
	learn(a, port(1), 0, LearnedNew)
	learn(b, port(1), 0, LearnedNew)
	learn(c, port(1), 0, LearnedNew)
	learn(d, port(1), 0, Full)
	learn(e, port(1), 0, Full)
	drops(2)
	wantLookup(t, tab, d, 0, Dest{})

	// Known entries still refresh and move when full.
	learn(a, port(1), sec, Refreshed)
	learn(b, vtep(2), sec, Moved)
	wantLookup(t, tab, b, sec, vtep(2))
	drops(2)

	// Statics are extra: adding one neither fails nor makes room.
	tab.AddStatic(s, port(9))
	learn(d, port(1), sec, Full)
	drops(3)
	if got := [2]int{tab.Len(), tab.LearnedLen()}; got != [2]int{4, 3} {
		t.Errorf("Len, LearnedLen = %v, want 4, 3", got)
	}

	// Aged entries keep their slots until expired; relearning one is new but
	// does not grow the table.
	learn(c, port(1), 101*sec, LearnedNew)
	learn(d, port(1), 101*sec, Full)
	drops(4)
	if got := tab.LearnedLen(); got != 3 {
		t.Errorf("LearnedLen() = %d, want 3", got)
	}

	// Expire frees a and b (seen at 1s), and learning works again.
	if n := tab.Expire(101*sec + 1); n != 2 {
		t.Errorf("Expire = %d, want 2", n)
	}
	learn(d, port(1), 102*sec, LearnedNew)
	learn(e, port(1), 102*sec, LearnedNew)
	learn(a, port(1), 102*sec, Full)
	drops(5)

	// Turning a learned entry static frees its learned slot.
	tab.AddStatic(e, port(5))
	learn(a, port(1), 102*sec, LearnedNew)
	if got := [2]int{tab.Len(), tab.LearnedLen()}; got != [2]int{5, 3} {
		t.Errorf("Len, LearnedLen = %v, want 5, 3", got)
	}
}

func TestTableDefaults(t *testing.T) {
	for _, args := range []struct {
		max    int
		ageing time.Duration
	}{{0, 0}, {-1, -time.Second}} {
		tab := NewTable(args.max, args.ageing)
		for i := range DefaultMaxEntries {
			if r := tab.Learn(macFromKey(0x02_00_00_00_00_00|uint64(i+1)), port(1), 0); r != LearnedNew {
				t.Fatalf("NewTable(%d, %v): Learn #%d = %v", args.max, args.ageing, i, r)
			}
		}
		if r := tab.Learn(MAC{0x06, 0, 0, 0, 0, 1}, port(1), 0); r != Full {
			t.Errorf("NewTable(%d, %v): Learn beyond %d = %v, want %v", args.max, args.ageing, DefaultMaxEntries, r, Full)
		}
		first := macFromKey(0x02_00_00_00_00_01)
		wantLookup(t, tab, first, int64(DefaultAgeing), port(1))
		wantLookup(t, tab, first, int64(DefaultAgeing)+1, Dest{})
	}
}

func TestTableFlushDest(t *testing.T) {
	tab := NewTable(10, 100*time.Second)
	tab.Learn(testMAC(1), port(1), 0)
	tab.Learn(testMAC(2), port(1), 0)
	tab.Learn(testMAC(3), port(2), 0)
	tab.Learn(testMAC(4), vtep(1), 0) // same ID, other kind: stays
	tab.AddStatic(testMAC(5), port(1))

	if n := tab.FlushDest(port(1)); n != 2 {
		t.Errorf("FlushDest(port 1) = %d, want 2", n)
	}
	if n := tab.FlushDest(port(1)); n != 0 {
		t.Errorf("second FlushDest(port 1) = %d, want 0", n)
	}
	want := []Entry{
		{MAC: testMAC(3), Dest: port(2), Type: Learned},
		{MAC: testMAC(4), Dest: vtep(1), Type: Learned},
		{MAC: testMAC(5), Dest: port(1), Type: Static},
	}
	if diff := cmp.Diff(want, tab.Snapshot(0)); diff != "" {
		t.Errorf("Snapshot after FlushDest (-want +got):\n%s", diff)
	}
	if got := tab.LearnedLen(); got != 2 {
		t.Errorf("LearnedLen() = %d, want 2", got)
	}
}

func TestTableSnapshot(t *testing.T) {
	tab := NewTable(10, 100*time.Second)
	if got := tab.Snapshot(0); len(got) != 0 {
		t.Errorf("Snapshot of an empty table = %v", got)
	}
	// Inserted out of order; the snapshot sorts by MAC bytes.
	tab.Learn(MAC{0x0a, 0, 0, 0, 0, 1}, vtep(3), 50*sec)
	tab.AddStatic(MAC{0x02, 0, 0, 0, 0, 9}, port(9))
	tab.Learn(MAC{0x02, 0, 0, 0, 1, 0}, port(1), 0) // aged at 150s: omitted
	tab.Learn(MAC{0x02, 0, 0, 0, 0, 2}, port(2), 120*sec)
	tab.Learn(MAC{0x06, 0, 0, 0, 0, 0}, port(1), 150*sec)

	want := []Entry{
		{MAC: MAC{0x02, 0, 0, 0, 0, 2}, Dest: port(2), Type: Learned, Age: 30 * time.Second},
		{MAC: MAC{0x02, 0, 0, 0, 0, 9}, Dest: port(9), Type: Static},
		{MAC: MAC{0x06, 0, 0, 0, 0, 0}, Dest: port(1), Type: Learned},
		{MAC: MAC{0x0a, 0, 0, 0, 0, 1}, Dest: vtep(3), Type: Learned, Age: 100 * time.Second},
	}
	if diff := cmp.Diff(want, tab.Snapshot(150*sec)); diff != "" {
		t.Errorf("Snapshot(150s) (-want +got):\n%s", diff)
	}
}

func TestTableInvalid(t *testing.T) {
	tests := []struct {
		name string
		mac  MAC
		d    Dest
	}{
		{"broadcast", broadcast, port(1)},
		{"ipv4 multicast", MAC{0x01, 0x00, 0x5e, 0, 0, 1}, port(1)},
		{"ipv6 multicast", MAC{0x33, 0x33, 0, 0, 0, 1}, port(1)},
		{"zero", MAC{}, port(1)},
		{"no dest", testMAC(1), Dest{}},
		{"unknown kind", testMAC(1), Dest{Kind(7), 1}},
	}
	tab := NewTable(1, time.Second)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tab.Learn(tt.mac, tt.d, 0); got != Invalid {
				t.Errorf("Learn(%v, %v) = %v, want %v", tt.mac, tt.d, got, Invalid)
			}
			wantLookup(t, tab, tt.mac, 0, Dest{})
		})
	}
	if got := [2]int{tab.Len(), int(tab.FullDrops())}; got != [2]int{0, 0} {
		t.Errorf("Len, FullDrops = %v, want 0, 0", got)
	}
	// Invalid wins over Full.
	tab.Learn(testMAC(1), port(1), 0)
	if got := tab.Learn(broadcast, port(1), 0); got != Invalid {
		t.Errorf("Learn(broadcast) on a full table = %v, want %v", got, Invalid)
	}
}

func TestFlushDests(t *testing.T) {
	tb := NewTable(16, time.Minute)
	v1, v2, v3 := Dest{Kind: KindVTEP, ID: 1}, Dest{Kind: KindVTEP, ID: 2}, Dest{Kind: KindVTEP, ID: 3}
	tb.Learn(MAC{2, 0, 0, 0, 0, 1}, v1, 1)
	tb.Learn(MAC{2, 0, 0, 0, 0, 2}, v2, 1)
	tb.Learn(MAC{2, 0, 0, 0, 0, 3}, v3, 1)
	tb.AddStatic(MAC{2, 0, 0, 0, 0, 4}, v1)
	gone := map[Dest]bool{v1: true, v2: true}
	if n := tb.FlushDests(func(d Dest) bool { return gone[d] }); n != 2 {
		t.Errorf("FlushDests removed %d, want the 2 learned entries behind v1 and v2", n)
	}
	for _, c := range []struct {
		m    MAC
		want bool
	}{{MAC{2, 0, 0, 0, 0, 1}, false}, {MAC{2, 0, 0, 0, 0, 2}, false}, {MAC{2, 0, 0, 0, 0, 3}, true}, {MAC{2, 0, 0, 0, 0, 4}, true}} {
		if _, ok := tb.Lookup(c.m, 1); ok != c.want {
			t.Errorf("%s present = %v, want %v (statics stay)", c.m, ok, c.want)
		}
	}
}
