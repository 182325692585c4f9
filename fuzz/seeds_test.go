package fuzz

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vxswitch/vxswitch/fdb"
)

// kernelDatagram is one datagram the Linux kernel's vxlan driver emitted.
type kernelDatagram struct {
	name    string // file/name
	payload []byte // VXLAN header and inner frame
}

// kernelDatagrams returns the UDP payloads of every capture in ../testdata
// (kernel-vxlan-*.txt: name, outer source port, payload in hex per line),
// in file and line order.
func kernelDatagrams(tb testing.TB) []kernelDatagram {
	tb.Helper()
	files, err := filepath.Glob("../testdata/kernel-vxlan-*.txt")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no kernel captures in ../testdata: %v", err)
	}
	var out []kernelDatagram
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			tb.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			fields := strings.Fields(line)
			if len(fields) != 3 {
				tb.Fatalf("%s: bad line %q", file, line)
			}
			b, err := hex.DecodeString(fields[2])
			if err != nil {
				tb.Fatalf("%s: %v", file, err)
			}
			out = append(out, kernelDatagram{strings.TrimSuffix(filepath.Base(file), ".txt") + "/" + fields[0], b})
		}
		f.Close()
		if err := sc.Err(); err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

// Event encoders for FuzzUnderlayDatagram's input.

func rawEv(src byte, b []byte) []byte {
	return append([]byte{0, src, byte(len(b) >> 8), byte(len(b))}, b...)
}

// tmplEv is a datagram with a clean header for network vni (an index into
// networks), carrying an Ethernet header from macs and etype, then body.
// flags may add 0x80 (reserved bits) and 0x40|size<<4 (padding).
func tmplEv(flags, src, vni, macs, etype byte, body []byte) []byte {
	return append([]byte{1 | flags, src, vni, macs, etype, byte(len(body))}, body...)
}

func portEv(flags, port, macs, etype byte, body []byte) []byte {
	return append([]byte{2 | flags, port, macs, etype, byte(len(body))}, body...)
}

func clockEv(steps byte, sweep bool) []byte {
	if sweep {
		return []byte{3 | 0x80, steps}
	}
	return []byte{3, steps}
}

func cat(evs ...[]byte) []byte {
	var b []byte
	for _, e := range evs {
		b = append(b, e...)
	}
	return b
}

// macs packs a destination and a source macSel nibble.
func macs(dst, src byte) byte { return dst<<4 | src }

// arpBody is an Ethernet/IPv4 ARP body (RFC 826).
func arpBody(op uint16, sha fdb.MAC, spa, tpa string) []byte {
	a := make([]byte, 28)
	binary.BigEndian.PutUint16(a[0:], 1)
	binary.BigEndian.PutUint16(a[2:], 0x0800)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], op)
	copy(a[8:14], sha[:])
	s, t := netip.MustParseAddr(spa).As4(), netip.MustParseAddr(tpa).As4()
	copy(a[14:18], s[:])
	copy(a[24:28], t[:])
	return a
}

// ndBody is an IPv6 packet carrying a neighbor solicitation (typ 135) or
// advertisement (136) about target with a link-layer address option, its
// ICMPv6 checksum computed by gopacket.
func ndBody(typ uint8, src, dst, target string, ll fdb.MAC) []byte {
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: 255,
		SrcIP: netip.MustParseAddr(src).AsSlice(), DstIP: netip.MustParseAddr(dst).AsSlice()}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
	icmp.SetNetworkLayerForChecksum(ip)
	tgt := netip.MustParseAddr(target).AsSlice()
	var body gopacket.SerializableLayer
	if typ == layers.ICMPv6TypeNeighborSolicitation {
		body = &layers.ICMPv6NeighborSolicitation{TargetAddress: tgt,
			Options: []layers.ICMPv6Option{{Type: layers.ICMPv6OptSourceAddress, Data: ll[:]}}}
	} else {
		body = &layers.ICMPv6NeighborAdvertisement{TargetAddress: tgt, Flags: 0x20,
			Options: []layers.ICMPv6Option{{Type: layers.ICMPv6OptTargetAddress, Data: ll[:]}}}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, icmp, body); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// Indexes into portNames and networks, and senders (see srcAddr).
const (
	pB1, pB2, pR1, pR2, pG1, pV1  = 0, 1, 2, 3, 4, 5
	nBlue, nRed, nGreen, nViolet  = 0, 1, 2, 3
	sSelf, sPeer2, sPeer3, sPeer4 = 1, 2, 3, 4
	sStranger                     = 0x42
)

