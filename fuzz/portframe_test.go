package fuzz

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vxswitch/vxswitch/fdb"
	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/tap/taptest"
	"github.com/vxswitch/vxswitch/vtep"
	"github.com/vxswitch/vxswitch/vtep/vteptest"
)

const maxMACs = 16

var (
	asker    = fdb.MAC{2, 0, 0, 0, 0, 1}
	neighbor = fdb.MAC{2, 0, 0, 0, 0, 9}
	// neighbor6 is the static neighbor's IPv6 address, for the ND proxy.
	neighbor6 = netip.MustParseAddr("fd00::9")
)

// rig is a switch with two networks: blue (ports b1, b2; flood list
// 192.0.2.2) and red (port r1; flood list 192.0.2.3), a static neighbor
// 10.0.0.9 and fd00::9 in blue, and a recorder as its underlay.
type rig struct {
	sw         *vswitch.Switch
	w          *vswitch.Worker
	rec        *vteptest.Recorder
	b1, b2, r1 *taptest.Device
	pb1        *vswitch.Port
}

func newRig(t *testing.T) *rig {
	var now int64 = 1e12
	sw, err := vswitch.New(vswitch.Config{
		Local: netip.MustParseAddr("192.0.2.1"), MTU: 1500,
		Now: func() int64 { now += 1e6; return now },
		Networks: []vswitch.NetworkConfig{
			{Name: "blue", VNI: 4097, Flood: []netip.Addr{netip.MustParseAddr("192.0.2.2")}, Learning: true, ARPProxy: true, MaxMACs: maxMACs,
				Neighbors: []vswitch.Neighbor{{IP: netip.MustParseAddr("10.0.0.9"), MAC: neighbor}, {IP: neighbor6, MAC: neighbor}}},
			{Name: "red", VNI: 4098, Flood: []netip.Addr{netip.MustParseAddr("192.0.2.3")}, Learning: true, ARPProxy: true, MaxMACs: maxMACs},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{sw: sw, rec: &vteptest.Recorder{}, b1: taptest.New("b1"), b2: taptest.New("b2"), r1: taptest.New("r1")}
	add := func(name, network string, d *taptest.Device) *vswitch.Port {
		p, err := sw.AddPort(vswitch.PortConfig{Name: name, Network: network, Device: d, MTU: 1450})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	r.pb1 = add("b1", "blue", r.b1)
	add("b2", "blue", r.b2)
	add("r1", "red", r.r1)
	r.w = sw.NewWorker(r.rec)
	return r
}

func total(sw *vswitch.Switch, network string) (rx, outcomes uint64) {
	nets, _ := sw.Stats()
	for _, n := range nets {
		if n.Name == network {
			st := n.Stats
			return st.Received, st.Forwarded + st.Flooded + st.Proxied + st.Dropped()
		}
	}
	return 0, 0
}

// FuzzPortFrame sends an arbitrary frame into port b1 of network blue.
// Invariants: the frame is counted exactly once; nothing reaches network
// red (its port or its VTEP); the only frame that can come back out of the
// ingress port is a well-formed ARP reply or IPv6 neighbor advertisement
// (valid ICMPv6 checksum) from the proxy answering this frame, and nothing
// else leaves the switch for a proxied frame; every datagram sent carries
// blue's VNI in a clean header with the inner frame unchanged; the MAC
// table stays within max_macs.
func FuzzPortFrame(f *testing.F) {
	for _, seed := range seedFrames() {
		f.Add(seed)
	}
	for _, seed := range ndSeedFrames() {
		f.Add(seed)
	}
	for _, k := range kernelDatagrams(f) { // frames a kernel port sent
		f.Add(k.payload[vtep.HeaderLen:])
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		r := newRig(t)
		buf := make([]byte, vswitch.Headroom+len(frame))
		copy(buf[vswitch.Headroom:], frame)
		v := r.w.FromPort(r.pb1, buf, vswitch.Headroom, len(frame))

		if rx, out := total(r.sw, "blue"); rx != 1 || out != 1 {
			t.Fatalf("frame counted %d times with %d outcomes (verdict %v/%v)", rx, out, v.Action, v.Reason)
		}
		if rx, _ := total(r.sw, "red"); rx != 0 {
			t.Fatal("network red counted a frame from blue")
		}
		if got := r.r1.Drain(); len(got) != 0 {
			t.Fatalf("red port received %d frames from blue", len(got))
		}
		sent := r.rec.Take()
		for _, d := range sent {
			if d.Dst != netip.MustParseAddr("192.0.2.2") {
				t.Fatalf("datagram to %v, outside blue's flood list", d.Dst)
			}
			vni, err := vtep.Parse(d.Payload, true)
			if err != nil || vni != 4097 {
				t.Fatalf("datagram header % x: vni %d, %v", d.Payload[:min(8, len(d.Payload))], vni, err)
			}
			if string(d.Payload[vtep.HeaderLen:]) != string(frame) {
				t.Fatal("encapsulated inner frame differs from the frame sent")
			}
		}
		back := r.b1.Drain()
		if v.Action == vswitch.ActionProxy {
			if len(back) != 1 {
				t.Fatalf("proxy verdict but %d frames back on the ingress port", len(back))
			}
			switch binary.BigEndian.Uint16(back[0][12:14]) {
			case 0x0806:
				checkARPReply(t, frame, back[0])
			case 0x86dd:
				checkNAReply(t, frame, back[0])
			default:
				t.Fatalf("proxy reply is neither ARP nor IPv6: % x", back[0])
			}
			if n := len(r.b2.Drain()); n != 0 {
				t.Fatalf("proxied request also reached b2 (%d frames)", n)
			}
			if len(sent) != 0 {
				t.Fatalf("proxied request also sent to the underlay (%d datagrams)", len(sent))
			}
		} else if len(back) != 0 {
			t.Fatalf("verdict %v, yet %d frames went back out of the ingress port", v.Action, len(back))
		}
		for _, e := range r.sw.FDB("blue") {
			if e.Where == "" {
				t.Fatalf("FDB row without destination: %+v", e)
			}
		}
		if n := len(r.sw.FDB("blue")); n > maxMACs {
			t.Fatalf("blue's MAC table holds %d entries, max %d", n, maxMACs)
		}
	})
}

// checkARPReply asserts that reply is a valid ARP reply to request.
func checkARPReply(t *testing.T, request, reply []byte) {
	t.Helper()
	p := gopacket.NewPacket(reply, layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	arp, _ := p.Layer(layers.LayerTypeARP).(*layers.ARP)
	if eth == nil || arp == nil || p.ErrorLayer() != nil {
		t.Fatalf("proxy reply does not parse as Ethernet/ARP: % x", reply)
	}
	if arp.Operation != layers.ARPReply || arp.HwAddressSize != 6 || arp.ProtAddressSize != 4 {
		t.Fatalf("proxy reply: op %d sizes %d/%d", arp.Operation, arp.HwAddressSize, arp.ProtAddressSize)
	}
	req := request[14:]
	if string(arp.DstProtAddress) != string(req[14:18]) || string(arp.DstHwAddress) != string(req[8:14]) {
		t.Fatalf("proxy reply addressed to %v/%v, request came from % x/% x", arp.DstHwAddress, arp.DstProtAddress, req[8:14], req[14:18])
	}
	if string(arp.SourceProtAddress) != string(req[24:28]) || string(eth.DstMAC) != string(request[6:12]) {
		t.Fatal("proxy reply: wrong sender IP or Ethernet destination")
	}
	if string(arp.SourceProtAddress) == string(arp.DstProtAddress) {
		t.Fatal("proxy answered a request about the asker's own address")
	}
}

// seedFrames are real frame shapes: ARP request (answerable and not),
// gratuitous ARP, ARP probe, IPv4/UDP, IPv6 neighbor solicitation,
// 802.1Q-tagged, runt, broadcast-source, jumbo.
func seedFrames() [][]byte {
	arp := func(op uint16, sha fdb.MAC, spa, tpa [4]byte) []byte {
		f := make([]byte, 42)
		copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		copy(f[6:12], sha[:])
		binary.BigEndian.PutUint16(f[12:], 0x0806)
		a := f[14:]
		binary.BigEndian.PutUint16(a[0:], 1)
		binary.BigEndian.PutUint16(a[2:], 0x0800)
		a[4], a[5] = 6, 4
		binary.BigEndian.PutUint16(a[6:], op)
		copy(a[8:14], sha[:])
		copy(a[14:18], spa[:])
		copy(a[24:28], tpa[:])
		return f
	}
	udp := make([]byte, 14+20+8+4)
	copy(udp[0:6], neighbor[:])
	copy(udp[6:12], asker[:])
	binary.BigEndian.PutUint16(udp[12:], 0x0800)
	udp[14], udp[14+9] = 0x45, 17
	ns := make([]byte, 14+40+24)
	copy(ns[0:6], []byte{0x33, 0x33, 0xff, 0, 0, 9})
	copy(ns[6:12], asker[:])
	binary.BigEndian.PutUint16(ns[12:], 0x86dd)
	ns[14], ns[14+6], ns[14+7] = 0x60, 58, 255
	ns[14+40] = 135
	tagged := append(append(append([]byte{}, udp[:12]...), 0x81, 0, 0, 5), udp[12:]...)
	bcastSrc := append([]byte{}, udp...)
	copy(bcastSrc[6:12], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	jumbo := make([]byte, 9000)
	copy(jumbo, udp)
	return [][]byte{
		arp(1, asker, [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 9}),
		arp(1, asker, [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 7}),
		arp(1, asker, [4]byte{10, 0, 0, 9}, [4]byte{10, 0, 0, 9}),
		arp(1, asker, [4]byte{0, 0, 0, 0}, [4]byte{10, 0, 0, 9}),
		arp(2, asker, [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 1}),
		udp, ns, tagged, udp[:13], bcastSrc, jumbo,
	}
}
