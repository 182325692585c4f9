package vswitch

import (
	"bytes"
	"encoding/binary"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vxswitch/vxswitch/fdb"
)

// ARP for IPv4 over Ethernet (RFC 826): the fixed 28-byte body after the
// Ethernet header.
const (
	arpLen       = 28
	arpOpRequest = 1
	arpOpReply   = 2
)

// arpPacket is a zero-copy view of an Ethernet/IPv4 ARP body.
type arpPacket []byte

// parseARP returns the ARP body of e if it is Ethernet/IPv4 ARP.
func parseARP(e ethernet) (arpPacket, bool) {
	b := e[ethHeaderLen:]
	if len(b) < arpLen {
		return nil, false
	}
	if binary.BigEndian.Uint16(b[0:2]) != 1 || binary.BigEndian.Uint16(b[2:4]) != 0x0800 || b[4] != 6 || b[5] != 4 {
		return nil, false
	}
	return arpPacket(b[:arpLen]), true
}

func (a arpPacket) op() uint16             { return binary.BigEndian.Uint16(a[6:8]) }
func (a arpPacket) senderMAC() (m fdb.MAC) { copy(m[:], a[8:14]); return }
func (a arpPacket) senderIP() netip.Addr   { return netip.AddrFrom4([4]byte(a[14:18])) }
func (a arpPacket) targetIP() netip.Addr   { return netip.AddrFrom4([4]byte(a[24:28])) }
func (a arpPacket) senderIPBytes() []byte  { return a[14:18] }
func (a arpPacket) targetIPBytes() []byte  { return a[24:28] }
func (a arpPacket) senderMACBytes() []byte { return a[8:14] }
func (a arpPacket) isProbe() bool          { return a.senderIP() == netip.IPv4Unspecified() }
func (a arpPacket) asksAboutItself() bool  { return bytes.Equal(a.senderIPBytes(), a.targetIPBytes()) }
func (a arpPacket) String() string         { return a.senderIP().String() + " > " + a.targetIP().String() }

// snoopARP teaches the neighbor table the sender of any ARP packet:
// requests, replies and gratuitous ARP alike. Static entries are never
// overridden (fdb enforces that); probes (sender 0.0.0.0) teach nothing.
func (w *Worker) snoopARP(d *domain, e ethernet, now int64) {
	a, ok := parseARP(e)
	if !ok || a.isProbe() {
		return
	}
	if w.dry {
		w.stepf("neighbor table: learn %s at %s (unless static)", a.senderIP(), a.senderMAC())
		return
	}
	d.neigh.Learn(a.senderIP(), a.senderMAC(), now)
}

// arpFromPort snoops an ARP packet from a local port and, when the proxy can
// answer it, answers it on the same port; done reports that the frame needs
// no forwarding.
func (w *Worker) arpFromPort(p *Port, e ethernet, now int64) (v Verdict, done bool) {
	d := p.dom
	if !d.proxy {
		return Verdict{}, false
	}
	w.snoopARP(d, e, now)
	a, ok := parseARP(e)
	// Never answer a probe (duplicate address detection must reach the
	// owner) or a question about the asker's own address.
	if !ok || a.op() != arpOpRequest || a.isProbe() || a.asksAboutItself() {
		return Verdict{}, false
	}
	mac, ok := d.neigh.Lookup(a.targetIP(), now)
	if !ok || mac == a.senderMAC() || mac == e.src() {
		if w.dry {
			w.stepf("ARP who-has %s tell %s: not answered from the neighbor table", a.targetIP(), a.senderIP())
		}
		return Verdict{}, false
	}
	reply, err := w.arp.build(e, a, mac)
	if err != nil {
		return Verdict{}, false
	}
	if w.dry {
		w.stepf("ARP proxy: who-has %s tell %s → reply %s is-at %s on the asking port", a.targetIP(), a.senderIP(), a.targetIP(), mac)
	}
	return w.answer(p, reply), true
}

// answer writes a proxy's reply to the asking port; the request itself
// goes nowhere else.
func (w *Worker) answer(p *Port, reply []byte) Verdict {
	if err := w.writePort(p, reply); err != nil {
		return w.drop(ReasonPortDown)
	}
	return Verdict{Action: ActionProxy, Port: p}
}

// arpReply builds ARP replies with gopacket into buffers a Worker owns, so
// proxying allocates nothing once warm.
type arpReply struct {
	eth    layers.Ethernet
	arp    layers.ARP
	layers []gopacket.SerializableLayer
	buf    gopacket.SerializeBuffer
	srcMAC [6]byte
	dstMAC [6]byte
	ethDst [6]byte
	srcIP  [4]byte
	dstIP  [4]byte
}

func (r *arpReply) init() {
	r.layers = []gopacket.SerializableLayer{&r.eth, &r.arp}
	r.buf = gopacket.NewSerializeBufferExpectedSize(ethHeaderLen, arpLen)
}

// build answers request a (in frame e) with "target IP is at mac".
func (r *arpReply) build(e ethernet, a arpPacket, mac fdb.MAC) ([]byte, error) {
	r.srcMAC = mac
	copy(r.dstMAC[:], a.senderMACBytes())
	copy(r.ethDst[:], e[6:12])
	copy(r.srcIP[:], a.targetIPBytes())
	copy(r.dstIP[:], a.senderIPBytes())
	r.eth = layers.Ethernet{SrcMAC: r.srcMAC[:], DstMAC: r.ethDst[:], EthernetType: layers.EthernetTypeARP}
	r.arp = layers.ARP{
		AddrType:          layers.LinkTypeEthernet,
		Protocol:          layers.EthernetTypeIPv4,
		HwAddressSize:     6,
		ProtAddressSize:   4,
		Operation:         layers.ARPReply,
		SourceHwAddress:   r.srcMAC[:],
		SourceProtAddress: r.srcIP[:],
		DstHwAddress:      r.dstMAC[:],
		DstProtAddress:    r.dstIP[:],
	}
	if err := r.buf.Clear(); err != nil {
		return nil, err
	}
	if err := gopacket.SerializeLayers(r.buf, gopacket.SerializeOptions{}, r.layers...); err != nil {
		return nil, err
	}
	return r.buf.Bytes(), nil
}
