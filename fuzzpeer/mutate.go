package fuzzpeer

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"

	"github.com/vxswitch/vxswitch/vtep"
)

// Class is a family of mutations, reported on its own.
type Class uint8

// Mutation classes, in the order a run cycles through them.
const (
	// ClassFlags: the VXLAN flags byte — I flag cleared, reserved flag
	// bits, VXLAN-GBP's G bit, VXLAN-GPE's P and O bits.
	ClassFlags Class = iota
	// ClassReserved: the reserved fields (bytes 1–3 and 7) with the I
	// flag kept; RFC 7348 says receivers ignore them.
	ClassReserved
	// ClassVNI: a VNI other than the one the peer serves.
	ClassVNI
	// ClassTruncate: the datagram cut short, in the VXLAN header, in the
	// inner Ethernet header, or in the inner packet.
	ClassTruncate
	// ClassLength: inner length fields that disagree with the bytes (IPv4
	// total length, IPv6 payload length), trailing bytes, oversize frames.
	ClassLength
	// ClassEthernet: inner MACs (group and zero sources), ethertypes,
	// 802.1Q/802.1ad tags, 802.3 length fields.
	ClassEthernet
	// ClassARP: ARP hardware/protocol types and sizes, opcodes, addresses.
	ClassARP
	// ClassIPv4: IPv4 version, IHL and options, fragments, TTL, protocol,
	// addresses, checksums, ICMP type and code.
	ClassIPv4
	// ClassIPv6: IPv6 version, lengths, hop limit, extension headers,
	// addresses, ICMPv6 types and ND options (zero-length, overlong).
	ClassIPv6
	numClasses
)

var classNames = [numClasses]string{"flags", "reserved", "vni", "truncate", "length", "ethernet", "arp", "ipv4", "ipv6"}

func (c Class) String() string {
	if c < numClasses {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// Classes returns every class in run order.
func Classes() []Class {
	cs := make([]Class, numClasses)
	for i := range cs {
		cs[i] = Class(i)
	}
	return cs
}

// ParseClasses parses a comma-separated list of class names; "all" or ""
// is every class.
func ParseClasses(s string) ([]Class, error) {
	if s == "" || s == "all" {
		return Classes(), nil
	}
	var out []Class
	for _, name := range strings.Split(s, ",") {
		found := false
		for i, n := range classNames {
			if n == strings.TrimSpace(name) {
				out, found = append(out, Class(i)), true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown mutation class %q (known: %s)", name, strings.Join(classNames[:], ", "))
		}
	}
	return out, nil
}

// Templates are what valid frames are built from: the VNI the peer serves,
// the fuzzer's identity for mutated frames, and the responder they address.
type Templates struct {
	VNI       uint32
	Fuzz      Identity
	Responder Identity
	// Avoid lists MACs a mutated source must never take (the prober's and
	// the responder's), so that fuzzing cannot move them in the peer's
	// tables and make probes fail for a reason that is not a fault.
	Avoid [][6]byte
	// AvoidIPs likewise lists IPv4 addresses no mutated ARP may claim.
	AvoidIPs []netip.Addr
}

// Datagram is one mutated VXLAN datagram (UDP payload).
type Datagram struct {
	Index uint32
	Class Class
	// What says which mutation made it, for the log.
	What  string
	Bytes []byte
}

// Generator makes mutated datagrams. Its output is a pure function of the
// seed, the templates and the sequence of classes asked for: the same seed
// gives the same bytes.
type Generator struct {
	rng *rand.Rand
	t   Templates
	n   uint32
}

// NewGenerator returns a generator seeded with seed (a PCG from
// math/rand/v2).
func NewGenerator(seed uint64, t Templates) *Generator {
	return &Generator{rng: rand.New(rand.NewPCG(seed, 0x7678737769746368)), t: t} // "vxswitch"
}

// Next returns the next datagram, mutated in class c.
func (g *Generator) Next(c Class) Datagram {
	d := Datagram{Index: g.n, Class: c}
	g.n++
	var frame []byte
	var what []string
	note := func(format string, args ...any) { what = append(what, fmt.Sprintf(format, args...)) }
	hdr := make([]byte, vtep.HeaderLen)
	vtep.PutHeader(hdr, g.t.VNI)
	switch c {
	case ClassFlags:
		frame = g.anyTemplate(d.Index, note)
		g.mutateFlags(hdr, note)
	case ClassReserved:
		frame = g.anyTemplate(d.Index, note)
		g.mutateReserved(hdr, note)
	case ClassVNI:
		frame = g.anyTemplate(d.Index, note)
		g.mutateVNI(hdr, note)
	case ClassTruncate:
		frame = g.anyTemplate(d.Index, note)
		whole := append(hdr, frame...)
		d.Bytes = g.truncate(whole, note)
		d.What = strings.Join(what, "; ")
		return d
	case ClassLength:
		frame = g.mutateLength(d.Index, note)
	case ClassEthernet:
		frame = g.mutateEthernet(g.anyTemplate(d.Index, note), note)
	case ClassARP:
		frame = g.mutateARP(note)
	case ClassIPv4:
		frame = g.mutateIPv4(d.Index, note)
	case ClassIPv6:
		frame = g.mutateIPv6(d.Index, note)
	default:
		panic("fuzzpeer: unknown class " + c.String())
	}
	d.Bytes = append(hdr, frame...)
	d.What = strings.Join(what, "; ")
	return d
}

// pick returns one of n choices.
func (g *Generator) pick(n int) int { return g.rng.IntN(n) }

func (g *Generator) chance(p float64) bool { return g.rng.Float64() < p }

func (g *Generator) randBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.rng.Uint32())
	}
	return b
}

