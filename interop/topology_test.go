package interop

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vxswitch/vxswitch/internal/daemon"
	"github.com/vxswitch/vxswitch/internal/nstest"
	"github.com/vxswitch/vxswitch/internal/vxtest"
	vswitch "github.com/vxswitch/vxswitch/switch"
)

// Addresses of the topology. The underlay uses documentation prefixes
// (RFC 5737, RFC 3849); overlay addresses exist only inside the container
// namespaces.
var (
	underlay4A = netip.MustParsePrefix("192.0.2.1/24")
	underlay4B = netip.MustParsePrefix("192.0.2.2/24")
	underlay6A = netip.MustParsePrefix("2001:db8::1/64")
	underlay6B = netip.MustParsePrefix("2001:db8::2/64")

	overlay4A = netip.MustParsePrefix("10.0.1.2/24")
	overlay4B = netip.MustParsePrefix("10.0.1.3/24")
	overlay6A = netip.MustParsePrefix("fd00:1::2/64")
	overlay6B = netip.MustParsePrefix("fd00:1::3/64")

	macA = net.HardwareAddr{0x02, 0x00, 0x0a, 0x00, 0x01, 0x02}
	macB = net.HardwareAddr{0x02, 0x00, 0x0a, 0x00, 0x01, 0x03}
)

const (
	network     = "blue"    // the vxswitch network
	portName    = "ca-eth1" // vxswitch's port into cA
	vxlanPort   = 4789      // IANA VXLAN port, both sides
	underlayMTU = 1500
	defaultVNI  = 4097
)

// topoOptions choose one variant of the topology. The zero value is the
// plain case: IPv4 underlay, VNI 4097, kernel learning with A as remote,
// kernel defaults for checksums and source ports, vxswitch defaults.
type topoOptions struct {
	VNI          uint32
	IPv6Underlay bool
	// NICLike turns transmit offloads off on B's underlay veth, so the
	// kernel's datagrams arrive segmented with finished checksums, as from
	// a NIC on another machine.
	NICLike bool
	// PlainTAP runs vxswitch without TAP offloads (one frame per read,
	// super-frames segmented in userspace).
	PlainTAP bool
	// NoUDPOffload runs vxswitch without UDP GSO and GRO on the underlay.
	NoUDPOffload bool
	// OneQueue opens the TAP with one queue (default: one per CPU).
	OneQueue bool

	// Kernel side (host B).
	// NoLearning turns vxlan learning off and gives the device no remote;
	// its FDB instead holds static entries pointing at A: cA's MAC, and
	// the all-zeros MAC that floods broadcast and unknown frames.
	NoLearning bool
	UDPCSum    csumMode
	// PortLow and PortHigh are the kernel's srcport range; 0 keeps the
	// kernel's default.
	PortLow, PortHigh uint16

	// vxswitch side (host A).
	SrcPortMin, SrcPortMax uint16     // 0 keeps vxswitch's default
	Neighbors              []neighbor // static entries for the ND/ARP proxy
}

type neighbor struct {
	IP  netip.Addr
	MAC net.HardwareAddr
}

// topology is host A running vxswitch with a port into container cA, and
// host B with the kernel's vxlan: bridge br0 joining vxlan0 and a veth
// into container cB, as Docker's overlay driver builds it. A and B share a
// veth underlay.
type topology struct {
	A, B, CA, CB *nstest.NS
	Switch       *vswitch.Switch
	// UnderlayA is A's end of the underlay, for captures.
	UnderlayA    string
	AddrA, AddrB netip.Addr // underlay
	VNI          uint32
	// VXLANIndex is vxlan0's ifindex in B.
	VXLANIndex int
	// MTU is the overlay MTU on both sides.
	MTU int
}

