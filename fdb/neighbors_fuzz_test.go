package fdb

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// FuzzNeighbors is FuzzTable for the neighbor table: operations decoded from
// the input run against Neighbors and against refNeighbors, a map keyed by
// the normalized address, and every answer must match. What Neighbors adds
// to the shared engine is address handling, so the 16 addresses include
// aliases (an IPv4 address and its IPv4-mapped form, a link-local address
// with and without a zone) and addresses that may not be learned.
func FuzzNeighbors(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0x10, 0, 0x21, 0, 0x32, 0, 0x43, 0, 0x54, 5, 0x04, 6, 9, 4, 0})
	f.Add([]byte{2, 0x10, 0, 0x24, 5, 0x00, 3, 0x04, 5, 0x00})
	f.Add([]byte{0, 0x16, 0, 0x27, 5, 0x06, 0, 0x38, 0, 0x39, 0, 0x3a, 0, 0x3b, 0, 0x3c, 0, 0x3d, 0, 0x3e, 0, 0x3f})
	f.Fuzz(func(t *testing.T, ops []byte) {
		const (
			limit  = 4
			ageing = 8 * time.Nanosecond
		)
		tab := NewNeighbors(limit, ageing)
		ref := refNeighbors{max: limit, ageing: int64(ageing), m: map[netip.Addr]refNeigh{}}
		statics := map[netip.Addr]MAC{}
		var now int64
		ops = ops[:min(len(ops), 2*maxFuzzOps)]
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i]%8, ops[i+1]
			ip, mac := fuzzIP(arg&15), fuzzMAC(arg>>4)
			switch op {
			case 0, 1:
				if got, want := tab.Learn(ip, mac, now), ref.learn(ip, mac, now); got != want {
					t.Fatalf("op %d: Learn(%v, %v, %d) = %v, want %v", i/2, ip, mac, now, got, want)
				}
			case 2, 7:
				tab.AddStatic(ip, mac)
				if ip.IsValid() {
					k := normIP(ip)
					ref.m[k] = refNeigh{mac: mac, static: true}
					statics[k] = mac
				}
			case 3:
				k := normIP(ip)
				_, want := ref.m[k]
				want = want && ip.IsValid()
				if ip.IsValid() {
					delete(ref.m, k)
					delete(statics, k)
				}
				if got := tab.Delete(ip); got != want {
					t.Fatalf("op %d: Delete(%v) = %v, want %v", i/2, ip, got, want)
				}
			case 4:
				if got, want := tab.Expire(now), ref.expire(now); got != want {
					t.Fatalf("op %d: Expire(%d) = %d, want %d", i/2, now, got, want)
				}
			case 5:
				gotM, gotOK := tab.Lookup(ip, now)
				wantM, wantOK := ref.lookup(ip, now)
				if gotM != wantM || gotOK != wantOK {
					t.Fatalf("op %d: Lookup(%v, %d) = %v, %v, want %v, %v", i/2, ip, now, gotM, gotOK, wantM, wantOK)
				}
			case 6:
				now += int64(arg & 15)
			}
			checkNeighborsAgainstRef(t, i/2, tab, &ref, statics, now)
		}
	})
}

// fuzzIP maps a nibble to an address: four learnable IPv4 addresses, the
// IPv4-mapped form of the first, IPv6 global and link-local (with and
// without a zone), then addresses that are never learned.
func fuzzIP(n byte) netip.Addr { return fuzzIPs[n&15] }

var fuzzIPs = [16]netip.Addr{
	netip.MustParseAddr("10.0.0.1"),
	netip.MustParseAddr("10.0.0.2"),
	netip.MustParseAddr("10.0.0.255"),
	netip.MustParseAddr("192.0.2.7"),
	netip.MustParseAddr("::ffff:10.0.0.1"),
	netip.MustParseAddr("2001:db8::1"),
	netip.MustParseAddr("fe80::1"),
	netip.MustParseAddr("fe80::1%eth1"),
	{},
	netip.IPv4Unspecified(),
	netip.IPv6Unspecified(),
	netip.MustParseAddr("224.0.0.1"),
	netip.MustParseAddr("ff02::1:ff00:1"),
	netip.MustParseAddr("255.255.255.255"),
	netip.MustParseAddr("::ffff:255.255.255.255"),
	netip.MustParseAddr("::1"),
}

