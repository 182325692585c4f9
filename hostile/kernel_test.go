package hostile

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vxswitch/vxswitch/internal/nstest"
	"github.com/vxswitch/vxswitch/vtep"
)

var updateCaptures = flag.Bool("update", false, "rewrite ../testdata/kernel-vxlan-ipv4-more.txt and kernel-vxlan-ipv6.txt from the kernel's datagrams")

// kernelVNI is the VNI every capture uses, as in kernel-vxlan-ipv4.txt.
const kernelVNI = 4097

// capture is one datagram a kernel vxlan device sent.
type capture struct {
	srcPort uint16
	payload []byte
}

// recorder keeps every datagram arriving on a UDP socket.
type recorder struct {
	mu   sync.Mutex
	got  []capture
	done chan struct{}
}

func record(c *net.UDPConn) *recorder {
	r := &recorder{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			r.mu.Lock()
			r.got = append(r.got, capture{from.Port(), append([]byte(nil), buf[:n]...)})
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *recorder) all() []capture {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]capture(nil), r.got...)
}

// classify names the kind of inner frame a captured datagram carries.
func classify(payload []byte) string {
	if len(payload) < vtep.HeaderLen+14 {
		return ""
	}
	frame := payload[vtep.HeaderLen:]
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	prefix := ""
	if p.Layer(layers.LayerTypeDot1Q) != nil {
		prefix = "vlan-"
	}
	if len(frame) > 1514 {
		prefix += "jumbo-"
	}
	if a, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP); ok {
		switch {
		case a.Operation == layers.ARPRequest && bytes.Equal(a.SourceProtAddress, a.DstProtAddress):
			return prefix + "gratuitous-arp"
		case a.Operation == layers.ARPRequest:
			return prefix + "arp-request"
		case a.Operation == layers.ARPReply:
			return prefix + "arp-reply"
		}
	}
	if icmp, ok := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok {
		switch icmp.TypeCode.Type() {
		case layers.ICMPv6TypeNeighborSolicitation:
			if ip, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok && ip.SrcIP.IsUnspecified() {
				return prefix + "ipv6-dad-ns"
			}
			return prefix + "ipv6-ns"
		case layers.ICMPv6TypeNeighborAdvertisement:
			return prefix + "ipv6-na"
		case layers.ICMPv6TypeRouterSolicitation:
			return prefix + "ipv6-rs"
		case layers.ICMPv6TypeEchoRequest:
			return prefix + "ipv6-echo-request"
		}
	}
	if p.Layer(layers.LayerTypeIPv6HopByHop) != nil {
		return prefix + "ipv6-mld"
	}
	if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && tcp.SYN {
		if p.Layer(layers.LayerTypeIPv6) != nil {
			return prefix + "ipv6-tcp-syn"
		}
		return prefix + "ipv4-tcp-syn"
	}
	if p.Layer(layers.LayerTypeUDP) != nil {
		if p.Layer(layers.LayerTypeIPv6) != nil {
			return prefix + "ipv6-udp"
		}
		return prefix + "ipv4-udp"
	}
	return ""
}

// kernelHost is namespace a with a kernel vxlan device, which sends to the
// recorder in namespace b.
type kernelHost struct {
	t   *testing.T
	a   *nstest.NS
	dev string
}

// sendUDP sends payload from inside a to dst (an overlay address).
func (k *kernelHost) sendUDP(dst netip.AddrPort, payload []byte) {
	k.t.Helper()
	err := k.a.Do(func() error {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write(payload)
		return err
	})
	if err != nil {
		k.t.Fatalf("send udp to %v: %v", dst, err)
	}
}

