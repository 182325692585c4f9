package fdb

import (
	"cmp"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestTableConcurrent runs every operation at once (meant for -race) and then
// checks the table's invariants.
func TestTableConcurrent(t *testing.T) {
	const (
		limit   = 64
		statics = 8
		rounds  = 2000
	)
	tab := NewTable(limit, 50*time.Nanosecond)
	for i := range statics {
		tab.AddStatic(testMAC(byte(200+i)), vtep(uint32(i)))
	}
	var clock atomic.Int64 // ns; advanced by the expirer so entries age
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	report := func(s string) {
		select {
		case errs <- s:
		default:
		}
	}

	// Learners cover all 256 testMACs, more than limit (so some Learns are
	// Full) and including the statics (so some are StaticKept).
	for g := range 4 {
		wg.Go(func() {
			for i := range rounds {
				mac := testMAC(byte(i*7 + g*31))
				if r := tab.Learn(mac, port(uint32(i%3)), clock.Load()); r == Invalid {
					report("Learn of a unicast MAC returned Invalid")
				}
				if n := tab.LearnedLen(); n > limit {
					report("LearnedLen above limit during the run")
				}
			}
		})
	}
	for range 2 { // readers
		wg.Go(func() {
			for i := range rounds {
				tab.Lookup(testMAC(byte(i)), clock.Load())
			}
		})
	}
	wg.Go(func() { // clock and ageing
		for range rounds / 10 {
			tab.Expire(clock.Add(10))
		}
	})
	wg.Go(func() { // deletes and port removal
		for i := range rounds / 10 { // below 200: statics stay
			tab.Delete(testMAC(byte(i)))
			tab.FlushDest(port(uint32(i % 3)))
		}
	})
	wg.Go(func() { // display
		for range rounds / 20 {
			rows := tab.Snapshot(clock.Load())
			if !slices.IsSortedFunc(rows, func(a, b Entry) int { return cmp.Compare(a.MAC.key(), b.MAC.key()) }) {
				report("Snapshot not sorted")
			}
			if len(rows) > limit+statics {
				report("Snapshot longer than limit + statics")
			}
		}
	})
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}

	if got := tab.Len(); got > limit+statics {
		t.Errorf("Len() = %d, want <= %d", got, limit+statics)
	}
	if got, lrn := tab.Len(), tab.LearnedLen(); got != lrn+statics {
		t.Errorf("Len() = %d, LearnedLen() = %d, want a difference of %d statics", got, lrn, statics)
	}
	for i := range statics {
		wantLookup(t, tab, testMAC(byte(200+i)), clock.Load(), vtep(uint32(i)))
	}
	if tab.FullDrops() == 0 {
		t.Error("FullDrops() = 0; the test should have filled the table")
	}
	// With the clock stopped, what is left must be consistent with Lookup.
	now := clock.Load()
	for _, e := range tab.Snapshot(now) {
		wantLookup(t, tab, e.MAC, now, e.Dest)
	}
}

func TestNeighborsConcurrent(t *testing.T) {
	const (
		limit   = 32
		statics = 4
		rounds  = 2000
	)
	n := NewNeighbors(limit, 50*time.Nanosecond)
	for i := range statics {
		n.AddStatic(netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}), testMAC(byte(100+i)))
	}
	var clock atomic.Int64
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range rounds {
				var ip netip.Addr
				if i%2 == 0 {
					ip = netip.AddrFrom4([4]byte{10, 0, byte(g % 2), byte(i)})
				} else {
					ip = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)})
				}
				n.Learn(ip, testMAC(byte(i%5+1)), clock.Load())
				n.Lookup(ip, clock.Load())
			}
		})
	}
	wg.Go(func() {
		for range rounds / 10 {
			n.Expire(clock.Add(10))
			n.Snapshot(clock.Load())
		}
	})
	wg.Wait()

	if got := n.Len(); got > limit+statics {
		t.Errorf("Len() = %d, want <= %d", got, limit+statics)
	}
	if got, lrn := n.Len(), n.LearnedLen(); got != lrn+statics {
		t.Errorf("Len() = %d, LearnedLen() = %d, want a difference of %d statics", got, lrn, statics)
	}
	for i := range statics {
		wantNeigh(t, n, netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}), clock.Load(), testMAC(byte(100+i)))
	}
}

// TestTableSweepLarge expires and flushes a table bigger than sweepBatch, so
// the sweep yields its lock mid-walk, while others learn and delete.
func TestTableSweepLarge(t *testing.T) {
	const n = 5 * sweepBatch
	tab := NewTable(3*n, 100*time.Second)
	mac := func(i int) MAC { return macFromKey(0x02_00_00_00_00_00 | uint64(i)) }
	for i := range n {
		tab.Learn(mac(i), port(uint32(i%2)), int64(i%2)*100*sec) // odd ones are fresher
	}
	var wg sync.WaitGroup
	wg.Go(func() { // new MACs, outside the swept range
		for i := range n {
			tab.Learn(mac(n+i), port(0), 150*sec)
		}
	})
	wg.Go(func() { // deletes of MACs the sweep may not have reached yet
		for i := 0; i < n; i += 4 {
			tab.Delete(mac(i))
		}
	})
	expired := tab.Expire(150 * sec)
	wg.Wait()

	// Each even entry either went by Expire or by Delete, never both.
	if got := tab.Len(); got != n/2+n {
		t.Fatalf("Len() = %d, want %d", got, n/2+n)
	}
	if expired < n/4 || expired > n/2 {
		t.Errorf("Expire = %d, want between %d and %d", expired, n/4, n/2)
	}
	for i := range n {
		want := Dest{}
		if i%2 == 1 {
			want = port(1)
		}
		wantLookup(t, tab, mac(i), 150*sec, want)
	}
	// FlushDest across batches too: the odd ones all point at port 1.
	if got := tab.FlushDest(port(1)); got != n/2 {
		t.Errorf("FlushDest(port 1) = %d, want %d", got, n/2)
	}
	if got := tab.LearnedLen(); got != n {
		t.Errorf("LearnedLen() = %d, want %d", got, n)
	}
}