// Valid frames the peer should forward to the responder, which answers
// each: an ARP request for its address, an ICMP echo request to it, an
// ICMPv6 echo request to all nodes, an NS for its link-local address.
const (
	tplARP = iota
	tplEcho4
	tplEcho6
	tplNS
	numTemplates
)

func (g *Generator) template(kind int, index uint32) []byte {
	t := g.t
	switch kind {
	case tplARP:
		return arpFrame(broadcastMAC, arpRequest, t.Fuzz, [6]byte{}, t.Responder.IP)
	case tplEcho4:
		return echo4Frame(t.Responder.MAC, t.Fuzz, t.Responder.IP, fuzzEchoID, uint16(index), tag(index))
	case tplEcho6:
		return echo6Frame(allNodesMAC, t.Fuzz, allNodes, fuzzEchoID, uint16(index), tag(index))
	default:
		return nsFrame(t.Fuzz, t.Responder.LinkLocal())
	}
}

// fuzzEchoID marks echo requests from mutated frames; probes use another.
const fuzzEchoID = 0x7a7a

var templateNames = [numTemplates]string{"arp request", "icmp echo", "icmpv6 echo", "neighbor solicitation"}

func (g *Generator) anyTemplate(index uint32, note func(string, ...any)) []byte {
	k := g.pick(numTemplates)
	note("%s", templateNames[k])
	return g.template(k, index)
}

func (g *Generator) mutateFlags(h []byte, note func(string, ...any)) {
	switch g.pick(6) {
	case 0:
		h[0] = 0
		note("flags 0x00: I clear")
	case 1:
		h[0] = byte(g.rng.Uint32()) &^ vtep.FlagI
		note("flags %#02x: I clear, others random", h[0])
	case 2:
		h[0] = byte(g.rng.Uint32()) | vtep.FlagI
		note("flags %#02x: I and random reserved flags", h[0])
	case 3:
		h[0] |= 0x80
		h[1] = 0x48
		binary.BigEndian.PutUint16(h[2:4], uint16(g.rng.Uint32()))
		note("VXLAN-GBP: G, D, A, policy %#04x", binary.BigEndian.Uint16(h[2:4]))
	case 4:
		h[0] |= 0x04 | 0x01
		h[3] = byte(1 + g.pick(4))
		note("VXLAN-GPE: P and O bits, next protocol %d", h[3])
	default:
		h[0] = 0xff
		note("flags 0xff")
	}
}

func (g *Generator) mutateReserved(h []byte, note func(string, ...any)) {
	fields := []int{1, 2, 3, 7}
	n := 1 + g.pick(len(fields))
	for _, i := range g.rng.Perm(len(fields))[:n] {
		h[fields[i]] = byte(1 + g.pick(255))
	}
	note("reserved bytes % x / %02x", h[1:4], h[7])
}