// normIP is the model's key: IPv4-mapped addresses are IPv4, zones dropped.
func normIP(ip netip.Addr) netip.Addr { return ip.Unmap().WithZone("") }

type refNeigh struct {
	mac    MAC
	static bool
	seen   int64
}

// refNeighbors is the obvious, slow model of Neighbors.
type refNeighbors struct {
	max    int
	ageing int64
	m      map[netip.Addr]refNeigh
	drops  uint64
}

func (r *refNeighbors) aged(e refNeigh, now int64) bool { return !e.static && now-e.seen > r.ageing }

func (r *refNeighbors) learned() int {
	n := 0
	for _, e := range r.m {
		if !e.static {
			n++
		}
	}
	return n
}

func (r *refNeighbors) learn(ip netip.Addr, mac MAC, now int64) Result {
	k := normIP(ip)
	if mac.IsMulticast() || mac.IsZero() || !k.IsValid() || k.IsUnspecified() || k.IsMulticast() ||
		k == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return Invalid
	}
	e, ok := r.m[k]
	switch {
	case ok && e.static:
		return StaticKept
	case !ok && r.learned() >= r.max:
		r.drops++
		return Full
	}
	r.m[k] = refNeigh{mac: mac, seen: now}
	switch {
	case !ok || r.aged(e, now):
		return LearnedNew
	case e.mac != mac:
		return Moved
	}
	return Refreshed
}

func (r *refNeighbors) lookup(ip netip.Addr, now int64) (MAC, bool) {
	if !ip.IsValid() {
		return MAC{}, false
	}
	e, ok := r.m[normIP(ip)]
	if !ok || r.aged(e, now) {
		return MAC{}, false
	}
	return e.mac, true
}

func (r *refNeighbors) expire(now int64) int {
	n := 0
	for k, e := range r.m {
		if r.aged(e, now) {
			delete(r.m, k)
			n++
		}
	}
	return n
}

func (r *refNeighbors) snapshot(now int64) []NeighEntry {
	var rows []NeighEntry
	for k, e := range r.m {
		switch {
		case e.static:
			rows = append(rows, NeighEntry{IP: k, MAC: e.mac, Type: Static})
		case !r.aged(e, now):
			rows = append(rows, NeighEntry{IP: k, MAC: e.mac, Type: Learned, Age: time.Duration(now - e.seen)})
		}
	}
	slices.SortFunc(rows, func(a, b NeighEntry) int { return a.IP.Compare(b.IP) })
	return rows
}

func checkNeighborsAgainstRef(t *testing.T, op int, tab *Neighbors, ref *refNeighbors, statics map[netip.Addr]MAC, now int64) {
	t.Helper()
	lrn := ref.learned()
	if lrn > ref.max || tab.LearnedLen() > ref.max {
		t.Fatalf("op %d: %d learned (model %d), above max %d", op, tab.LearnedLen(), lrn, ref.max)
	}
	got := [3]int{tab.Len(), tab.LearnedLen(), int(tab.FullDrops())}
	want := [3]int{len(ref.m), lrn, int(ref.drops)}
	if got != want {
		t.Fatalf("op %d: Len, LearnedLen, FullDrops = %v, want %v", op, got, want)
	}
	for ip, mac := range statics {
		if got, ok := tab.Lookup(ip, now); !ok || got != mac {
			t.Fatalf("op %d: static %v = %v, %v, want %v", op, ip, got, ok, mac)
		}
	}
	for n := range byte(16) {
		ip := fuzzIP(n)
		gotM, gotOK := tab.Lookup(ip, now)
		wantM, wantOK := ref.lookup(ip, now)
		if gotM != wantM || gotOK != wantOK {
			t.Fatalf("op %d: Lookup(%v, %d) = %v, %v, want %v, %v", op, ip, now, gotM, gotOK, wantM, wantOK)
		}
	}
	if want, got := ref.snapshot(now), tab.Snapshot(now); !slices.Equal(want, got) {
		t.Fatalf("op %d: Snapshot(%d) (-want +got):\n%s", op, now, cmp.Diff(want, got, cmpAddr))
	}
}