// synTo starts a TCP connection from a to dst and gives up at once: the
// kernel sends a SYN.
func (k *kernelHost) synTo(dst netip.AddrPort) {
	k.a.Do(func() error {
		c, err := net.DialTimeout("tcp", dst.String(), 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return nil
	})
}

func (k *kernelHost) neigh(link string, ip netip.Addr, mac string) {
	k.t.Helper()
	nl := k.a.Handle(k.t)
	defer nl.Close()
	l, err := nl.LinkByName(link)
	if err != nil {
		k.t.Fatal(err)
	}
	hw, _ := net.ParseMAC(mac)
	fam := netlink.FAMILY_V4
	if ip.Is6() {
		fam = netlink.FAMILY_V6
	}
	if err := nl.NeighSet(&netlink.Neigh{LinkIndex: l.Attrs().Index, Family: fam, State: netlink.NUD_PERMANENT,
		IP: ip.AsSlice(), HardwareAddr: hw}); err != nil {
		k.t.Fatalf("neigh %v on %s: %v", ip, link, err)
	}
}

// TestIntegrationKernelCaptures makes the Linux kernel's vxlan driver emit
// every kind of frame the fuzz corpora start from (ARP request and reply,
// gratuitous ARP, IPv6 NS and NA, 802.1Q-tagged frames, IPv4/IPv6 UDP, TCP
// SYN, a jumbo frame; over an IPv4 and an IPv6 underlay), checks each
// against vxswitch's codec, and with -update writes them to ../testdata.
func TestIntegrationKernelCaptures(t *testing.T) {
	nstest.RequireRoot(t)
	pre := nstest.Prefix()
	wire := nstest.NewWire(t, pre+"-kw")
	a, b := nstest.New(t, pre+"-ka"), nstest.New(t, pre+"-kb")
	wire.Attach(t, a, "u0", netip.MustParsePrefix("192.0.2.1/24"))
	wire.Attach(t, b, "u0", netip.MustParsePrefix("192.0.2.2/24"))
	nstest.AddrUp(t, a, "u0", netip.MustParsePrefix("2001:db8::aa/64"))
	nstest.AddrUp(t, b, "u0", netip.MustParsePrefix("2001:db8::ba/64"))
	setMTU(t, wire.NS, 9000, "w0", "w1", "br0")
	setMTU(t, a, 9000, "u0")
	setMTU(t, b, 9000, "u0")

	rec4 := record(udpIn(t, b, netip.MustParseAddrPort("192.0.2.2:4789")))
	rec6 := record(udpIn(t, b, netip.MustParseAddrPort("[2001:db8::ba]:4789")))

	k := &kernelHost{t: t, a: a, dev: "vxlan0"}
	addVxlan(t, a, "vxlan0", "02:00:0a:00:01:02", "192.0.2.1", "192.0.2.2", 8950)
	a.Sysctl(t, "net.ipv4.conf.vxlan0.arp_notify", "1")
	nstest.AddrUp(t, a, "vxlan0", netip.MustParsePrefix("10.0.1.2/24"))
	nstest.AddrUp(t, a, "vxlan0", netip.MustParsePrefix("fd00:1::2/64"))
	nl := a.Handle(t)
	defer nl.Close()
	vx, err := nl.LinkByName("vxlan0")
	if err != nil {
		t.Fatal(err)
	}

	// Unresolved destinations: ARP requests and an NS.
	k.sendUDP(netip.MustParseAddrPort("10.0.1.3:9"), []byte("who"))
	k.sendUDP(netip.MustParseAddrPort("[fd00:1::3]:9"), []byte("who"))
	// Resolved ones: UDP, TCP SYN, tagged UDP, a jumbo frame.
	k.neigh("vxlan0", netip.MustParseAddr("10.0.1.4"), "02:00:0a:00:01:04")
	k.neigh("vxlan0", netip.MustParseAddr("fd00:1::4"), "02:00:0a:00:01:04")
	k.sendUDP(netip.MustParseAddrPort("10.0.1.4:5001"), []byte("hello vxswitch"))
	k.sendUDP(netip.MustParseAddrPort("[fd00:1::4]:5001"), []byte("hello vxswitch"))
	// 802.1Q: this kernel has no 8021q module (nor bridge VLAN
	// filtering), so tagged frames are written to vxlan0 through a packet
	// socket; the kernel's vxlan driver still encapsulates them.
	pkt := openPacket(t, a, "vxlan0", false)
	own := mustMAC("02:00:0a:00:01:02")
	for _, fr := range [][]byte{
		serialize(t, &layers.Ethernet{SrcMAC: own, DstMAC: mustMAC("ff:ff:ff:ff:ff:ff"), EthernetType: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeARP},
			&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
				Operation: layers.ARPRequest, SourceHwAddress: own, SourceProtAddress: []byte{10, 0, 100, 2},
				DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 0, 100, 3}}),
		serialize(t, &layers.Ethernet{SrcMAC: own, DstMAC: mustMAC("02:00:0a:00:64:04"), EthernetType: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{Priority: 5, VLANIdentifier: 100, Type: layers.EthernetTypeIPv4},
			&layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: []byte{10, 0, 100, 2}, DstIP: []byte{10, 0, 100, 4}},
			&layers.UDP{SrcPort: 40000, DstPort: 5001}, gopacket.Payload("hello vlan")),
	} {
		if err := pkt.send(fr); err != nil {
			t.Fatalf("packet socket on vxlan0: %v", err)
		}
	}
	k.sendUDP(netip.MustParseAddrPort("10.0.1.4:5001"), bytes.Repeat([]byte("j"), 8900))
	k.synTo(netip.MustParseAddrPort("10.0.1.4:80"))
	// Questions from the underlay side, which the kernel answers: an ARP
	// reply and a neighbor advertisement.
	inject := udpIn(t, b, netip.MustParseAddrPort("192.0.2.2:4790"))
	peerMAC, _ := net.ParseMAC("02:00:0a:00:01:03")
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	for _, fr := range [][]byte{
		arpFrame(t, bcast, layers.ARPRequest, peerMAC, netip.MustParseAddr("10.0.1.3"), nil, netip.MustParseAddr("10.0.1.2")),
		nsFrame(t, peerMAC, netip.MustParseAddr("fd00:1::3"), netip.MustParseAddr("fd00:1::2")),
	} {
		if _, err := inject.WriteToUDPAddrPort(encap(kernelVNI, fr), netip.MustParseAddrPort("192.0.2.1:4789")); err != nil {
			t.Fatal(err)
		}
	}
	// A new MAC with arp_notify on: gratuitous ARP.
	if err := nl.LinkSetHardwareAddr(vx, mustMAC("02:00:0a:00:01:12")); err != nil {
		t.Fatal(err)
	}

	// The IPv6 underlay: same VNI, its own device.
	addVxlan(t, a, "vxlan6", "02:00:0a:00:02:02", "2001:db8::aa", "2001:db8::ba", 1430)
	nstest.AddrUp(t, a, "vxlan6", netip.MustParsePrefix("10.0.2.2/24"))
	k.neigh("vxlan6", netip.MustParseAddr("10.0.2.4"), "02:00:0a:00:02:04")
	k.sendUDP(netip.MustParseAddrPort("10.0.2.3:9"), []byte("who"))
	k.sendUDP(netip.MustParseAddrPort("10.0.2.4:5001"), []byte("hello over ipv6"))

	want4 := []string{"arp-request", "arp-reply", "gratuitous-arp", "ipv6-ns", "ipv6-na", "vlan-arp-request",
		"ipv4-udp", "ipv6-udp", "vlan-ipv4-udp", "jumbo-ipv4-udp", "ipv4-tcp-syn"}
	want6 := []string{"arp-request", "ipv4-udp"}
	var got4, got6 map[string]capture
	nstest.Poll(10*time.Second, func() bool {
		got4, got6 = firstOfEach(t, rec4.all()), firstOfEach(t, rec6.all())
		return hasAll(got4, want4) && hasAll(got6, want6)
	})
	for _, c := range []struct {
		file string
		got  map[string]capture
		want []string
		how  string
	}{
		{"../testdata/kernel-vxlan-ipv4-more.txt", got4, want4, "192.0.2.1 to 192.0.2.2 (vxlan0, MTU 8950 on a 9000-byte underlay)"},
		{"../testdata/kernel-vxlan-ipv6.txt", got6, want6, "2001:db8::aa to 2001:db8::ba (vxlan6)"},
	} {
		for _, name := range c.want {
			if _, ok := c.got[name]; !ok {
				t.Errorf("%s: the kernel sent no %s (got %v)", c.file, name, keys(c.got))
			}
		}
		if *updateCaptures && !t.Failed() {
			writeCaptures(t, c.file, c.how, c.got)
		}
	}
}

