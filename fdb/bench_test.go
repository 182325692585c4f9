package fdb

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// benchSizes are the table sizes the lookup and refresh benchmarks run at.
var benchSizes = []struct {
	name string
	n    int
}{
	{"1k", 1_000},
	{"1M", 1_000_000},
}

// benchMACs returns n distinct locally administered unicast MACs in a
// shuffled order, so lookups do not walk memory in insertion order.
func benchMACs(n int) []MAC {
	macs := make([]MAC, n)
	for i := range macs {
		macs[i] = macFromKey(0x02_00_00_00_00_00 | uint64(i+1))
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(n, func(i, j int) { macs[i], macs[j] = macs[j], macs[i] })
	return macs
}

func benchTable(b *testing.B, n int) (*Table, []MAC) {
	b.Helper()
	macs := benchMACs(n)
	t := NewTable(n, time.Hour)
	for i, m := range macs {
		if r := t.Learn(m, Dest{KindVTEP, uint32(i % 64)}, 0); r != LearnedNew {
			b.Fatalf("Learn(%v) = %v, want %v", m, r, LearnedNew)
		}
	}
	return t, macs
}

// BenchmarkLookup looks up every learned MAC in turn, in random order. The
// entries were learned at 0 and are looked up at 1, so their stamps decide
// (see table.fresh) without the Expire the switch calls every second.
func BenchmarkLookup(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			t, macs := benchTable(b, size.n)
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				if _, ok := t.Lookup(macs[i], 1); !ok {
					b.Fatalf("Lookup(%v) missed", macs[i])
				}
				if i++; i == len(macs) {
					i = 0
				}
			}
		})
	}
}

// BenchmarkLookupHot looks up 1k MACs in a table of 1M: the table's own cost
// at that size, which BenchmarkLookup/1M hides behind cache misses because it
// touches every entry uniformly.
func BenchmarkLookupHot(b *testing.B) {
	b.Run("1M", func(b *testing.B) {
		t, macs := benchTable(b, 1_000_000)
		hot := macs[:1_000]
		b.ReportAllocs()
		b.ResetTimer()
		i := 0
		for b.Loop() {
			if _, ok := t.Lookup(hot[i], 1); !ok {
				b.Fatalf("Lookup(%v) missed", hot[i])
			}
			if i++; i == len(hot) {
				i = 0
			}
		}
	})
}

func BenchmarkLearnRefresh(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			t, macs := benchTable(b, size.n)
			b.ReportAllocs()
			b.ResetTimer()
			i, now := 0, int64(1)
			for b.Loop() {
				if r := t.Learn(macs[i], Dest{KindVTEP, uint32(i % 64)}, now); r != Refreshed {
					b.Fatalf("Learn(%v) = %v, want %v", macs[i], r, Refreshed)
				}
				if i++; i == len(macs) {
					i, now = 0, now+1
				}
			}
		})
	}
}

// BenchmarkLearnNew measures taking the write lock and inserting; the table
// is replaced whenever it fills so every Learn makes an entry.
func BenchmarkLearnNew(b *testing.B) {
	const n = 1 << 16
	macs := benchMACs(n)
	t := NewTable(n, time.Hour)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if r := t.Learn(macs[i], Dest{KindPort, 1}, 0); r != LearnedNew {
			b.Fatalf("Learn(%v) = %v, want %v", macs[i], r, LearnedNew)
		}
		if i++; i == n {
			b.StopTimer()
			i, t = 0, NewTable(n, time.Hour)
			b.StartTimer()
		}
	}
}

func BenchmarkNeighborLookup(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			macs := benchMACs(size.n)
			ips := make([]netip.Addr, size.n)
			nb := NewNeighbors(size.n, time.Hour)
			for i := range ips {
				ips[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
				nb.Learn(ips[i], macs[i], 0)
			}
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				if _, ok := nb.Lookup(ips[i], 1); !ok {
					b.Fatalf("Lookup(%v) missed", ips[i])
				}
				if i++; i == len(ips) {
					i = 0
				}
			}
		})
	}
}

// BenchmarkTableMemory100k reports the heap a MAC table with 100k learned
// entries holds (the RSS target is for 100k entries), in MiB.
func BenchmarkTableMemory100k(b *testing.B) {
	const n = 100_000
	var heap float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		t := NewTable(n, time.Hour)
		for i := 0; i < n; i++ {
			m := MAC{0x02, 0, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
			if r := t.Learn(m, Dest{Kind: KindPort, ID: 1}, 1); r != LearnedNew {
				b.Fatalf("entry %d: %v", i, r)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)
		runtime.KeepAlive(t)
	}
	b.ReportMetric(heap, "MiB/100k-entries")
}
