package fuzz

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/internal/csum"
	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/tap/taptest"
	"github.com/vxswitch/vxswitch/vtep"
	"github.com/vxswitch/vxswitch/vtep/vteptest"
)

// FuzzUnderlayDatagram plays a sequence of events, decoded from the input,
// into a switch with fake ports in four networks: VXLAN datagrams from
// arbitrary underlay addresses (raw bytes, or a clean header around fuzzed
// inner bytes), frames from local ports (so MACs are learned on ports and
// then addressed from the underlay), and clock steps with ageing sweeps.
// switch/FuzzFromUnderlay covers one datagram into a fixed table; this one
// covers what sequences add: learning then forwarding, tables filling and
// ageing, allow_unknown_peers networks growing the peer table.
//
// Invariants after every event:
//   - each datagram or frame is counted exactly once, and in every scope
//     received = forwarded + flooded + proxied + dropped;
//   - nothing from the underlay goes back to it (the worker's sender, a
//     vteptest.Recorder, stays empty);
//   - no frame crosses VNIs: a datagram reaches only ports of its VNI,
//     unchanged; a port frame reaches only ports and VTEPs of its network,
//     under its VNI, never its own port unless proxied;
//   - the verdict is what the MAC table says (unicast to where the
//     destination was learned, split horizon, same port, or flood), and the
//     switch's own Explain predicts it;
//   - tables stay bounded (learned MACs and neighbors within max_macs), FDB
//     rows point only at ports of their network and at VTEPs allowed to
//     send into it, and the peer table grows only through
//     allow_unknown_peers networks, by the sender's address.
func FuzzUnderlayDatagram(f *testing.F) {
	for _, s := range underlaySeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := newUnderlayRig(t)
		for step := 0; step < maxEvents && len(in) > 0; step++ {
			op := in[0]
			switch op % 4 {
			case 0: // [op][src][len16][bytes]: raw datagram
				if len(in) < 4 {
					return
				}
				n := min(int(binary.BigEndian.Uint16(in[2:4])), len(in)-4)
				r.datagram(srcAddr(in[1]), pad(op, in[4:4+n]))
				in = in[4+n:]
			case 1: // [op][src][vni][macs][ethertype][len][bytes]: clean header
				if len(in) < 6 {
					return
				}
				n := min(int(in[5]), len(in)-6)
				d := make([]byte, vtep.HeaderLen, vtep.HeaderLen+ethHeader+n)
				vtep.PutHeader(d, vniSel(in[2]))
				if op&0x80 != 0 { // reserved bits: ignored on receipt
					d[0], d[1], d[3], d[7] = 0xff, 0xff, 0xff, 0xff
				}
				d = append(d, ethHdr(in[3], in[4])...)
				r.datagram(srcAddr(in[1]), pad(op, append(d, in[6:6+n]...)))
				in = in[6+n:]
			case 2: // [op][port][macs][ethertype][len][bytes]: frame from a port
				if len(in) < 5 {
					return
				}
				n := min(int(in[4]), len(in)-5)
				fr := append(ethHdr(in[2], in[3]), in[5:5+n]...)
				if len(fr) < 60 {
					fr = append(fr, make([]byte, 60-len(fr))...)
				}
				r.portFrame(portNames[int(in[1])%len(portNames)], pad(op, fr))
				in = in[5+n:]
			case 3: // [op][steps]: the clock moves on, maybe a sweep
				if len(in) < 2 {
					return
				}
				r.now += int64(in[1]) * int64(uAgeing/16)
				if op&0x80 != 0 {
					r.sw.Expire()
				}
				r.checkTables()
				in = in[2:]
			}
		}
	})
}

const (
	maxEvents = 64
	uMaxMACs  = 8
	uAgeing   = time.Second
	ethHeader = 14
)

var (
	self  = netip.MustParseAddr("192.0.2.1")
	peer2 = netip.MustParseAddr("192.0.2.2")
	peer3 = netip.MustParseAddr("192.0.2.3")
	peer4 = netip.MustParseAddr("192.0.2.4")
)