func (g *Generator) mutateVNI(h []byte, note func(string, ...any)) {
	v := g.t.VNI
	choices := []uint32{0, vtep.MaxVNI, v ^ 1, (v + 1) & vtep.MaxVNI, (v - 1) & vtep.MaxVNI, g.rng.Uint32() & vtep.MaxVNI, v ^ 0x800000}
	nv := choices[g.pick(len(choices))]
	if nv == v {
		nv = v ^ 0x10
	}
	vtep.PutHeader(h, nv)
	if g.chance(0.2) {
		h[3], h[7] = byte(v>>16), byte(v) // the right VNI shifted into the reserved bytes
		note("VNI %d, reserved bytes holding VNI %d's bytes", nv, v)
		return
	}
	note("VNI %d", nv)
}

func (g *Generator) truncate(b []byte, note func(string, ...any)) []byte {
	var n int
	switch g.pick(3) {
	case 0:
		n = g.pick(vtep.HeaderLen)
	case 1:
		n = vtep.HeaderLen + g.pick(ethLen)
	default:
		n = vtep.HeaderLen + ethLen + g.pick(len(b)-vtep.HeaderLen-ethLen)
	}
	note("cut to %d of %d bytes", n, len(b))
	return b[:n]
}

func (g *Generator) mutateLength(index uint32, note func(string, ...any)) []byte {
	switch g.pick(5) {
	case 0: // IPv4 total length
		f := g.template(tplEcho4, index)
		ip := f[ethLen:]
		tl := []uint16{0, 19, 20, 28, uint16(len(ip) + 1), 1500, 0xffff, uint16(g.rng.Uint32())}[g.pick(8)]
		binary.BigEndian.PutUint16(ip[2:4], tl)
		fixIPv4(ip)
		note("icmp echo, IPv4 total length %d for %d bytes", tl, len(ip))
		return f
	case 1: // IPv6 payload length
		f := g.template([]int{tplEcho6, tplNS}[g.pick(2)], index)
		ip := f[ethLen:]
		pl := []uint16{0, 7, 8, uint16(len(ip) - ipv6Len + 1), 0xffff, uint16(g.rng.Uint32())}[g.pick(6)]
		binary.BigEndian.PutUint16(ip[4:6], pl)
		note("IPv6 payload length %d for %d bytes", pl, len(ip)-ipv6Len)
		return f
	case 2: // trailing bytes after the packet
		f := g.anyTemplate(index, note)
		n := 1 + g.pick(200)
		note("%d trailing bytes", n)
		return append(f, g.randBytes(n)...)
	case 3: // oversize frame, packet lengths consistent
		f := g.template(tplEcho4, index)
		size := []int{1515, 1519, 1523, 2000, 4096, 9001, 9100}[g.pick(7)]
		pad := g.randBytes(size - len(f))
		f = append(f, pad...)
		ip := f[ethLen:]
		binary.BigEndian.PutUint16(ip[2:4], uint16(len(ip)))
		fixIPv4(ip)
		note("icmp echo in a %d-byte frame", size)
		return f
	default: // ARP body short or long
		f := g.template(tplARP, 0)
		n := ethLen + g.pick(arpBodyLen)
		if g.chance(0.5) {
			note("arp request cut to %d bytes", n)
			return f[:n]
		}
		note("arp request with %d extra bytes", 100)
		return append(f, g.randBytes(100)...)
	}
}

// sourceMAC returns a random source MAC that is none of the avoided ones.
func (g *Generator) sourceMAC() [6]byte {
	for {
		var m [6]byte
		copy(m[:], g.randBytes(6))
		m[0] = m[0]&^1 | 2
		ok := true
		for _, a := range g.t.Avoid {
			ok = ok && a != m
		}
		if ok {
			return m
		}
	}
}