// newTopology builds the topology for o and tears it down when the test
// ends. It skips the test when not root or without kernel vxlan support.
// At the end a test also fails if vxswitch dropped any frame: between a
// working kernel VTEP and vxswitch every frame has a forwarding outcome.
func newTopology(t *testing.T, o topoOptions) *topology {
	t.Helper()
	nstest.RequireRoot(t)
	if o.VNI == 0 {
		o.VNI = defaultVNI
	}
	pre := nstest.Prefix()
	tp := &topology{
		A: nstest.New(t, pre+"-a"), B: nstest.New(t, pre+"-b"),
		CA: nstest.New(t, pre+"-ca"), CB: nstest.New(t, pre+"-cb"),
		UnderlayA: pre + "ua",
		VNI:       o.VNI,
	}
	ua, ub, overhead := underlay4A, underlay4B, 50
	if o.IPv6Underlay {
		ua, ub, overhead = underlay6A, underlay6B, 70
	}
	tp.AddrA, tp.AddrB, tp.MTU = ua.Addr(), ub.Addr(), underlayMTU-overhead
	nstest.Veth(t, tp.A, tp.UnderlayA, ua, tp.B, pre+"ub", ub)
	// B's veth keeps its default offloads: the kernel hands it VXLAN
	// datagrams with inner checksums left partial and TCP unsegmented
	// (64 KiB super-frames), as nothing on a veth finishes them. vxswitch
	// must cope, as it does with a NIC's finished, segmented datagrams
	// (o.NICLike turns B's offloads off to test that case).
	if o.NICLike {
		nstest.TxChecksumOff(t, tp.B, pre+"ub")
	}
	tp.buildKernelHost(t, o)
	tp.Switch = vxtest.StartWith(t, tp.A, "vxswitch-a", tp.config(o), daemon.Options{
		NoTAPOffload: o.PlainTAP, NoUDPGSO: o.NoUDPOffload, NoUDPGRO: o.NoUDPOffload, TAPQueues: tapQueues(o),
	}).Switch
	t.Cleanup(func() {
		// Every frame either VTEP sent the other has a valid outcome.
		if st := tp.stats(); !t.Failed() && st.Dropped() > 0 {
			t.Errorf("vxswitch dropped frames: %v", st.Drops)
		}
		if t.Failed() {
			tp.dump(t)
		}
	})
	return tp
}

func linkAttrs(name string, mtu int) netlink.LinkAttrs {
	a := netlink.NewLinkAttrs()
	a.Name, a.MTU = name, mtu
	return a
}

// buildKernelHost configures B: br0, vxlan0 and veth0 (whose peer is eth0
// in cB) enslaved to br0, everything up, cB's addresses on eth0.
func (tp *topology) buildKernelHost(t *testing.T, o topoOptions) {
	t.Helper()
	vx := vxlanDevice{
		Name: "vxlan0", MTU: tp.MTU, VNI: o.VNI, Local: tp.AddrB,
		Learning: !o.NoLearning, UDPCSum: o.UDPCSum,
		PortLow: o.PortLow, PortHigh: o.PortHigh,
	}
	if !o.NoLearning {
		vx.Remote = tp.AddrA // head-end replication to A
	}
	// The vxlan device first: a kernel without it skips the test before
	// anything else is built.
	vxlan := addVXLAN(t, tp.B, vx)
	tp.VXLANIndex = vxlan.Attrs().Index
	br := nstest.AddLink(t, tp.B, &netlink.Bridge{LinkAttrs: linkAttrs("br0", tp.MTU)})

	cb, err := netns.GetFromPath(tp.CB.Path)
	if err != nil {
		t.Fatalf("open %s: %v", tp.CB.Path, err)
	}
	veth := nstest.AddLink(t, tp.B, &netlink.Veth{
		LinkAttrs: linkAttrs("veth0", tp.MTU), PeerName: "eth0",
		PeerHardwareAddr: macB, PeerNamespace: netlink.NsFd(cb),
	})
	cb.Close()

	nl := tp.B.Handle(t)
	defer nl.Close()
	if o.NoLearning {
		for _, mac := range []net.HardwareAddr{make(net.HardwareAddr, 6), macA} {
			fdb := &netlink.Neigh{
				LinkIndex: tp.VXLANIndex, Family: unix.AF_BRIDGE,
				State: unix.NUD_PERMANENT | unix.NUD_NOARP, Flags: netlink.NTF_SELF,
				HardwareAddr: mac, IP: tp.AddrA.AsSlice(),
			}
			if err := nl.NeighAppend(fdb); err != nil {
				t.Fatalf("%s: fdb append %s dst %s dev vxlan0: %v", tp.B.Name, mac, tp.AddrA, err)
			}
		}
	}
	for _, l := range []netlink.Link{vxlan, veth} {
		if err := nl.LinkSetMaster(l, br); err != nil {
			t.Fatalf("%s: enslave %s to br0: %v", tp.B.Name, l.Attrs().Name, err)
		}
	}
	for _, l := range []netlink.Link{br, vxlan, veth} {
		if err := nl.LinkSetUp(l); err != nil {
			t.Fatalf("%s: %s up: %v", tp.B.Name, l.Attrs().Name, err)
		}
	}
	nstest.AddrUp(t, tp.CB, "eth0", overlay4B)
	nstest.AddrUp(t, tp.CB, "eth0", overlay6B)
}

