package fuzzpeer_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vxswitch/vxswitch/fuzzpeer"
	"github.com/vxswitch/vxswitch/internal/nstest"
	"github.com/vxswitch/vxswitch/internal/vxtest"
)

const (
	itVNI      = 4242
	fuzzerAddr = "192.0.2.20"
)

var (
	responderIP  = netip.MustParseAddr("10.9.0.3")
	responderMAC = net.HardwareAddr{0x02, 0x00, 10, 9, 0, 3}
	prober       = fuzzpeer.Identity{MAC: [6]byte{0x02, 0x66, 0x7a, 0, 0, 1}, IP: netip.MustParseAddr("10.9.0.250")}
)

// fuzzLab is a wire with the fuzzer's host on it, and a responder
// namespace whose kernel answers ARP, ICMP echo and ICMPv6.
type fuzzLab struct {
	pre    string
	wire   *nstest.Wire
	fuzzer *nstest.NS
	resp   *nstest.NS
}

func newFuzzLab(t *testing.T) *fuzzLab {
	nstest.RequireRoot(t)
	l := &fuzzLab{pre: nstest.Prefix()}
	l.wire = nstest.NewWire(t, l.pre+"-w")
	l.wire.NS.QuietIPv6(t)
	l.fuzzer = nstest.New(t, l.pre+"-f")
	l.fuzzer.QuietIPv6(t)
	l.wire.Attach(t, l.fuzzer, "u0", netip.MustParsePrefix(fuzzerAddr+"/24"))
	l.resp = nstest.New(t, l.pre+"-r")
	// IPv6 stays on in the responder, without DAD, so that its link-local
	// address answers the ipv6 class at once.
	l.resp.Sysctl(t, "net.ipv6.conf.default.accept_dad", "0")
	l.resp.Sysctl(t, "net.ipv6.conf.all.accept_dad", "0")
	return l
}

// run fuzzes target from the fuzzer's namespace and logs the report.
func (l *fuzzLab) run(t *testing.T, target string, count int) *fuzzpeer.Report {
	t.Helper()
	var conn *net.UDPConn
	if err := l.fuzzer.Do(func() (err error) {
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(fuzzerAddr), Port: 4789})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tgt, err := fuzzpeer.ParseTarget(target)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := fuzzpeer.Run(context.Background(), conn, fuzzpeer.Config{
		Target: tgt, VNI: itVNI, Seed: 1, Count: count, Rate: 3000, Batch: 50,
		Responder: responderIP, Prober: prober, Logf: t.Logf,
	})
	if rep != nil {
		var b strings.Builder
		rep.WriteTo(&b)
		t.Logf("\n%s", b.String())
	}
	if err != nil {
		t.Fatalf("fuzz %s: %v", target, err)
	}
	return rep
}

func responses(rep *fuzzpeer.Report) map[fuzzpeer.Class]fuzzpeer.ClassReport {
	m := map[fuzzpeer.Class]fuzzpeer.ClassReport{}
	for _, c := range rep.Classes {
		m[c.Class] = c
	}
	return m
}