func (g *Generator) mutateEthernet(f []byte, note func(string, ...any)) []byte {
	n := 1 + g.pick(2)
	for range n {
		switch g.pick(7) {
		case 0:
			dst := [][6]byte{broadcastMAC, {0x01, 0x00, 0x5e, 0, 0, 1}, {0x33, 0x33, 0, 0, 0, 2}, {}, g.sourceMAC(), {0x01, 0x80, 0xc2, 0, 0, 0}}[g.pick(6)]
			copy(f[0:6], dst[:])
			note("dst %x", dst)
		case 1:
			src := [][6]byte{broadcastMAC, {0x01, 0x00, 0x5e, 0, 0, 1}, {}, g.sourceMAC()}[g.pick(4)]
			copy(f[6:12], src[:])
			note("src %x", src)
		case 2:
			t := []uint16{0, 0x0600, 0x05dc, 0x88b5, 0xffff, uint16(g.rng.Uint32())}[g.pick(6)]
			binary.BigEndian.PutUint16(f[12:14], t)
			note("ethertype %#04x", t)
		case 3:
			vid := []uint16{0, 1, 100, 4095, uint16(g.rng.Uint32()) & 0xfff}[g.pick(5)]
			tci := []byte{0x81, 0x00, byte(g.pick(8))<<5 | byte(vid>>8), byte(vid)}
			f = append(append(append([]byte{}, f[:12]...), tci...), f[12:]...)
			note("802.1Q VID %d", vid)
		case 4:
			outer := []byte{0x88, 0xa8, 0, byte(1 + g.pick(200)), 0x81, 0x00, 0, byte(1 + g.pick(200))}
			f = append(append(append([]byte{}, f[:12]...), outer...), f[12:]...)
			note("802.1ad + 802.1Q")
		case 5:
			f = append(append(append([]byte{}, f[:12]...), 0x81, 0x00), f[12:14]...) // a tag with no room for the rest
			note("802.1Q tag cut short")
		default:
			f = f[:min(len(f), ethLen+g.pick(4))]
			note("frame cut to %d bytes", len(f))
		}
	}
	return f
}

func (g *Generator) mutateARP(note func(string, ...any)) []byte {
	f := g.template(tplARP, 0)
	a := f[ethLen:]
	n := 1 + g.pick(3)
	for range n {
		switch g.pick(9) {
		case 0:
			v := []uint16{0, 6, 0xffff}[g.pick(3)]
			binary.BigEndian.PutUint16(a[0:2], v)
			note("htype %d", v)
		case 1:
			v := []uint16{0, etherIPv6, 0x0801, uint16(g.rng.Uint32())}[g.pick(4)]
			binary.BigEndian.PutUint16(a[2:4], v)
			note("ptype %#04x", v)
		case 2:
			a[4] = []byte{0, 1, 5, 7, 16, 255}[g.pick(6)]
			note("hlen %d", a[4])
		case 3:
			a[5] = []byte{0, 1, 3, 5, 16, 255}[g.pick(6)]
			note("plen %d", a[5])
		case 4:
			op := []uint16{0, arpReply, 3, 4, 8, 9, 0xffff}[g.pick(7)]
			binary.BigEndian.PutUint16(a[6:8], op)
			note("op %d", op)
		case 5:
			ip := g.claimableIP()
			b := ip.As4()
			copy(a[14:18], b[:])
			note("sender IP %v", ip)
		case 6:
			ip := []netip.Addr{netip.IPv4Unspecified(), limitedBcastV4, netip.MustParseAddr("224.0.0.1"), g.randomIPv4()}[g.pick(4)]
			b := ip.As4()
			copy(a[24:28], b[:])
			note("target IP %v", ip)
		case 7:
			m := [][6]byte{{}, broadcastMAC, {0x01, 0x00, 0x5e, 0, 0, 1}}[g.pick(3)]
			copy(a[8:14], m[:])
			note("sender MAC %x", m)
		default:
			copy(a[18:24], g.randBytes(6))
			note("target MAC random")
		}
	}
	return f
}

// claimableIP is an address a mutated ARP may claim: never the responder's
// or the prober's.
func (g *Generator) claimableIP() netip.Addr {
	for {
		ip := []netip.Addr{netip.IPv4Unspecified(), limitedBcastV4, netip.MustParseAddr("224.0.0.1"),
			netip.MustParseAddr("127.0.0.1"), g.randomIPv4()}[g.pick(5)]
		ok := ip != g.t.Responder.IP
		for _, a := range g.t.AvoidIPs {
			ok = ok && ip != a
		}
		if ok {
			return ip
		}
	}
}

func (g *Generator) randomIPv4() netip.Addr {
	return netip.AddrFrom4([4]byte(g.randBytes(4)))
}

