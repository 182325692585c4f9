package vswitch

import (
	"github.com/vxswitch/vxswitch/vtep"
	"net/netip"
	"time"

	"github.com/vxswitch/vxswitch/fdb"
)

// FDBEntry is one MAC table row for display.
type FDBEntry struct {
	Network string
	VNI     uint32
	MAC     fdb.MAC
	// Where is "port NAME" or "vtep ADDR".
	Where string
	Type  fdb.Type
	Age   time.Duration
}

// NeighEntry is one neighbor table row for display.
type NeighEntry struct {
	Network string
	VNI     uint32
	IP      netip.Addr
	MAC     fdb.MAC
	Type    fdb.Type
	Age     time.Duration
}

// NetworkStats is one network's counters and table sizes.
type NetworkStats struct {
	Name      string
	VNI       uint32
	Stats     Stats
	MACs      int
	Neighbors int
}

// FDB snapshots the MAC tables of every network, or only of network if
// non-empty. Safe while the switch runs.
func (s *Switch) FDB(network string) []FDBEntry {
	now := s.now()
	var out []FDBEntry
	for _, d := range s.domains {
		if network != "" && d.name != network {
			continue
		}
		for _, e := range d.macs.Snapshot(now) {
			out = append(out, FDBEntry{Network: d.name, VNI: d.vni, MAC: e.MAC, Where: s.describe(e.Dest), Type: e.Type, Age: e.Age})
		}
	}
	return out
}

// Neighbors snapshots the neighbor tables, like FDB.
func (s *Switch) Neighbors(network string) []NeighEntry {
	now := s.now()
	var out []NeighEntry
	for _, d := range s.domains {
		if network != "" && d.name != network {
			continue
		}
		for _, e := range d.neigh.Snapshot(now) {
			out = append(out, NeighEntry{Network: d.name, VNI: d.vni, IP: e.IP, MAC: e.MAC, Type: e.Type, Age: e.Age})
		}
	}
	return out
}

func (s *Switch) describe(d fdb.Dest) string {
	switch d.Kind {
	case fdb.KindPort:
		ps := *s.ports.Load()
		if int(d.ID) < len(ps) && ps[d.ID] != nil {
			return "port " + ps[d.ID].cfg.Name
		}
	case fdb.KindVTEP:
		if p := s.peers.byIndex(d.ID); p != nil {
			return "vtep " + p.addr.String()
		}
	}
	return d.String()
}

// Stats returns per-network counters and the switch-wide counters of
// datagrams that matched no network.
func (s *Switch) Stats() (networks []NetworkStats, unmatched Stats) {
	for _, d := range s.domains {
		st := d.stats.snapshot()
		st.LearnFull = d.macs.FullDrops()
		networks = append(networks, NetworkStats{Name: d.name, VNI: d.vni, Stats: st, MACs: d.macs.Len(), Neighbors: d.neigh.Len()})
	}
	return networks, s.global.snapshot()
}

// UnderlayOffloads reports what UDP GSO and GRO did on the underlay; ok
// is false when the underlay does not count them (an in-memory one).
func (s *Switch) UnderlayOffloads() (st vtep.OffloadStats, ok bool) {
	if u, is := s.underlay.(interface{ Offloads() vtep.OffloadStats }); is {
		return u.Offloads(), true
	}
	return st, false
}

// UnderlayTxErrors counts datagrams the underlay refused after their
// frames were counted as forwarded (batched sends fail late).
func (s *Switch) UnderlayTxErrors() uint64 { return s.txErrors.Load() }

// Peers lists the remote VTEPs the switch knows.
func (s *Switch) Peers() []PeerInfo {
	now := s.now()
	var out []PeerInfo
	s.peers.each(func(p *peer) {
		seen := p.lastSeen.Load()
		age := time.Duration(-1)
		if seen != 0 {
			age = time.Duration(now - seen)
		}
		out = append(out, PeerInfo{Addr: p.addr, LastSeen: age, IO: p.io.snapshot()})
	})
	return out
}
