package vswitch

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// maxPeers bounds the peer table, which allow_unknown_peers lets any sender
// grow.
const maxPeers = 65536

// peer is a remote VTEP. Its ID is what the FDB stores.
type peer struct {
	id       uint32
	addr     netip.Addr
	lastSeen atomic.Int64 // switch clock
	io       ioCounters
}

// peerTable interns VTEP addresses into small IDs. Lookups by ID take no
// lock; lookups by address take the read lock.
type peerTable struct {
	mu     sync.RWMutex
	byAddr map[netip.Addr]*peer    // guarded by mu
	byID   atomic.Pointer[[]*peer] // copied on write under mu
}

func (t *peerTable) init() {
	t.byAddr = map[netip.Addr]*peer{}
	t.byID.Store(&[]*peer{})
}

// get returns the peer for addr, adding it when create is set and the table
// has room.
func (t *peerTable) get(addr netip.Addr, create bool) (*peer, bool) {
	t.mu.RLock()
	p, ok := t.byAddr[addr]
	t.mu.RUnlock()
	if ok || !create {
		return p, ok
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.byAddr[addr]; ok {
		return p, true
	}
	ids := *t.byID.Load()
	if len(ids) >= maxPeers {
		return nil, false
	}
	p = &peer{id: uint32(len(ids)), addr: addr}
	t.byAddr[addr] = p
	// Append in place while capacity lasts: readers only index below the
	// length they loaded, and an element, once published, is never
	// written again. Copying the whole table per new peer instead made
	// filling it quadratic: 65536 strangers took 17 s of copying and GC
	// (found by fuzz.TestUnderlayPeerTableBound).
	next := append(ids, p)
	t.byID.Store(&next)
	return p, true
}

func (t *peerTable) byIndex(id uint32) *peer {
	ps := *t.byID.Load()
	if int(id) < len(ps) {
		return ps[id]
	}
	return nil
}

// PeerInfo describes a remote VTEP for display.
type PeerInfo struct {
	Addr     netip.Addr
	LastSeen time.Duration // since the last datagram; negative if never
	IO       IOStats
}