func (g *Generator) mutateIPv4(index uint32, note func(string, ...any)) []byte {
	f := g.template(tplEcho4, index)
	ip := f[ethLen : ethLen+ipv4Len+icmpEchoLen+tagLen]
	fix := true
	n := 1 + g.pick(3)
	for range n {
		switch g.pick(12) {
		case 0:
			ip[0] = byte(g.pick(16))<<4 | ip[0]&0x0f
			note("version %d", ip[0]>>4)
		case 1:
			ip[0] = ip[0]&0xf0 | byte(g.pick(5))
			note("IHL %d", ip[0]&0x0f)
		case 2: // options
			opts := [][]byte{
				{0x01, 0x01, 0x01, 0x00},             // NOP, NOP, NOP, EOL
				{0x07, 0x00, 0x04, 0x00},             // record route, length 0
				{0x44, 0x01, 0x05, 0x00},             // timestamp, length 1
				{0x83, 0xff, 0x04, 0x00},             // loose source route, overlong
				{0x07, 0x27, 0x04, 0x00},             // record route claiming 39 bytes
				{0x94, 0x04, 0x00, 0x00},             // router alert
				g.randBytes(4 * (1 + g.pick(10)))[:], // random
			}[g.pick(7)]
			out := append(append(append([]byte{}, f[:ethLen+ipv4Len]...), opts...), f[ethLen+ipv4Len:]...)
			f = out
			ip = f[ethLen:]
			ip[0] = 0x40 | byte((ipv4Len+len(opts))/4)&0x0f
			binary.BigEndian.PutUint16(ip[2:4], uint16(ipv4Len+len(opts)+icmpEchoLen+tagLen))
			note("options % x", opts[:min(len(opts), 8)])
		case 3:
			v := []uint16{0x2000, 0x2001, 0x0001, 0x1fff, 0x8000, 0x4000 | 0x2000, uint16(g.rng.Uint32())}[g.pick(7)]
			binary.BigEndian.PutUint16(ip[6:8], v)
			note("flags/fragment %#04x", v)
		case 4:
			ip[8] = []byte{0, 1, 255}[g.pick(3)]
			note("TTL %d", ip[8])
		case 5:
			ip[9] = []byte{0, 2, 4, 6, 17, 41, 47, 50, 132, 255, byte(g.rng.Uint32())}[g.pick(11)]
			note("protocol %d", ip[9])
		case 6:
			fix = false
			ip[10] ^= byte(1 + g.pick(255))
			note("header checksum wrong")
		case 7:
			a := []netip.Addr{netip.IPv4Unspecified(), limitedBcastV4, netip.MustParseAddr("127.0.0.1"),
				netip.MustParseAddr("224.0.0.5"), g.t.Responder.IP, g.randomIPv4()}[g.pick(6)]
			b := a.As4()
			copy(ip[12:16], b[:])
			note("src %v", a)
		case 8:
			rb := g.t.Responder.IP.As4()
			rb[3] = 255
			a := []netip.Addr{limitedBcastV4, netip.AddrFrom4(rb), netip.MustParseAddr("224.0.0.1"), g.randomIPv4()}[g.pick(4)]
			b := a.As4()
			copy(ip[16:20], b[:])
			note("dst %v", a)
		case 9:
			ihl := int(ip[0]&0x0f) * 4
			if ihl+2 <= len(ip) {
				ip[ihl], ip[ihl+1] = byte(g.pick(256)), byte(g.pick(16))
				note("ICMP type %d code %d", ip[ihl], ip[ihl+1])
			}
		case 10:
			ip[1] = byte(g.rng.Uint32())
			binary.BigEndian.PutUint16(ip[4:6], uint16(g.rng.Uint32()))
			note("TOS and ID random")
		default:
			fix = false
			ihl := int(ip[0]&0x0f) * 4
			if ihl+4 <= len(ip) {
				ip[ihl+2] ^= 0x5a
			}
			note("ICMP checksum wrong")
		}
	}
	if fix {
		fixIPv4(ip)
	}
	return padded(f)
}