// network is one of the rig's networks as the harness sees it.
type network struct {
	name         string
	vni          uint32
	allowUnknown bool
	statics      int // static MACs
	staticNeigh  int
}

// The rig's networks: blue proxies and has statics; red takes unknown peers;
// green is VNI 0, takes unknown peers and does not learn; violet is the
// largest VNI and has a jumbo port bigger than the underlay carries.
var networks = []network{
	{name: "blue", vni: 4097, statics: 1, staticNeigh: 2},
	{name: "red", vni: 4098, allowUnknown: true},
	{name: "green", vni: 0, allowUnknown: true},
	{name: "violet", vni: vtep.MaxVNI},
}

var portNames = []string{"b1", "b2", "r1", "r2", "g1", "v1"}

// portNet and portMTU describe the ports.
var (
	portNet = map[string]string{"b1": "blue", "b2": "blue", "r1": "red", "r2": "red", "g1": "green", "v1": "violet"}
	portMTU = map[string]int{"b1": 1450, "b2": 1000, "r1": 1450, "r2": 1450, "g1": 1450, "v1": 9000}
)

type underlayRig struct {
	t     *testing.T
	sw    *vswitch.Switch
	w     *vswitch.Worker
	rec   *vteptest.Recorder
	now   int64
	ports map[string]*vswitch.Port
	devs  map[string]*taptest.Device
	// allowed are, per network, the VTEPs that may send into it and so
	// appear in its MAC table: its flood list and static entries, and in
	// allow_unknown_peers networks every sender seen so far.
	allowed map[string]map[netip.Addr]bool
	flood   map[string][]netip.Addr
	peers   map[netip.Addr]bool
}

// macSel maps a nibble to a MAC: 12 unicast stations, broadcast, IPv6
// multicast, zero, and blue's static MAC.
func macSel(n byte) fdb.MAC {
	switch n & 15 {
	case 12:
		return fdb.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	case 13:
		return fdb.MAC{0x33, 0x33, 0, 0, 0, 1}
	case 14:
		return fdb.MAC{}
	}
	return fdb.MAC{2, 0, 0, 0, 0, n & 15}
}

var staticMAC = macSel(15)

// vniSel picks one of the networks' VNIs, or one no network has.
func vniSel(b byte) uint32 {
	if int(b) < len(networks) {
		return networks[b].vni
	}
	return uint32(b)<<16 | 0x1001
}

// ethHdr is an Ethernet header: destination and source from macs (high and
// low nibble), then a common ethertype or a fuzzed one.
func ethHdr(macs, etype byte) []byte {
	h := make([]byte, ethHeader)
	dst, src := macSel(macs>>4), macSel(macs)
	copy(h[0:6], dst[:])
	copy(h[6:12], src[:])
	types := []uint16{0x0800, 0x0806, 0x86dd, 0x8100, 0x88a8}
	t := uint16(etype)<<8 | uint16(etype)
	if int(etype) < len(types) {
		t = types[etype]
	}
	binary.BigEndian.PutUint16(h[12:14], t)
	return h
}

// pad makes b large when op asks: around the smaller port MTU, the others,
// the underlay MTU, and jumbo.
func pad(op byte, b []byte) []byte {
	if op&0x40 == 0 {
		return b
	}
	sizes := [4]int{1000 + ethHeader + 1, 1450 + ethHeader + 1, 1500, 9000 + ethHeader + vtep.HeaderLen}
	if want := sizes[op>>4&3]; len(b) < want {
		b = append(b, make([]byte, want-len(b))...)
	}
	return b
}