// TestIntegrationFuzzKernelVXLAN fuzzes the Linux kernel's vxlan driver: a
// vxlan device bridged with a veth to the responder, in a peer namespace
// on the wire, whose remote is the fuzzer.
func TestIntegrationFuzzKernelVXLAN(t *testing.T) {
	l := newFuzzLab(t)
	k := nstest.New(t, l.pre+"-k")
	k.QuietIPv6(t)
	l.wire.Attach(t, k, "u0", netip.MustParsePrefix("192.0.2.10/24"))
	nl := k.Handle(t)
	defer nl.Close()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}
	vx := &netlink.Vxlan{LinkAttrs: netlink.LinkAttrs{Name: "vxlan0"}, VxlanId: itVNI,
		SrcAddr: net.ParseIP("192.0.2.10"), Group: net.ParseIP(fuzzerAddr), Port: 4789, Learning: true}
	respNS, err := netns.GetFromPath(l.resp.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer respNS.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "vr0"}, PeerName: "eth0",
		PeerHardwareAddr: responderMAC, PeerNamespace: netlink.NsFd(respNS)}
	for _, link := range []netlink.Link{br, vx, veth} {
		if err := nl.LinkAdd(link); err != nil {
			if link == vx && errors.Is(err, unix.EOPNOTSUPP) {
				t.Skipf("this kernel has no vxlan driver: %v", err)
			}
			t.Fatalf("add %s: %v", link.Attrs().Name, err)
		}
	}
	for _, name := range []string{"vxlan0", "vr0"} {
		link, err := nl.LinkByName(name)
		if err == nil {
			err = nl.LinkSetMaster(link, br)
		}
		if err == nil {
			err = nl.LinkSetUp(link)
		}
		if err != nil {
			t.Fatalf("%s into br0: %v", name, err)
		}
	}
	if err := nl.LinkSetUp(br); err != nil {
		t.Fatal(err)
	}
	nstest.AddrUp(t, l.resp, "eth0", netip.PrefixFrom(responderIP, 24))

	rep := l.run(t, "192.0.2.10", 1800)
	c := responses(rep)
	if !rep.Alive() {
		t.Error("the kernel's vxlan device stopped forwarding")
	}
	if n := c[fuzzpeer.ClassVNI].Responses; n != 0 {
		t.Errorf("the kernel answered %d datagrams with a VNI it does not serve", n)
	}
}

// TestIntegrationFuzzVXSwitch fuzzes vxswitch itself, started in-process
// in a host namespace with the responder as its container, and checks its
// counters after: every datagram counted once under one outcome.
func TestIntegrationFuzzVXSwitch(t *testing.T) {
	l := newFuzzLab(t)
	h := nstest.New(t, l.pre+"-h")
	h.QuietIPv6(t)
	l.wire.Attach(t, h, "u0", netip.MustParsePrefix("192.0.2.1/24"))
	d := vxtest.Start(t, h, "h", fmt.Sprintf(`underlay: {local: 192.0.2.1, port: 4789, mtu: 1500}
networks:
  - name: fz
    vni: %d
    flood: [%s]
    max_macs: 512
ports:
  - {name: r-eth1, network: fz, netns: %s, ifname: eth1, mac: %q, addresses: [%s/24]}
`, itVNI, fuzzerAddr, l.resp.Path, responderMAC, responderIP))

	rep := l.run(t, "192.0.2.1", 1800)
	c := responses(rep)
	if !rep.Alive() {
		t.Error("vxswitch stopped forwarding")
	}
	if n := c[fuzzpeer.ClassVNI].Responses; n != 0 {
		t.Errorf("vxswitch answered %d datagrams with a VNI it does not serve", n)
	}
	if c[fuzzpeer.ClassReserved].Responses == 0 {
		t.Error("vxswitch forwarded no datagram with reserved bits set; RFC 7348 says to ignore them")
	}
	nets, unmatched := d.Switch.Stats()
	for _, n := range nets {
		st := n.Stats
		if sum := st.Forwarded + st.Flooded + st.Proxied + st.Dropped(); sum != st.Received {
			t.Errorf("network %s: outcomes sum to %d, received %d", n.Name, sum, st.Received)
		}
		t.Logf("vxswitch network %s: received %d, forwarded %d, flooded %d, proxied %d, drops %v, learn_full %d, %d MACs",
			n.Name, st.Received, st.Forwarded, st.Flooded, st.Proxied, st.Drops, st.LearnFull, n.MACs)
		if n.MACs > 512 {
			t.Errorf("network %s: %d MACs, max_macs 512", n.Name, n.MACs)
		}
	}
	if sum := unmatched.Forwarded + unmatched.Flooded + unmatched.Proxied + unmatched.Dropped(); sum != unmatched.Received {
		t.Errorf("unmatched: outcomes sum to %d, received %d", sum, unmatched.Received)
	}
	t.Logf("vxswitch unmatched: received %d, drops %v", unmatched.Received, unmatched.Drops)
}