// firstOfEach classifies datagrams, keeping the first of each kind, and
// checks every one against the codec as TestKernelDatagrams does.
func firstOfEach(t *testing.T, all []capture) map[string]capture {
	t.Helper()
	out := map[string]capture{}
	for _, c := range all {
		vni, err := vtep.Parse(c.payload, true)
		if err != nil || vni != kernelVNI {
			t.Fatalf("kernel datagram % x: strict Parse = %d, %v", c.payload[:min(len(c.payload), 16)], vni, err)
		}
		var ours [vtep.HeaderLen]byte
		vtep.PutHeader(ours[:], vni)
		if !bytes.Equal(ours[:], c.payload[:vtep.HeaderLen]) {
			t.Fatalf("kernel header % x, ours % x", c.payload[:vtep.HeaderLen], ours)
		}
		if name := classify(c.payload); name != "" {
			if _, dup := out[name]; !dup {
				out[name] = c
			}
		}
	}
	return out
}

func hasAll(m map[string]capture, names []string) bool {
	for _, n := range names {
		if _, ok := m[n]; !ok {
			return false
		}
	}
	return true
}

func keys(m map[string]capture) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func writeCaptures(t *testing.T, file, how string, got map[string]capture) {
	var b strings.Builder
	fmt.Fprintf(&b, "# VXLAN datagrams emitted by the Linux kernel vxlan driver (kernel %s), one per\n", kernelRelease())
	b.WriteString("# line: name, outer UDP source port, then the UDP payload (VXLAN header + inner\n")
	b.WriteString("# frame) in hex. Written by `go test ./hostile -run KernelCaptures -update`\n")
	fmt.Fprintf(&b, "# (as root): VNI %d from %s, recorded\n", kernelVNI, how)
	b.WriteString("# by a UDP socket on the remote address.\n")
	if _, ok := got["arp-reply"]; ok {
		b.WriteString("# The ARP reply and the neighbor advertisement answer questions injected from\n")
		b.WriteString("# that side; the gratuitous ARP follows a MAC change with arp_notify on. The\n")
		b.WriteString("# kernel has no 802.1Q support, so the vlan- frames were written to the vxlan\n")
		b.WriteString("# device through a packet socket; the kernel encapsulated them.\n")
	}
	b.WriteString("#\n# name srcport payload\n")
	for _, name := range keys(got) {
		fmt.Fprintf(&b, "%s %d %s\n", name, got[name].srcPort, hex.EncodeToString(got[name].payload))
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d datagrams to %s", len(got), file)
}

func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// addVxlan creates a kernel vxlan device in ns for kernelVNI on port 4789,
// unicast to remote, and brings it up.
func addVxlan(t *testing.T, ns *nstest.NS, name, mac, local, remote string, mtu int) {
	t.Helper()
	nl := ns.Handle(t)
	defer nl.Close()
	vx := &netlink.Vxlan{
		LinkAttrs: netlink.LinkAttrs{Name: name, HardwareAddr: mustMAC(mac), MTU: mtu},
		VxlanId:   kernelVNI, SrcAddr: net.ParseIP(local), Group: net.ParseIP(remote),
		Port: vtep.DefaultPort, Learning: true,
	}
	if err := nl.LinkAdd(vx); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) {
			t.Skipf("this kernel has no vxlan driver (add %s: %v)", name, err)
		}
		t.Fatalf("%s: add vxlan %s: %v", ns.Name, name, err)
	}
	if err := nl.LinkSetUp(vx); err != nil {
		t.Fatalf("%s: %s up: %v", ns.Name, name, err)
	}
}

func setMTU(t *testing.T, ns *nstest.NS, mtu int, links ...string) {
	t.Helper()
	nl := ns.Handle(t)
	defer nl.Close()
	for _, name := range links {
		l, err := nl.LinkByName(name)
		if err == nil {
			err = nl.LinkSetMTU(l, mtu)
		}
		if err != nil {
			t.Fatalf("%s: mtu %d on %s: %v", ns.Name, mtu, name, err)
		}
	}
}