// srcAddr maps a byte to a sender: the known VTEPs and their neighbours
// (including this switch's own address), 208 strangers, and addresses no
// VTEP should have.
func srcAddr(s byte) netip.AddrPort {
	var a netip.Addr
	switch {
	case s < 0x20:
		a = netip.AddrFrom4([4]byte{192, 0, 2, s})
	case s < 0xf0:
		a = netip.AddrFrom4([4]byte{198, 51, 100, s})
	default:
		a = netip.MustParseAddr([16]string{
			"::ffff:192.0.2.2", "::ffff:198.51.100.77", "2001:db8::2", "0.0.0.0",
			"255.255.255.255", "224.0.0.5", "127.0.0.1", "192.0.2.255",
			"::", "169.254.1.1", "fe80::1", "192.0.2.1",
			"::ffff:192.0.2.1", "ff02::1", "192.0.2.4", "192.0.2.3",
		}[s-0xf0])
	}
	return netip.AddrPortFrom(a, 49152+uint16(s))
}

func newUnderlayRig(t *testing.T) *underlayRig {
	r := &underlayRig{t: t, now: int64(time.Hour), rec: &vteptest.Recorder{},
		ports: map[string]*vswitch.Port{}, devs: map[string]*taptest.Device{},
		allowed: map[string]map[netip.Addr]bool{}, flood: map[string][]netip.Addr{}, peers: map[netip.Addr]bool{}}
	nc := func(n network, flood []netip.Addr, learning, proxy bool) vswitch.NetworkConfig {
		r.flood[n.name] = flood
		r.allowed[n.name] = map[netip.Addr]bool{}
		for _, a := range flood {
			r.allowed[n.name][a] = true
		}
		return vswitch.NetworkConfig{Name: n.name, VNI: n.vni, Flood: flood, AllowUnknownPeers: n.allowUnknown,
			Learning: learning, ARPProxy: proxy, Ageing: uAgeing, MaxMACs: uMaxMACs}
	}
	blue := nc(networks[0], []netip.Addr{peer2, peer3}, true, true)
	blue.StaticMACs = []vswitch.StaticMAC{{MAC: staticMAC, VTEP: peer4}}
	r.allowed["blue"][peer4] = true
	blue.Neighbors = []vswitch.Neighbor{
		{IP: netip.MustParseAddr("10.0.0.9"), MAC: macSel(9)},
		{IP: netip.MustParseAddr("fd00::9"), MAC: macSel(9)},
	}
	sw, err := vswitch.New(vswitch.Config{
		Local: self, MTU: 1500, Now: func() int64 { return r.now },
		Networks: []vswitch.NetworkConfig{
			blue,
			nc(networks[1], []netip.Addr{peer2}, true, true),
			nc(networks[2], nil, false, false),
			nc(networks[3], []netip.Addr{peer3}, true, false),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.sw = sw
	for _, name := range portNames {
		d := taptest.New(name)
		p, err := sw.AddPort(vswitch.PortConfig{Name: name, Network: portNet[name], Device: d, MTU: portMTU[name]})
		if err != nil {
			t.Fatal(err)
		}
		r.ports[name], r.devs[name] = p, d
	}
	r.w = sw.NewWorker(r.rec)
	for _, p := range sw.Peers() {
		r.peers[p.Addr] = true
	}
	return r
}

func (r *underlayRig) netByVNI(vni uint32) *network {
	for i := range networks {
		if networks[i].vni == vni {
			return &networks[i]
		}
	}
	return nil
}

// datagram hands b to the switch as sent by src and checks the invariants.
func (r *underlayRig) datagram(src netip.AddrPort, b []byte) {
	t := r.t
	t.Helper()
	orig := append([]byte(nil), b...)
	_, predicted := r.sw.ExplainDatagram(src, b)
	before := r.received()

	v := r.w.FromUnderlay(src, b)

	// The one change allowed: finishing an inner TCP/UDP checksum that the
	// sending kernel left partial, when the frame is delivered.
	want := orig
	if len(want) > vtep.HeaderLen && v.Action != vswitch.ActionDrop {
		want = append([]byte(nil), orig...)
		csum.FixPartial(want[vtep.HeaderLen:])
	}
	if !bytes.Equal(b, want) {
		t.Fatal("the switch changed the datagram it was handed beyond finishing a partial checksum")
	}
	r.checkCounted(before, v)
	if sent := r.rec.Take(); len(sent) != 0 {
		t.Fatalf("datagram from %v (verdict %s): %d datagrams sent back to the underlay, first to %v",
			src, show(v), len(sent), sent[0].Dst)
	}
	switch v.Action {
	case vswitch.ActionVTEP, vswitch.ActionProxy:
		t.Fatalf("verdict %s for a datagram", show(v))
	}

	vni, err := vtep.Parse(b, false)
	var n *network
	if err == nil {
		n = r.netByVNI(vni)
	}
	delivered := r.drainPorts(func(port string, fr []byte) {
		if n == nil || portNet[port] != n.name {
			t.Fatalf("datagram from %v (header % x) reached port %s of network %s", src, b[:min(len(b), 8)], port, portNet[port])
		}
		if !bytes.Equal(fr, b[vtep.HeaderLen:]) {
			t.Fatalf("port %s got a frame that is not the datagram's inner frame", port)
		}
		if len(fr) > portMTU[port]+ethHeader+4 {
			t.Fatalf("port %s (MTU %d) got a %d-byte frame", port, portMTU[port], len(fr))
		}
	})
	r.checkDelivered(v, delivered, "")

	// Whom the sender is to this network now.
	if n != nil && v.Reason != vswitch.ReasonUnknownPeer && (n.allowUnknown || r.allowed[n.name][src.Addr().Unmap()]) {
		r.allowed[n.name][src.Addr().Unmap()] = true
	}
	r.checkPeers(src, n, v)

	// The verdict follows the MAC table, and Explain predicted it.
	if n != nil && len(b) >= vtep.HeaderLen+ethHeader && v.Reason != vswitch.ReasonUnknownPeer {
		fr := b[vtep.HeaderLen:]
		dst, srcMAC := fdb.MAC(fr[0:6]), fdb.MAC(fr[6:12])
		if !srcMAC.IsMulticast() && !srcMAC.IsZero() && !dst.IsMulticast() {
			switch where := r.where(n.name, dst); {
			case strings.HasPrefix(where, "port "):
				port := strings.TrimPrefix(where, "port ")
				if !(v.Action == vswitch.ActionPort && v.Port.Name() == port) && v.Reason != vswitch.ReasonOversize {
					t.Fatalf("datagram to %v, which is at %s: verdict %s", dst, where, show(v))
				}
			case strings.HasPrefix(where, "vtep "):
				if v.Reason != vswitch.ReasonSplitHorizon {
					t.Fatalf("datagram to %v, which is at %s: verdict %s, want split_horizon", dst, where, show(v))
				}
			default:
				if v.Action != vswitch.ActionFlood && v.Reason != vswitch.ReasonOversize {
					t.Fatalf("datagram to unknown %v: verdict %s, want flood", dst, show(v))
				}
			}
		}
		if srcMAC == dst {
			predicted = v // Explain does not learn, so it cannot see the source become the destination
		}
	}
	if !sameVerdict(predicted, v) {
		t.Fatalf("datagram from %v: Explain predicted %s, the switch did %s", src, show(predicted), show(v))
	}
	r.checkTables()
}

// portFrame hands fr to the switch as read from port name and checks the
// invariants.
func (r *underlayRig) portFrame(name string, fr []byte) {
	t := r.t
	t.Helper()
	n := r.netByName(portNet[name])
	_, predicted, err := r.sw.Explain(name, fr)
	if err != nil {
		t.Fatal(err)
	}
	before := r.received()
	buf := make([]byte, vswitch.Headroom+len(fr))
	copy(buf[vswitch.Headroom:], fr)

	v := r.w.FromPort(r.ports[name], buf, vswitch.Headroom, len(fr))

	r.checkCounted(before, v)
	delivered := r.drainPorts(func(port string, out []byte) {
		if portNet[port] != n.name {
			t.Fatalf("frame from %s (%s) reached port %s of network %s", name, n.name, port, portNet[port])
		}
		if port == name && v.Action != vswitch.ActionProxy {
			t.Fatalf("frame from %s came back out of it (verdict %s)", name, show(v))
		}
		if v.Action != vswitch.ActionProxy && !bytes.Equal(out, fr) {
			t.Fatalf("port %s got a frame that is not the one %s sent", port, name)
		}
	})
	sent := r.rec.Take()
	for _, d := range sent {
		vni, err := vtep.Parse(d.Payload, true)
		if err != nil || vni != n.vni {
			t.Fatalf("frame from %s (VNI %d) sent with header % x (%v)", name, n.vni, d.Payload[:min(8, len(d.Payload))], err)
		}
		if !r.allowed[n.name][d.Dst] {
			t.Fatalf("frame from %s (%s) sent to %v, not a VTEP of that network", name, n.name, d.Dst)
		}
		if !bytes.Equal(d.Payload[vtep.HeaderLen:], fr) {
			t.Fatalf("frame from %s encapsulated with a different inner frame", name)
		}
		if len(fr)+vtep.HeaderLen+vtep.UDPHeaderLen+20 > 1500 {
			t.Fatalf("a %d-byte frame was encapsulated beyond the underlay MTU", len(fr))
		}
	}
	r.checkDelivered(v, delivered, name)
	switch v.Action {
	case vswitch.ActionVTEP:
		if len(sent) != 1 || sent[0].Dst != v.VTEP {
			t.Fatalf("verdict %s, sent %d datagrams", show(v), len(sent))
		}
	case vswitch.ActionFlood:
		if delivered+len(sent) != v.Copies {
			t.Fatalf("flood of %d copies: %d to ports, %d to VTEPs", v.Copies, delivered, len(sent))
		}
	default:
		if len(sent) != 0 {
			t.Fatalf("verdict %s, yet %d datagrams sent", show(v), len(sent))
		}
	}

	dst, srcMAC, etype := fdb.MAC(fr[0:6]), fdb.MAC(fr[6:12]), binary.BigEndian.Uint16(fr[12:14])
	learnable := !srcMAC.IsMulticast() && !srcMAC.IsZero()
	if learnable && !dst.IsMulticast() && len(fr) <= portMTU[name]+ethHeader && etype != 0x0806 && etype != 0x86dd {
		switch where := r.where(n.name, dst); {
		case where == "port "+name:
			if v.Reason != vswitch.ReasonSamePort {
				t.Fatalf("frame from %s to %v, which is on that port: verdict %s", name, dst, show(v))
			}
		case strings.HasPrefix(where, "port "):
			if !(v.Action == vswitch.ActionPort && "port "+v.Port.Name() == where) && v.Reason != vswitch.ReasonOversize {
				t.Fatalf("frame from %s to %v, which is at %s: verdict %s", name, dst, where, show(v))
			}
		case strings.HasPrefix(where, "vtep "):
			if !(v.Action == vswitch.ActionVTEP && "vtep "+v.VTEP.String() == where) && v.Reason != vswitch.ReasonOversize {
				t.Fatalf("frame from %s to %v, which is at %s: verdict %s", name, dst, where, show(v))
			}
		default:
			if v.Action != vswitch.ActionFlood && v.Reason != vswitch.ReasonOversize && v.Reason != vswitch.ReasonNoDestination {
				t.Fatalf("frame from %s to unknown %v: verdict %s, want flood", name, dst, show(v))
			}
		}
	}
	if srcMAC == dst {
		predicted = v
	}
	if !sameVerdict(predicted, v) {
		t.Fatalf("frame from %s: Explain predicted %s, the switch did %s", name, show(predicted), show(v))
	}
	r.checkTables()
}

func (r *underlayRig) netByName(name string) *network {
	for i := range networks {
		if networks[i].name == name {
			return &networks[i]
		}
	}
	return nil
}

// where returns the FDB's Where for mac in network, or "".
func (r *underlayRig) where(network string, mac fdb.MAC) string {
	for _, e := range r.sw.FDB(network) {
		if e.MAC == mac {
			return e.Where
		}
	}
	return ""
}

func (r *underlayRig) received() uint64 {
	nets, unmatched := r.sw.Stats()
	n := unmatched.Received
	for _, ns := range nets {
		n += ns.Stats.Received
	}
	return n
}

// checkCounted checks that one more input was counted, once, and that every
// scope's outcomes add up.
func (r *underlayRig) checkCounted(before uint64, v vswitch.Verdict) {
	r.t.Helper()
	if got := r.received(); got != before+1 {
		r.t.Fatalf("input counted %d times (verdict %s)", got-before, show(v))
	}
	nets, unmatched := r.sw.Stats()
	scopes := []vswitch.NetworkStats{{Name: "unmatched", Stats: unmatched}}
	for _, s := range append(scopes, nets...) {
		st := s.Stats
		if sum := st.Forwarded + st.Flooded + st.Proxied + st.Dropped(); sum != st.Received {
			r.t.Fatalf("%s: outcomes sum to %d, received %d: %+v", s.Name, sum, st.Received, st)
		}
	}
}

// drainPorts passes every frame the ports received to check and counts them.
func (r *underlayRig) drainPorts(check func(port string, frame []byte)) int {
	n := 0
	for _, name := range portNames {
		for _, fr := range r.devs[name].Drain() {
			check(name, fr)
			n++
		}
	}
	return n
}

// checkDelivered checks that the verdict matches how many frames the ports
// received (datagrams: all of them; port frames: excluding VTEP copies).
func (r *underlayRig) checkDelivered(v vswitch.Verdict, delivered int, from string) {
	r.t.Helper()
	switch v.Action {
	case vswitch.ActionDrop:
		if delivered != 0 {
			r.t.Fatalf("dropped (%s), yet %d frames delivered", v.Reason, delivered)
		}
	case vswitch.ActionPort, vswitch.ActionProxy:
		if delivered != 1 {
			r.t.Fatalf("verdict %s delivered %d frames", show(v), delivered)
		}
		if v.Action == vswitch.ActionProxy && v.Port.Name() != from {
			r.t.Fatalf("proxy answer went to %s, asked on %s", v.Port.Name(), from)
		}
	case vswitch.ActionFlood:
		if from == "" && delivered != v.Copies {
			r.t.Fatalf("flood of %d copies delivered %d frames", v.Copies, delivered)
		}
		if v.Copies == 0 {
			r.t.Fatal("flood verdict with no copies")
		}
	case vswitch.ActionVTEP:
		if delivered != 0 {
			r.t.Fatalf("verdict %s, yet %d frames delivered to ports", show(v), delivered)
		}
	}
}

// checkPeers checks that the peer table grew only by the sender, only into
// an allow_unknown_peers network, and only with an address a VTEP can have.
func (r *underlayRig) checkPeers(src netip.AddrPort, n *network, v vswitch.Verdict) {
	r.t.Helper()
	for _, p := range r.sw.Peers() {
		if r.peers[p.Addr] {
			continue
		}
		switch {
		case n == nil || !n.allowUnknown:
			r.t.Fatalf("datagram from %v (verdict %s) added peer %v outside any allow_unknown_peers network", src, show(v), p.Addr)
		case p.Addr != src.Addr().Unmap():
			r.t.Fatalf("datagram from %v added peer %v", src, p.Addr)
		case !p.Addr.Is4() || p.Addr.IsMulticast() || p.Addr.IsUnspecified() || p.Addr == self ||
			p.Addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
			r.t.Fatalf("datagram from %v (verdict %s) made %v a peer of an IPv4 switch at %v", src, show(v), p.Addr, self)
		}
		r.peers[p.Addr] = true
	}
}

// checkTables checks the bounds and that every FDB row stays in its network.
func (r *underlayRig) checkTables() {
	r.t.Helper()
	nets, _ := r.sw.Stats()
	for _, ns := range nets {
		n := r.netByName(ns.Name)
		if ns.MACs > uMaxMACs+n.statics || ns.Neighbors > uMaxMACs+n.staticNeigh {
			r.t.Fatalf("%s: %d MACs, %d neighbors; max_macs %d + %d and %d statics", ns.Name, ns.MACs, ns.Neighbors, uMaxMACs, n.statics, n.staticNeigh)
		}
		learned := 0
		for _, e := range r.sw.FDB(ns.Name) {
			if e.Type == fdb.Learned {
				learned++
			}
			switch {
			case strings.HasPrefix(e.Where, "port "):
				if portNet[strings.TrimPrefix(e.Where, "port ")] != ns.Name {
					r.t.Fatalf("%s: %v learned at %s, a port of another network", ns.Name, e.MAC, e.Where)
				}
			case strings.HasPrefix(e.Where, "vtep "):
				a, err := netip.ParseAddr(strings.TrimPrefix(e.Where, "vtep "))
				if err != nil || !r.allowed[ns.Name][a] {
					r.t.Fatalf("%s: %v learned at %s, which never sent into this network", ns.Name, e.MAC, e.Where)
				}
			default:
				r.t.Fatalf("%s: FDB row %+v points nowhere", ns.Name, e)
			}
		}
		if learned > uMaxMACs {
			r.t.Fatalf("%s: %d learned MACs, max_macs %d", ns.Name, learned, uMaxMACs)
		}
	}
}

func sameVerdict(a, b vswitch.Verdict) bool {
	return a.Action == b.Action && a.Reason == b.Reason && a.Copies == b.Copies && a.VTEP == b.VTEP &&
		(a.Port == nil) == (b.Port == nil) && (a.Port == nil || a.Port.Name() == b.Port.Name())
}

func show(v vswitch.Verdict) string {
	switch v.Action {
	case vswitch.ActionDrop:
		return "drop " + v.Reason.String()
	case vswitch.ActionPort, vswitch.ActionProxy:
		return v.Action.String() + " " + v.Port.Name()
	case vswitch.ActionVTEP:
		return "vtep " + v.VTEP.String()
	}
	return v.Action.String()
}

// TestUnderlayPeerTableBound sends from more distinct underlay addresses
// than the peer table may hold into an allow_unknown_peers network: the
// table stops growing at its bound, later strangers are dropped as
// unknown_peer, and peers already known keep working.
func TestUnderlayPeerTableBound(t *testing.T) {
	const maxPeers = 65536 // switch/peer.go
	r := newUnderlayRig(t)
	frame := append(ethHdr(macs(12, 1), 0), make([]byte, 46)...)
	d := make([]byte, vtep.HeaderLen, vtep.HeaderLen+len(frame))
	vtep.PutHeader(d, networks[nRed].vni)
	d = append(d, frame...)
	start := time.Now()
	drops := 0
	for i := range maxPeers + 1000 {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 4789)
		if v := r.w.FromUnderlay(src, d); v.Reason == vswitch.ReasonUnknownPeer {
			drops++
		}
		r.devs["r1"].Drain()
		r.devs["r2"].Drain()
	}
	// Linear work takes well under a second; the quadratic peer table
	// this test found took 17 s.
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("%d datagrams from distinct senders took %v", maxPeers+1000, took)
	}
	if n := len(r.sw.Peers()); n != maxPeers {
		t.Errorf("%d peers, want the bound %d", n, maxPeers)
	}
	if want := 1000 + len(r.peers); drops != want {
		t.Errorf("%d datagrams dropped as unknown_peer, want %d", drops, want)
	}
	if v := r.w.FromUnderlay(netip.AddrPortFrom(peer2, 4789), d); v.Action != vswitch.ActionFlood {
		t.Errorf("flood-list peer after the table filled: verdict %s", show(v))
	}
	if sent := r.rec.Take(); len(sent) != 0 {
		t.Errorf("%d datagrams sent to the underlay", len(sent))
	}
}
