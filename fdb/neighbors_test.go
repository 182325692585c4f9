package fdb

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	ip1  = netip.MustParseAddr("10.0.0.1")
	ip2  = netip.MustParseAddr("10.0.0.2")
	ip6a = netip.MustParseAddr("2001:db8::1")
	ip6b = netip.MustParseAddr("fe80::1")
)

// wantNeigh fails t unless n.Lookup(ip, now) returns want (a zero want means a miss).
func wantNeigh(t *testing.T, n *Neighbors, ip netip.Addr, now int64, want MAC) {
	t.Helper()
	got, ok := n.Lookup(ip, now)
	if want.IsZero() {
		if ok {
			t.Errorf("Lookup(%v, %d) = %v, want miss", ip, now, got)
		}
		return
	}
	if !ok || got != want {
		t.Errorf("Lookup(%v, %d) = %v, %v, want %v", ip, now, got, ok, want)
	}
}

// cmpAddr compares netip.Addr by value, zone and all.
var cmpAddr = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func TestNeighborsLearn(t *testing.T) {
	ma, mb := testMAC(1), testMAC(2)
	n := NewNeighbors(10, 100*time.Second)
	steps := []struct {
		name string
		ip   netip.Addr
		mac  MAC
		now  int64
		want Result
	}{
		{"new v4", ip1, ma, 0, LearnedNew},
		{"same mac refreshes", ip1, ma, 50 * sec, Refreshed},
		{"other mac moves", ip1, mb, 60 * sec, Moved},
		{"new v6", ip6a, ma, 60 * sec, LearnedNew},
		{"v6 moves", ip6a, mb, 61 * sec, Moved},
		{"mapped form is the same key", netip.MustParseAddr("::ffff:10.0.0.1"), mb, 62 * sec, Refreshed},
		{"new mapped learns unmapped", netip.MustParseAddr("::ffff:10.0.0.2"), ma, 62 * sec, LearnedNew},
		{"new zoned learns unzoned", netip.MustParseAddr("fe80::1%eth0"), ma, 62 * sec, LearnedNew},
		{"other zone, same key", netip.MustParseAddr("fe80::1%eth1"), ma, 63 * sec, Refreshed},
		{"aged entry is new", ip1, mb, 162*sec + 1, LearnedNew},
	}
	for _, s := range steps {
		if got := n.Learn(s.ip, s.mac, s.now); got != s.want {
			t.Errorf("step %q: Learn(%v, %v, %d) = %v, want %v", s.name, s.ip, s.mac, s.now, got, s.want)
		}
		wantNeigh(t, n, s.ip, s.now, s.mac)
	}
	// Learned through mapped and zoned forms, found through plain ones and back.
	wantNeigh(t, n, ip2, 62*sec, ma)
	wantNeigh(t, n, ip6b, 62*sec, ma)
	wantNeigh(t, n, netip.MustParseAddr("::ffff:10.0.0.1"), 162*sec+1, mb)
	if got := n.Len(); got != 4 {
		t.Errorf("Len() = %d, want 4", got)
	}
	// ::ffff:10.0.0.1 and ::a00:1 are different addresses.
	wantNeigh(t, n, netip.MustParseAddr("::a00:1"), 162*sec+1, MAC{})
}

func TestNeighborsAgeingExpire(t *testing.T) {
	n := NewNeighbors(10, 100*time.Second)
	n.Learn(ip1, testMAC(1), 0)
	n.Learn(ip6a, testMAC(2), 30*sec)
	n.AddStatic(ip2, testMAC(3))

	wantNeigh(t, n, ip1, 100*sec, testMAC(1))
	wantNeigh(t, n, ip1, 100*sec+1, MAC{})
	wantNeigh(t, n, ip2, 1e9*sec, testMAC(3))
	tests := []struct {
		now         int64
		want, wantN int
	}{
		{100 * sec, 0, 3},
		{100*sec + 1, 1, 2},
		{130*sec + 1, 1, 1},
		{1e9 * sec, 0, 1},
	}
	for _, tt := range tests {
		if got := n.Expire(tt.now); got != tt.want {
			t.Errorf("Expire(%d) = %d, want %d", tt.now, got, tt.want)
		}
		if got := n.Len(); got != tt.wantN {
			t.Errorf("Len() after Expire(%d) = %d, want %d", tt.now, got, tt.wantN)
		}
	}
}

