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
	id   uint32
	addr netip.Addr
	// dynamic peers came in through allow_unknown_peers and expire when
	// idle; configured ones (flood lists, static entries) never do.
	dynamic  bool
	lastSeen atomic.Int64 // switch clock
	io       ioCounters
}

// peerTable interns VTEP addresses into small IDs. Lookups by ID read one
// atomic slot and take no lock; lookups by address take the read lock.
//
// Idle dynamic peers expire, so that senders spoofed into a network with
// allow_unknown_peers cannot fill the table for good. An expired peer's ID
// is reused only after a quarantine as long as the MAC ageing: an FDB entry
// learned behind it in a race with its expiry has aged out by then, and can
// never point at the ID's next owner.
type peerTable struct {
	mu     sync.RWMutex
	byAddr map[netip.Addr]*peer // guarded by mu
	free   []freedID            // guarded by mu; oldest first
	slots  []atomic.Pointer[peer]
	high   atomic.Uint32 // IDs below it have been handed out
}

type freedID struct {
	id uint32
	at int64
}

func (t *peerTable) init() {
	t.byAddr = map[netip.Addr]*peer{}
	t.slots = make([]atomic.Pointer[peer], maxPeers)
}

// get returns the peer for addr. When create is set it adds one if the
// table has room (dynamic marks it as expiring; now and quarantine decide
// whether an expired ID may be reused).
func (t *peerTable) get(addr netip.Addr, create, dynamic bool, now int64, quarantine time.Duration) (*peer, bool) {
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
	var id uint32
	switch {
	case len(t.free) > 0 && now-t.free[0].at >= int64(quarantine):
		id = t.free[0].id
		t.free = t.free[1:]
	case t.high.Load() < maxPeers:
		id = t.high.Load()
		t.high.Store(id + 1)
	default:
		return nil, false
	}
	p = &peer{id: id, addr: addr, dynamic: dynamic}
	p.lastSeen.Store(now)
	t.byAddr[addr] = p
	t.slots[id].Store(p)
	return p, true
}

func (t *peerTable) byIndex(id uint32) *peer {
	if int(id) < len(t.slots) {
		return t.slots[id].Load()
	}
	return nil
}

// each calls f for every peer in ID order.
func (t *peerTable) each(f func(*peer)) {
	n := t.high.Load()
	for i := uint32(0); i < n; i++ {
		if p := t.slots[i].Load(); p != nil {
			f(p)
		}
	}
}

// expire removes dynamic peers idle for longer than idle and returns
// their IDs, so that the FDB entries behind them can go too.
func (t *peerTable) expire(now int64, idle time.Duration) map[uint32]bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	var gone map[uint32]bool
	for addr, p := range t.byAddr {
		if !p.dynamic || now-p.lastSeen.Load() <= int64(idle) {
			continue
		}
		delete(t.byAddr, addr)
		t.slots[p.id].Store(nil)
		t.free = append(t.free, freedID{id: p.id, at: now})
		if gone == nil {
			gone = map[uint32]bool{}
		}
		gone[p.id] = true
	}
	return gone
}

// PeerInfo describes a remote VTEP for display.
type PeerInfo struct {
	Addr     netip.Addr
	LastSeen time.Duration // since the last datagram; negative if never
	IO       IOStats
}
