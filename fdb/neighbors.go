package fdb

import (
	"net/netip"
	"slices"
	"time"
)

// NeighEntry is one row of a Neighbors snapshot, for display.
type NeighEntry struct {
	IP   netip.Addr
	MAC  MAC
	Type Type
	Age  time.Duration // since last learned; zero for static entries
}

// Neighbors is one VNI's neighbor table (IPv4 and IPv6 address → MAC) for
// the ARP and ND proxy. It follows Table's rules: safe for concurrent use,
// Lookup and refreshing Learns take no lock and allocate nothing,
// times are the caller's nanoseconds, static entries never age, are never
// replaced by learning and do not count toward the limit.
//
// Addresses are normalized before use: an IPv4-mapped IPv6 address is the
// IPv4 address it maps, and an IPv6 zone is dropped (a VNI is one link).
type Neighbors struct {
	t table[ipKey] // values are MAC.key
}

// NewNeighbors returns a neighbor table holding at most maxNeighbors learned
// entries (8192 if maxNeighbors <= 0) that age out after ageing (300s if
// ageing <= 0).
func NewNeighbors(maxNeighbors int, ageing time.Duration) *Neighbors {
	n := new(Neighbors)
	n.t.init(maxNeighbors, ageing, false)
	return n
}

// ipKey is an address in its 16-byte form, which is already normalized (IPv4
// and IPv4-mapped IPv6 share it, zones are not part of it) and, holding no
// pointer, hashes faster than a netip.Addr.
type ipKey [16]byte

func keyOf(ip netip.Addr) ipKey { return ip.As16() }

func (k ipKey) addr() netip.Addr { return netip.AddrFrom16(k).Unmap() }

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// learnableIP reports whether an unmapped ip can name one neighbor.
func learnableIP(ip netip.Addr) bool {
	return ip.IsValid() && !ip.IsUnspecified() && !ip.IsMulticast() && ip != limitedBroadcast
}

// Lookup returns the MAC for ip as of now.
func (n *Neighbors) Lookup(ip netip.Addr, now int64) (MAC, bool) {
	if !ip.IsValid() {
		return MAC{}, false
	}
	v, ok := n.t.lookup(keyOf(ip), now)
	return macFromKey(v), ok
}

// Learn records that ip was at mac at time now. A group or zero MAC, or an
// invalid, unspecified, multicast or IPv4 limited-broadcast address, is not
// learned and yields Invalid. Learning never replaces a static entry.
func (n *Neighbors) Learn(ip netip.Addr, mac MAC, now int64) Result {
	if !mac.learnable() || !learnableIP(ip.Unmap()) {
		return Invalid
	}
	return n.t.learn(keyOf(ip), mac.key(), now)
}

// AddStatic pins ip to mac, replacing any entry for ip. It ignores the zero
// Addr, which has no 16-byte form, but otherwise does not validate its
// arguments: configuration is checked where it is read.
func (n *Neighbors) AddStatic(ip netip.Addr, mac MAC) {
	if ip.IsValid() {
		n.t.addStatic(keyOf(ip), mac.key())
	}
}

// Delete removes the entry for ip, learned or static, and reports whether
// there was one.
func (n *Neighbors) Delete(ip netip.Addr) bool {
	return ip.IsValid() && n.t.delete(keyOf(ip))
}

// Expire deletes the learned entries that have aged as of now and returns how
// many it deleted.
func (n *Neighbors) Expire(now int64) int { return n.t.expire(now) }

// Len returns the number of entries, static and learned, aged or not.
func (n *Neighbors) Len() int { return n.t.len() }

// LearnedLen returns the number of learned entries, including aged ones not
// yet expired; it never exceeds the table's limit.
func (n *Neighbors) LearnedLen() int { return n.t.learnedLen() }

// FullDrops returns how many Learn calls have returned Full.
func (n *Neighbors) FullDrops() uint64 { return n.t.fullDrops.Load() }

// Snapshot returns the entries a Lookup at now would find, sorted by IP
// (IPv4 before IPv6).
func (n *Neighbors) Snapshot(now int64) []NeighEntry {
	rows := snapshotRows(&n.t, now, func(k ipKey, v uint64, typ Type, age time.Duration) NeighEntry {
		return NeighEntry{IP: k.addr(), MAC: macFromKey(v), Type: typ, Age: age}
	})
	slices.SortFunc(rows, func(a, b NeighEntry) int { return a.IP.Compare(b.IP) })
	return rows
}
