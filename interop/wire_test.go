package interop

import (
	"testing"

	"github.com/vxswitch/vxswitch/internal/nstest"
)

// TestIntegrationKernelWireFormat captures every datagram vxswitch sends
// while four TCP flows run in parallel to the kernel's side, and checks
// each against RFC 7348 and the configuration: destination port 4789, I
// flag set and every reserved bit zero, the network's VNI (0x123456, so
// that a byte slip shows), a source port inside src_port_min–max, an IP
// packet within the underlay MTU. The source port is a flow hash: one inner
// flow keeps one port, and different flows do not all share one.
func TestIntegrationKernelWireFormat(t *testing.T) {
	nstest.RequireRoot(t)
	const (
		vni            = 0x123456
		portMin        = 50000
		portMax        = 50999
		flows          = 4
		bytesPerFlow   = 1 << 20
		ipv4HeaderLen  = 20
		ethHeaderLen   = 14
		ipv4HeaderIHL5 = 5
	)
	tp := newTopology(t, topoOptions{VNI: vni, SrcPortMin: portMin, SrcPortMax: portMax})
	capt := startCapture(t, tp.A, tp.UnderlayA)
	transfer(t, tp.CA, tp.CB, overlay4B.Addr(), flows, bytesPerFlow)
	ours := from(datagrams(capt.Stop(t)), tp.AddrA)
	if len(ours) == 0 {
		t.Fatal("captured no datagram from vxswitch")
	}

	d := newDecoder()
	portsOf := map[flowKey]map[uint16]bool{}
	gso := 0
	for i, g := range ours {
		if g.gso {
			gso++
		}
		switch {
		case !g.outgoing:
			t.Fatalf("datagram %d from %s arrived on A's underlay instead of leaving it", i, g.src)
		case g.dst != tp.AddrB || g.dstPort != vxlanPort:
			t.Fatalf("datagram %d: to %s port %d, want %s port %d", i, g.dst, g.dstPort, tp.AddrB, vxlanPort)
		case !g.iFlag:
			t.Fatalf("datagram %d: I flag clear (header % x)", i, g.hdr)
		case !g.reservedZero():
			t.Fatalf("datagram %d: reserved bits set (header % x)", i, g.hdr)
		case g.vni != vni:
			t.Fatalf("datagram %d: VNI %#x, want %#x (header % x)", i, g.vni, vni, g.hdr)
		case g.srcPort < portMin || g.srcPort > portMax:
			t.Fatalf("datagram %d: source port %d outside src_port_min–max %d–%d", i, g.srcPort, portMin, portMax)
		case g.ipLen > underlayMTU:
			t.Fatalf("datagram %d: IP total length %d exceeds the underlay MTU %d", i, g.ipLen, underlayMTU)
		case g.ihl != ipv4HeaderIHL5 || int(g.udpLen) != g.ipLen-ipv4HeaderLen || g.wireLen != ethHeaderLen+g.ipLen:
			t.Fatalf("datagram %d: IHL %d, IP length %d, UDP length %d, frame %d bytes: inconsistent", i, g.ihl, g.ipLen, g.udpLen, g.wireLen)
		}
		if k, ok := d.flow(g); ok {
			if portsOf[k] == nil {
				portsOf[k] = map[uint16]bool{}
			}
			portsOf[k][g.srcPort] = true
		}
	}

	// The data flows: cA's connections to the listener in cB.
	distinct := map[uint16]bool{}
	data := 0
	for k, ports := range portsOf {
		if len(ports) != 1 {
			t.Errorf("inner flow %v went out from %d source ports %v, want one", k, len(ports), ports)
		}
		if k.src == overlay4A.Addr() && k.dst == overlay4B.Addr() {
			data++
			for p := range ports {
				distinct[p] = true
			}
		}
	}
	if data != flows {
		t.Fatalf("saw %d inner TCP flows cA→cB, want %d", data, flows)
	}
	if len(distinct) < 2 {
		t.Errorf("%d parallel flows all used source port %v: no flow entropy", flows, distinct)
	}
	t.Logf("%d datagrams checked (%d of them sent in UDP GSO runs); %d flows cA→cB on %d distinct source ports",
		len(ours), gso, data, len(distinct))
}