func (g *Generator) mutateIPv6(index uint32, note func(string, ...any)) []byte {
	kind := []int{tplEcho6, tplNS}[g.pick(2)]
	note("%s", templateNames[kind])
	f := g.template(kind, index) // longer than the minimum: no padding
	icmpOff := ipv6Len           // of the ICMPv6 message within the packet
	fix := true
	n := 1 + g.pick(3)
	for range n {
		ip := f[ethLen:]
		switch g.pick(10) {
		case 0:
			ip[0] = byte(g.pick(16))<<4 | ip[0]&0x0f
			note("version %d", ip[0]>>4)
		case 1:
			copy(ip[0:4], g.randBytes(4))
			ip[0] = 0x60 | ip[0]&0x0f
			note("traffic class and flow label random")
		case 2:
			ip[7] = []byte{0, 1, 64, 254}[g.pick(4)]
			note("hop limit %d", ip[7])
		case 3:
			ext := g.extensionHeader(ip[6])
			f = append(append(append([]byte{}, f[:ethLen+ipv6Len]...), ext.bytes...), f[ethLen+ipv6Len:]...)
			ip = f[ethLen:]
			ip[6] = ext.proto
			binary.BigEndian.PutUint16(ip[4:6], uint16(len(ip)-ipv6Len))
			icmpOff += len(ext.bytes)
			note("%s", ext.name)
		case 4:
			a := []netip.Addr{netip.IPv6Unspecified(), netip.IPv6Loopback(), allNodes,
				netip.MustParseAddr("2001:db8::1"), g.t.Responder.LinkLocal()}[g.pick(5)]
			b := a.As16()
			copy(ip[8:24], b[:])
			note("src %v", a)
		case 5:
			a := []netip.Addr{netip.MustParseAddr("ff02::2"), netip.MustParseAddr("ff05::1"), g.t.Responder.LinkLocal(),
				netip.IPv6Loopback(), netip.MustParseAddr("2001:db8::1")}[g.pick(5)]
			b := a.As16()
			copy(ip[24:40], b[:])
			note("dst %v", a)
		case 6:
			if icmpOff+2 <= len(ip) {
				ip[icmpOff] = []byte{1, 2, 3, 4, 133, 134, 135, 136, 137, 143, byte(g.rng.Uint32())}[g.pick(11)]
				ip[icmpOff+1] = byte(g.pick(3))
				note("ICMPv6 type %d code %d", ip[icmpOff], ip[icmpOff+1])
			}
		case 7: // ND options
			opt := [][]byte{
				{ndOptSrcLL, 0, 1, 2, 3, 4, 5, 6}, // length 0: a parser that loops on it never ends
				{ndOptSrcLL, 8, 1, 2, 3, 4, 5, 6}, // claims 64 bytes
				{ndOptTgtLL, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
				{ndOptSrcLL, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, // 16-byte link-layer address
				append([]byte{byte(g.rng.Uint32()), byte(1 + g.pick(3))}, g.randBytes(6+8*g.pick(3))...),
			}[g.pick(5)]
			f = append(f, opt...)
			ip = f[ethLen:]
			binary.BigEndian.PutUint16(ip[4:6], uint16(len(ip)-ipv6Len))
			note("ND option % x", opt[:min(len(opt), 4)])
		case 8:
			fix = false
			if icmpOff+4 <= len(ip) {
				ip[icmpOff+2] ^= 0xa5
			}
			note("ICMPv6 checksum wrong")
		default:
			binary.BigEndian.PutUint16(ip[4:6], uint16(g.rng.Uint32()))
			note("payload length %d", binary.BigEndian.Uint16(ip[4:6]))
		}
	}
	if fix && len(f) >= ethLen+ipv6Len {
		ip := f[ethLen:]
		if icmpOff+4 <= len(ip) && ip[0]>>4 == 6 {
			fixICMPv6(ip, icmpOff)
		}
	}
	return padded(f)
}

type extHeader struct {
	name  string
	proto byte
	bytes []byte
}

// extensionHeader returns an IPv6 extension header to insert before a
// header of type next.
func (g *Generator) extensionHeader(next byte) extHeader {
	switch g.pick(6) {
	case 0:
		return extHeader{"hop-by-hop PadN", 0, []byte{next, 0, 1, 4, 0, 0, 0, 0}}
	case 1:
		return extHeader{"hop-by-hop unknown option (discard, send ICMP)", 0, []byte{next, 0, 0xc2, 4, 1, 2, 3, 4}}
	case 2:
		return extHeader{"routing type 0, segments left 1", 43, append([]byte{next, 2, 0, 1, 0, 0, 0, 0}, g.randBytes(16)...)}
	case 3:
		off := uint16(g.pick(8192)) << 3
		if g.chance(0.5) {
			off |= 1 // more fragments
		}
		return extHeader{fmt.Sprintf("fragment offset/M %#04x", off), 44, append([]byte{next, 0, byte(off >> 8), byte(off)}, g.randBytes(4)...)}
	case 4:
		return extHeader{"destination options, overlong", 60, []byte{next, 200, 1, 4, 0, 0, 0, 0}}
	default:
		return extHeader{"no next header (59) then junk", 59, g.randBytes(8)}
	}
}
