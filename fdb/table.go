package fdb

import (
	"cmp"
	"slices"
	"time"
)

// Entry is one row of a Table snapshot, for display.
type Entry struct {
	MAC  MAC
	Dest Dest
	Type Type
	Age  time.Duration // since last learned; zero for static entries
}

// Table is one VNI's MAC forwarding table. It is safe for concurrent use.
// Lookup, and a Learn that refreshes or moves an existing entry, take no lock
// and allocate nothing.
//
// Times are the caller's clock in nanoseconds (for example a monotonic
// reading taken once per batch of frames), so tests can inject a fake clock.
// A learned entry not learned again for longer than the ageing time is a
// miss at once; Expire reclaims its slot later. A full table does not evict:
// Learn reports Full until Expire, Delete or FlushDest makes room.
type Table struct {
	t table[uint64] // keyed by MAC.key, values are Dest.pack
}

// NewTable returns a table holding at most maxMACs learned entries (8192 if
// maxMACs <= 0) that age out after ageing (300s if ageing <= 0). Static
// entries do not count toward maxMACs: they are configuration, and a MAC
// flood must not be able to crowd them out or be admitted because of them.
func NewTable(maxMACs int, ageing time.Duration) *Table {
	t := new(Table)
	t.t.init(maxMACs, ageing, true)
	return t
}

// Lookup returns where mac lives as of now. Static entries never age.
func (t *Table) Lookup(mac MAC, now int64) (Dest, bool) {
	return lookupMAC(&t.t, mac, now)
}

// Learn records that mac was seen at d at time now. A group or zero MAC, or a
// Dest of unknown kind, is not learned and yields Invalid. Learning never
// replaces a static entry.
func (t *Table) Learn(mac MAC, d Dest, now int64) Result {
	if !mac.learnable() || !d.valid() {
		return Invalid
	}
	return learnMAC(&t.t, mac.key(), d.pack(), now)
}

// AddStatic pins mac to d, replacing any entry for mac, learned or static.
// It does not validate its arguments: configuration is checked where it is
// read. Static entries do not count toward the table's limit.
func (t *Table) AddStatic(mac MAC, d Dest) { t.t.addStatic(mac.key(), d.pack()) }

// Delete removes the entry for mac, learned or static, and reports whether
// there was one.
func (t *Table) Delete(mac MAC) bool { return t.t.delete(mac.key()) }

// FlushDest deletes the learned entries pointing at d, for instance when a
// port goes away, and returns how many it deleted. Static entries stay.
func (t *Table) FlushDest(d Dest) int {
	v := d.pack()
	return t.t.sweep(func(got uint64, _ int64) bool { return got == v })
}

// FlushDests deletes the learned entries whose destination gone reports,
// in one sweep however many destinations go; returns the count. gone may be
// asked about one entry more than once.
func (t *Table) FlushDests(gone func(Dest) bool) int {
	return t.t.sweep(func(v uint64, _ int64) bool { return gone(unpackDest(v)) })
}

// Expire deletes the learned entries that have aged as of now and returns how
// many it deleted.
func (t *Table) Expire(now int64) int { return t.t.expire(now) }

// Len returns the number of entries, static and learned, aged or not.
func (t *Table) Len() int { return t.t.len() }

// LearnedLen returns the number of learned entries, including aged ones not
// yet expired; it never exceeds the table's limit.
func (t *Table) LearnedLen() int { return t.t.learnedLen() }

// FullDrops returns how many Learn calls have returned Full.
func (t *Table) FullDrops() uint64 { return t.t.fullDrops.Load() }

// Snapshot returns the entries a Lookup at now would find, sorted by MAC.
func (t *Table) Snapshot(now int64) []Entry {
	rows := snapshotRows(&t.t, now, func(k uint64, v uint64, typ Type, age time.Duration) Entry {
		return Entry{MAC: macFromKey(k), Dest: unpackDest(v), Type: typ, Age: age}
	})
	// The key orders like the MAC's bytes, and is cheaper to compare.
	slices.SortFunc(rows, func(a, b Entry) int { return cmp.Compare(a.MAC.key(), b.MAC.key()) })
	return rows
}

// Ageing is how long a learned entry lives without being learned again.
func (t *Table) Ageing() time.Duration { return time.Duration(t.t.ageing) }