// config is vxswitch's YAML for host A.
func (tp *topology) config(o topoOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, "underlay: {local: %q, port: %d, mtu: %d", tp.AddrA, vxlanPort, underlayMTU)
	if o.SrcPortMin != 0 {
		fmt.Fprintf(&b, ", src_port_min: %d, src_port_max: %d", o.SrcPortMin, o.SrcPortMax)
	}
	fmt.Fprintf(&b, "}\nnetworks:\n  - name: %s\n    vni: %d\n    flood: [%q]\n", network, o.VNI, tp.AddrB)
	if len(o.Neighbors) > 0 {
		b.WriteString("    neighbors:\n")
		for _, n := range o.Neighbors {
			fmt.Fprintf(&b, "      - {ip: %q, mac: %q}\n", n.IP, n.MAC)
		}
	}
	fmt.Fprintf(&b, "ports:\n  - {name: %s, network: %s, netns: %s, ifname: eth1, mac: %q, addresses: [%q, %q]}\n",
		portName, network, tp.CA.Path, macA, overlay4A, overlay6A)
	return b.String()
}

// kernelFDB lists vxlan0's own forwarding entries in B (NTF_SELF: MAC →
// remote VTEP), not the bridge's entries for the same port.
func (tp *topology) kernelFDB(t *testing.T) ([]netlink.Neigh, error) {
	nl := tp.B.Handle(t)
	defer nl.Close()
	all, err := nl.NeighList(tp.VXLANIndex, unix.AF_BRIDGE)
	if err != nil {
		return nil, fmt.Errorf("%s: list fdb of vxlan0: %w", tp.B.Name, err)
	}
	var own []netlink.Neigh
	for _, n := range all {
		if n.Flags&netlink.NTF_SELF != 0 && n.IP != nil {
			own = append(own, n)
		}
	}
	return own, nil
}

// kernelVXLAN returns vxlan0 as the kernel reports its configuration.
func (tp *topology) kernelVXLAN(t *testing.T) *netlink.Vxlan {
	t.Helper()
	nl := tp.B.Handle(t)
	defer nl.Close()
	link, err := nl.LinkByIndex(tp.VXLANIndex)
	if err != nil {
		t.Fatalf("%s: vxlan0: %v", tp.B.Name, err)
	}
	vx, ok := link.(*netlink.Vxlan)
	if !ok {
		t.Fatalf("%s: vxlan0 is a %T", tp.B.Name, link)
	}
	return vx
}

// stats returns the counters of vxswitch's network.
func (tp *topology) stats() vswitch.Stats {
	nets, _ := tp.Switch.Stats()
	for _, n := range nets {
		if n.Name == network {
			return n.Stats
		}
	}
	return vswitch.Stats{}
}

// dump logs both sides' tables and counters, for a failed test.
func (tp *topology) dump(t *testing.T) {
	nets, unmatched := tp.Switch.Stats()
	for _, n := range nets {
		t.Logf("vxswitch network %s (VNI %d): %+v", n.Name, n.VNI, n.Stats)
	}
	t.Logf("vxswitch unmatched datagrams: %+v", unmatched)
	for _, p := range tp.Switch.Peers() {
		t.Logf("vxswitch peer %s: last seen %v, %+v", p.Addr, p.LastSeen, p.IO)
	}
	for _, e := range tp.Switch.FDB("") {
		t.Logf("vxswitch fdb: %s %s %v", e.MAC, e.Where, e.Type)
	}
	for _, e := range tp.Switch.Neighbors("") {
		t.Logf("vxswitch neighbor: %s %s %v", e.IP, e.MAC, e.Type)
	}
	fdb, err := tp.kernelFDB(t)
	if err != nil {
		t.Log(err)
	}
	for _, n := range fdb {
		t.Logf("kernel fdb (vxlan0): %s dst %s state %#x", n.HardwareAddr, n.IP, n.State)
	}
}

// eventually polls check until it succeeds or within has passed.
func eventually(t *testing.T, within time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v (after %v)", what, err, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tapQueues is the TAP queue count for o: 1, or 4 so that multi-queue is
// tested even on a machine with one CPU.
func tapQueues(o topoOptions) int {
	if o.OneQueue {
		return 1
	}
	return 4
}