func TestNeighborsStatic(t *testing.T) {
	n := NewNeighbors(10, 100*time.Second)
	n.Learn(ip6a, testMAC(1), 0)
	n.AddStatic(ip6a, testMAC(9))
	wantNeigh(t, n, ip6a, 0, testMAC(9))
	if got := n.Learn(ip6a, testMAC(1), sec); got != StaticKept {
		t.Errorf("Learn over a static = %v, want %v", got, StaticKept)
	}
	wantNeigh(t, n, ip6a, 1e9*sec, testMAC(9))
	if got := [2]int{n.Len(), n.LearnedLen()}; got != [2]int{1, 0} {
		t.Errorf("Len, LearnedLen = %v, want 1, 0", got)
	}

	// A static added in mapped form owns the IPv4 key.
	n.AddStatic(netip.MustParseAddr("::ffff:10.0.0.1"), testMAC(8))
	if got := n.Learn(ip1, testMAC(1), sec); got != StaticKept {
		t.Errorf("Learn(%v) over a mapped static = %v, want %v", ip1, got, StaticKept)
	}
	wantNeigh(t, n, ip1, sec, testMAC(8))

	if !n.Delete(netip.MustParseAddr("::ffff:10.0.0.1")) {
		t.Error("Delete(mapped) = false")
	}
	if n.Delete(ip1) {
		t.Error("second Delete = true")
	}
	if got := n.Learn(ip1, testMAC(1), sec); got != LearnedNew {
		t.Errorf("Learn after Delete = %v, want %v", got, LearnedNew)
	}
}

func TestNeighborsLimit(t *testing.T) {
	n := NewNeighbors(2, 100*time.Second)
	ip3 := netip.MustParseAddr("10.0.0.3")
	learn := func(ip netip.Addr, mac MAC, now int64, want Result) {
		t.Helper()
		if got := n.Learn(ip, mac, now); got != want {
			t.Errorf("Learn(%v, %v, %d) = %v, want %v", ip, mac, now, got, want)
		}
	}
	learn(ip1, testMAC(1), 0, LearnedNew)
	learn(ip6a, testMAC(2), 0, LearnedNew)
	learn(ip2, testMAC(3), 0, Full)
	learn(ip1, testMAC(1), sec, Refreshed)
	learn(ip6a, testMAC(4), sec, Moved)
	n.AddStatic(ip3, testMAC(5))
	learn(ip2, testMAC(3), sec, Full)
	if got := n.FullDrops(); got != 2 {
		t.Errorf("FullDrops() = %d, want 2", got)
	}
	learn(ip1, testMAC(1), 102*sec, LearnedNew) // aged, keeps its slot
	learn(ip2, testMAC(3), 102*sec, Full)
	if got := n.Expire(102 * sec); got != 1 {
		t.Errorf("Expire = %d, want 1", got)
	}
	learn(ip2, testMAC(3), 102*sec, LearnedNew)
	if got := [3]int{n.Len(), n.LearnedLen(), int(n.FullDrops())}; got != [3]int{3, 2, 3} {
		t.Errorf("Len, LearnedLen, FullDrops = %v, want 3, 2, 3", got)
	}
}

