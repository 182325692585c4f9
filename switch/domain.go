package vswitch

import (
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/vxswitch/vxswitch/fdb"
)

// domain is one network: a bridge domain with its own VNI, tables, ports and
// flood list. Frames never leave their domain.
type domain struct {
	name     string
	vni      uint32
	learning bool
	proxy    bool
	// allowUnknown accepts datagrams from any VTEP and learns it as a peer.
	allowUnknown bool
	macs         *fdb.Table
	neigh        *fdb.Neighbors
	// flood is the head-end replication list; known are the peers allowed
	// to send to this network (flood list and static entries). Both are
	// fixed after New.
	flood []*peer
	known map[netip.Addr]*peer
	// ports is copied on write by AddPort and RemovePort.
	ports atomic.Pointer[[]*Port]
	stats counters
}

func (s *Switch) newDomain(nc NetworkConfig) (*domain, error) {
	d := &domain{
		name:         nc.Name,
		vni:          nc.VNI,
		learning:     nc.Learning,
		proxy:        nc.ARPProxy,
		allowUnknown: nc.AllowUnknownPeers,
		macs:         fdb.NewTable(nc.MaxMACs, nc.Ageing),
		neigh:        fdb.NewNeighbors(nc.MaxMACs, nc.Ageing),
		known:        map[netip.Addr]*peer{},
	}
	if nc.VNI > 1<<24-1 {
		return nil, fmt.Errorf("VNI %d out of range 0..16777215", nc.VNI)
	}
	d.ports.Store(&[]*Port{})
	addPeer := func(a netip.Addr) (*peer, error) {
		a = a.Unmap()
		if a.Is4() != s.local.Is4() {
			return nil, fmt.Errorf("VTEP %s: address family differs from underlay %s", a, s.local)
		}
		if a == s.local {
			return nil, fmt.Errorf("VTEP %s is this switch's own address", a)
		}
		p, _ := s.peers.get(a, true, false, 0, 0)
		d.known[a] = p
		return p, nil
	}
	for _, a := range nc.Flood {
		p, err := addPeer(a)
		if err != nil {
			return nil, fmt.Errorf("flood: %w", err)
		}
		if !containsPeer(d.flood, p) {
			d.flood = append(d.flood, p)
		}
	}
	for _, sm := range nc.StaticMACs {
		p, err := addPeer(sm.VTEP)
		if err != nil {
			return nil, fmt.Errorf("fdb %s: %w", sm.MAC, err)
		}
		d.macs.AddStatic(sm.MAC, fdb.Dest{Kind: fdb.KindVTEP, ID: p.id})
	}
	for _, n := range nc.Neighbors {
		d.neigh.AddStatic(n.IP, n.MAC)
	}
	return d, nil
}

func containsPeer(ps []*peer, p *peer) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// peerFor returns the peer a datagram from addr belongs to in this domain,
// or nil when the sender is not allowed. With allow_unknown_peers a new
// sender becomes a peer when create is set, if it can be one.
func (s *Switch) peerFor(d *domain, addr netip.Addr, create bool) *peer {
	if p, ok := d.known[addr]; ok {
		return p
	}
	if !d.allowUnknown || !s.canBePeer(addr) {
		return nil
	}
	p, _ := s.peers.get(addr, create, true, s.now(), s.peerIdle)
	return p
}

// canBePeer reports whether a datagram's source address could be another
// VTEP's: a unicast address of the underlay's family that is not this
// switch's own. allow_unknown_peers must not make a peer of anything else
// (found by fuzz.FuzzUnderlayDatagram): frames would then be sent to a
// multicast or broadcast address, to an address the socket cannot reach,
// or back to this switch.
func (s *Switch) canBePeer(a netip.Addr) bool {
	return a.IsValid() && a.Is4() == s.local.Is4() && a != s.local &&
		!a.IsUnspecified() && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}