// underlaySeeds are event sequences for FuzzUnderlayDatagram: the kernel's
// datagrams from a flood-list peer, learning then forwarding both ways,
// strangers into allow_unknown_peers networks, tables filling and ageing,
// proxy traffic, malformed and oversize datagrams, and every odd sender.
func underlaySeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	for _, k := range kernelDatagrams(tb) {
		d := k.payload
		seeds = append(seeds, rawEv(sPeer2, d), cat(rawEv(sPeer2, d), rawEv(sPeer3, d), rawEv(sStranger, d)))
	}
	ipv4 := make([]byte, 28)
	ipv4[0], ipv4[9] = 0x45, 17
	seeds = append(seeds,
		// Learned on a port, then addressed from the underlay; learned
		// from the underlay, then addressed from a port; split horizon.
		cat(portEv(0, pB1, macs(12, 1), 0, ipv4), tmplEv(0, sPeer2, nBlue, macs(1, 5), 0, ipv4),
			tmplEv(0, sPeer3, nBlue, macs(5, 6), 0, ipv4), portEv(0, pB2, macs(5, 2), 0, ipv4),
			portEv(0, pB1, macs(15, 1), 0, ipv4), tmplEv(0, sPeer2, nBlue, macs(15, 7), 0, ipv4)),
		// A stranger into red becomes a peer; a port answers it.
		cat(tmplEv(0, sStranger, nRed, macs(12, 3), 0, ipv4), portEv(0, pR1, macs(3, 4), 0, ipv4),
			tmplEv(0, sStranger+1, nRed, macs(4, 3), 0, ipv4), portEv(0, pR2, macs(3, 1), 0, ipv4)),
		// The same stranger into blue and violet: unknown there.
		cat(tmplEv(0, sStranger, nBlue, macs(12, 3), 0, ipv4), tmplEv(0, sStranger, nViolet, macs(12, 3), 0, ipv4),
			tmplEv(0, sStranger, nGreen, macs(12, 3), 0, ipv4), tmplEv(0, sStranger, 9, macs(12, 3), 0, ipv4)),
		// Reserved bits set (ignored), jumbo into violet's 9000-byte port.
		cat(tmplEv(0x80, sPeer3, nViolet, macs(12, 1), 0, ipv4), tmplEv(0x40|0x30, sPeer3, nViolet, macs(1, 2), 0, ipv4),
			tmplEv(0x40|0x10, sPeer2, nBlue, macs(12, 8), 0, ipv4), portEv(0x40|0x30, pV1, macs(2, 1), 0, ipv4)),
		// Malformed: runt, no I flag, unknown VNI, runt inner frame.
		cat(rawEv(sPeer2, []byte{8, 0, 0}), rawEv(sPeer2, []byte{0, 0, 0, 0, 0, 0x10, 0x01, 0, 1, 2}),
			rawEv(sPeer2, []byte{8, 0, 0, 0, 0, 0, 0x63, 0}), rawEv(sPeer2, []byte{8, 0, 0, 0, 0, 0x10, 0x01, 0, 1, 2, 3})),
		// Proxy: ARP for the static neighbor, an NS for its IPv6 address,
		// spoofed replies about it from the underlay and a port.
		cat(portEv(0, pB1, macs(12, 1), 1, arpBody(1, macSel(1), "10.0.0.1", "10.0.0.9")),
			portEv(0, pB1, macs(13, 1), 2, ndBody(135, "fd00::1", "ff02::1:ff00:9", "fd00::9", macSel(1))),
			tmplEv(0, sPeer2, nBlue, macs(12, 7), 1, arpBody(2, macSel(7), "10.0.0.9", "10.0.0.9")),
			tmplEv(0, sPeer2, nBlue, macs(13, 7), 2, ndBody(136, "fd00::9", "ff02::1", "fd00::9", macSel(7))),
			portEv(0, pB2, macs(12, 2), 1, arpBody(2, macSel(2), "10.0.0.9", "10.0.0.1"))),
	)
	// Filling red's table from strangers, ageing it out, filling it again.
	var fill []byte
	for i := range byte(11) {
		fill = append(fill, tmplEv(0, sStranger+i, nRed, macs(12, i), 0, ipv4)...)
	}
	seeds = append(seeds, cat(fill, clockEv(40, false), portEv(0, pR1, macs(3, 1), 0, ipv4), clockEv(1, true), fill))
	// Every odd sender, into red (unknown peers allowed) and blue.
	var odd []byte
	for s := 0xf0; s <= 0xff; s++ {
		odd = append(odd, tmplEv(0, byte(s), nRed, macs(12, byte(s&7)), 0, ipv4)...)
		odd = append(odd, tmplEv(0, byte(s), nBlue, macs(12, byte(s&7)), 0, ipv4)...)
	}
	seeds = append(seeds, odd, cat(tmplEv(0, 0xf2, nRed, macs(12, 3), 0, ipv4), portEv(0, pR1, macs(3, 1), 0, ipv4)))
	return seeds
}