func TestNeighborsDefaults(t *testing.T) {
	n := NewNeighbors(0, 0)
	for i := range DefaultMaxEntries {
		ip := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		if r := n.Learn(ip, testMAC(1), 0); r != LearnedNew {
			t.Fatalf("Learn #%d = %v", i, r)
		}
	}
	if r := n.Learn(ip6a, testMAC(1), 0); r != Full {
		t.Errorf("Learn beyond %d = %v, want %v", DefaultMaxEntries, r, Full)
	}
	wantNeigh(t, n, ip1, int64(DefaultAgeing), testMAC(1))
	wantNeigh(t, n, ip1, int64(DefaultAgeing)+1, MAC{})
}

func TestNeighborsSnapshot(t *testing.T) {
	n := NewNeighbors(10, 100*time.Second)
	n.Learn(ip6a, testMAC(1), 40*sec)
	n.Learn(netip.MustParseAddr("::ffff:10.0.0.2"), testMAC(2), 90*sec)
	n.AddStatic(netip.MustParseAddr("fe80::1%eth0"), testMAC(3))
	n.Learn(ip1, testMAC(4), 0) // aged at 120s: omitted
	n.Learn(netip.MustParseAddr("192.168.0.1"), testMAC(5), 120*sec)

	want := []NeighEntry{
		{IP: ip2, MAC: testMAC(2), Type: Learned, Age: 30 * time.Second},
		{IP: netip.MustParseAddr("192.168.0.1"), MAC: testMAC(5), Type: Learned},
		{IP: ip6a, MAC: testMAC(1), Type: Learned, Age: 80 * time.Second},
		{IP: ip6b, MAC: testMAC(3), Type: Static},
	}
	if diff := cmp.Diff(want, n.Snapshot(120*sec), cmpAddr); diff != "" {
		t.Errorf("Snapshot(120s) (-want +got):\n%s", diff)
	}
}

func TestNeighborsInvalid(t *testing.T) {
	tests := []struct {
		name string
		ip   netip.Addr
		mac  MAC
	}{
		{"zero addr", netip.Addr{}, testMAC(1)},
		{"v4 unspecified", netip.IPv4Unspecified(), testMAC(1)},
		{"v6 unspecified", netip.IPv6Unspecified(), testMAC(1)},
		{"v4 multicast", netip.MustParseAddr("224.0.0.251"), testMAC(1)},
		{"v6 multicast", netip.MustParseAddr("ff02::1"), testMAC(1)},
		{"mapped v4 multicast", netip.MustParseAddr("::ffff:239.1.1.1"), testMAC(1)},
		{"mapped v4 unspecified", netip.MustParseAddr("::ffff:0.0.0.0"), testMAC(1)},
		{"limited broadcast", netip.MustParseAddr("255.255.255.255"), testMAC(1)},
		{"zero mac", ip1, MAC{}},
		{"multicast mac", ip1, MAC{0x01, 0x00, 0x5e, 0, 0, 1}},
		{"broadcast mac", ip6a, broadcast},
	}
	n := NewNeighbors(1, time.Second)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := n.Learn(tt.ip, tt.mac, 0); got != Invalid {
				t.Errorf("Learn(%v, %v) = %v, want %v", tt.ip, tt.mac, got, Invalid)
			}
			wantNeigh(t, n, tt.ip, 0, MAC{})
		})
	}
	if got := [2]int{n.Len(), int(n.FullDrops())}; got != [2]int{0, 0} {
		t.Errorf("Len, FullDrops = %v, want 0, 0", got)
	}

	// The zero Addr must not alias "::", whose 16-byte form it would share.
	n.AddStatic(netip.Addr{}, testMAC(1))
	if got := n.Len(); got != 0 {
		t.Errorf("AddStatic(zero Addr) made %d entries", got)
	}
	n.AddStatic(netip.IPv6Unspecified(), testMAC(2))
	wantNeigh(t, n, netip.Addr{}, 0, MAC{})
	if n.Delete(netip.Addr{}) {
		t.Error("Delete(zero Addr) = true")
	}
	wantNeigh(t, n, netip.IPv6Unspecified(), 0, testMAC(2))
}
