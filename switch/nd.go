package vswitch

import (
	"encoding/binary"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vxswitch/vxswitch/fdb"
)

// IPv6 neighbor discovery (RFC 4861) over Ethernet: the fixed offsets the
// data path reads, and the proxy that answers neighbor solicitations from
// the neighbor table, as the kernel's ND suppression does.
const (
	etherTypeIPv6   = 0x86dd
	ipv6HeaderLen   = 40
	protoICMPv6     = 58
	icmpv6NS        = 135
	icmpv6NA        = 136
	ndMsgLen        = 24 // ICMPv6 header (4) + reserved/flags (4) + target (16)
	ndOptSourceLL   = 1
	ndOptTargetLL   = 2
	ndHopLimit      = 255
	ndFlagSolicited = 0x40
	ndFlagOverride  = 0x20
)

// ndPacket is a view of an NS or NA: the IPv6 header and the ICMPv6 body.
type ndPacket struct {
	ip   []byte // IPv6 header
	icmp []byte // ICMPv6 message, options included
}

// parseND returns the NS or NA carried directly (no extension headers) in
// e, with hop limit 255 as RFC 4861 §7.1 requires.
func parseND(e ethernet) (ndPacket, bool) {
	if e.etherType() != etherTypeIPv6 {
		return ndPacket{}, false
	}
	b := e[ethHeaderLen:]
	if len(b) < ipv6HeaderLen+ndMsgLen || b[0]>>4 != 6 || b[6] != protoICMPv6 || b[7] != ndHopLimit {
		return ndPacket{}, false
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	if plen < ndMsgLen || ipv6HeaderLen+plen > len(b) {
		return ndPacket{}, false
	}
	icmp := b[ipv6HeaderLen : ipv6HeaderLen+plen]
	if (icmp[0] != icmpv6NS && icmp[0] != icmpv6NA) || icmp[1] != 0 {
		return ndPacket{}, false
	}
	return ndPacket{ip: b[:ipv6HeaderLen], icmp: icmp}, true
}

func (n ndPacket) typ() uint8          { return n.icmp[0] }
func (n ndPacket) srcIP() netip.Addr   { return netip.AddrFrom16([16]byte(n.ip[8:24])) }
func (n ndPacket) target() netip.Addr  { return netip.AddrFrom16([16]byte(n.icmp[8:24])) }
func (n ndPacket) srcIPBytes() []byte  { return n.ip[8:24] }
func (n ndPacket) targetBytes() []byte { return n.icmp[8:24] }
func (n ndPacket) isDAD() bool         { return n.srcIP().IsUnspecified() }
func (n ndPacket) String() string      { return n.srcIP().String() + " > " + n.target().String() }
func (n ndPacket) linkLayer(t uint8) (fdb.MAC, bool) {
	opts := n.icmp[ndMsgLen:]
	for len(opts) >= 8 {
		l := int(opts[1]) * 8
		if l == 0 || l > len(opts) {
			break
		}
		if opts[0] == t && l == 8 {
			return fdb.MAC(opts[2:8]), true
		}
		opts = opts[l:]
	}
	return fdb.MAC{}, false
}

// snoopND teaches the neighbor table from an NS (its source and source
// link-layer address) or an NA (its target and target link-layer address,
// else the Ethernet source). DAD messages teach nothing.
func (w *Worker) snoopND(d *domain, e ethernet, now int64) {
	n, ok := parseND(e)
	if !ok || n.isDAD() {
		return
	}
	ip, mac, ok := n.srcIP(), fdb.MAC{}, false
	if n.typ() == icmpv6NS {
		mac, ok = n.linkLayer(ndOptSourceLL)
	} else {
		ip = n.target()
		if mac, ok = n.linkLayer(ndOptTargetLL); !ok {
			mac, ok = e.src(), true
		}
	}
	if !ok {
		return
	}
	if w.dry {
		w.stepf("neighbor table: learn %s at %s (unless static)", ip, mac)
		return
	}
	d.neigh.Learn(ip, mac, now)
}

// ndFromPort snoops an NS/NA from a local port and answers an NS whose
// target is in the neighbor table on the same port; done reports that the
// frame needs no forwarding.
func (w *Worker) ndFromPort(p *Port, e ethernet, now int64) (v Verdict, done bool) {
	d := p.dom
	if !d.proxy {
		return Verdict{}, false
	}
	n, ok := parseND(e)
	if !ok {
		return Verdict{}, false
	}
	w.snoopND(d, e, now)
	// DAD must reach the owner; never answer about the asker's own address.
	if n.typ() != icmpv6NS || n.isDAD() || n.target() == n.srcIP() || n.target().IsMulticast() {
		return Verdict{}, false
	}
	mac, ok := d.neigh.Lookup(n.target(), now)
	if !ok || mac == e.src() {
		if w.dry {
			w.stepf("neighbor solicitation for %s from %s: not answered from the neighbor table", n.target(), n.srcIP())
		}
		return Verdict{}, false
	}
	reply, err := w.nd.build(e, n, mac)
	if err != nil {
		return Verdict{}, false
	}
	if w.dry {
		w.stepf("ND proxy: solicitation for %s from %s → advertisement %s is-at %s on the asking port", n.target(), n.srcIP(), n.target(), mac)
	}
	return w.answer(p, reply), true
}

// ndReply builds neighbor advertisements with gopacket into buffers a
// Worker owns.
type ndReply struct {
	eth    layers.Ethernet
	ip     layers.IPv6
	icmp   layers.ICMPv6
	na     layers.ICMPv6NeighborAdvertisement
	opts   [1]layers.ICMPv6Option
	layers []gopacket.SerializableLayer
	buf    gopacket.SerializeBuffer
	srcMAC [6]byte
	dstMAC [6]byte
	srcIP  [16]byte
	dstIP  [16]byte
}

func (r *ndReply) init() {
	r.layers = []gopacket.SerializableLayer{&r.eth, &r.ip, &r.icmp, &r.na}
	r.buf = gopacket.NewSerializeBuffer()
}

// build answers NS n (in frame e): "target is at mac", solicited and
// override set, with the target link-layer address option, as the kernel's
// ND suppression answers.
func (r *ndReply) build(e ethernet, n ndPacket, mac fdb.MAC) ([]byte, error) {
	r.srcMAC = mac
	copy(r.dstMAC[:], e[6:12])
	copy(r.srcIP[:], n.targetBytes())
	copy(r.dstIP[:], n.srcIPBytes())
	r.eth = layers.Ethernet{SrcMAC: r.srcMAC[:], DstMAC: r.dstMAC[:], EthernetType: layers.EthernetTypeIPv6}
	r.ip = layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: ndHopLimit, SrcIP: r.srcIP[:], DstIP: r.dstIP[:]}
	r.icmp = layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborAdvertisement, 0)}
	if err := r.icmp.SetNetworkLayerForChecksum(&r.ip); err != nil {
		return nil, err
	}
	r.opts[0] = layers.ICMPv6Option{Type: layers.ICMPv6OptTargetAddress, Data: r.srcMAC[:]}
	r.na = layers.ICMPv6NeighborAdvertisement{Flags: ndFlagSolicited | ndFlagOverride, TargetAddress: r.srcIP[:], Options: r.opts[:]}
	if err := r.buf.Clear(); err != nil {
		return nil, err
	}
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(r.buf, opts, r.layers...); err != nil {
		return nil, err
	}
	return r.buf.Bytes(), nil
}
