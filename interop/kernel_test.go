package interop

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/internal/nstest"
)

const transferSize = 10 << 20

// TestIntegrationKernelTransfer: ARP resolves across vxswitch and the
// kernel's vxlan both ways, and 10 MB TCP transfers arrive intact cA→cB and
// cB→cA over the IPv4 underlay, with vxswitch's TAP and UDP offloads on
// (the default) and each off, with a multi-queue TAP and with one queue.
func TestIntegrationKernelTransfer(t *testing.T) {
	nstest.RequireRoot(t)
	t.Run("veth defaults", func(t *testing.T) { testKernelTransfer(t, topoOptions{}) })
	t.Run("NIC-like", func(t *testing.T) { testKernelTransfer(t, topoOptions{NICLike: true}) })
	t.Run("veth defaults, plain TAP", func(t *testing.T) { testKernelTransfer(t, topoOptions{PlainTAP: true}) })
	t.Run("NIC-like, plain TAP", func(t *testing.T) { testKernelTransfer(t, topoOptions{NICLike: true, PlainTAP: true}) })
	t.Run("veth defaults, no UDP GSO/GRO", func(t *testing.T) { testKernelTransfer(t, topoOptions{NoUDPOffload: true}) })
	t.Run("NIC-like, no UDP GSO/GRO", func(t *testing.T) { testKernelTransfer(t, topoOptions{NICLike: true, NoUDPOffload: true}) })
	t.Run("veth defaults, one TAP queue", func(t *testing.T) { testKernelTransfer(t, topoOptions{OneQueue: true}) })
	t.Run("veth defaults, plain TAP, one queue", func(t *testing.T) {
		testKernelTransfer(t, topoOptions{PlainTAP: true, OneQueue: true})
	})
}

// testKernelTransfer: with veth defaults the kernel sends inner checksums
// partial and TCP as 64 KiB super-frames; NIC-like, segmented and finished.
func testKernelTransfer(t *testing.T, o topoOptions) {
	tp := newTopology(t, o)
	transfer(t, tp.CA, tp.CB, overlay4B.Addr(), 1, transferSize)
	transfer(t, tp.CB, tp.CA, overlay4A.Addr(), 1, transferSize)

	// Each side's ARP cache holds the other's real MAC.
	for _, c := range []struct {
		ns     *nstest.NS
		ifname string
		peer   string
		mac    net.HardwareAddr
	}{
		{tp.CA, "eth1", overlay4B.Addr().String(), macB},
		{tp.CB, "eth0", overlay4A.Addr().String(), macA},
	} {
		got, err := arpEntry(t, c.ns, c.ifname, c.peer)
		if err != nil {
			t.Error(err)
		} else if !bytes.Equal(got, c.mac) {
			t.Errorf("%s: ARP resolved %s to %s, want %s", c.ns.Name, c.peer, got, c.mac)
		}
	}
}

// arpEntry returns the MAC that ns's neighbor table on ifname holds for ip.
func arpEntry(t *testing.T, ns *nstest.NS, ifname, ip string) (net.HardwareAddr, error) {
	nl := ns.Handle(t)
	defer nl.Close()
	link, err := nl.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("%s: find %s: %w", ns.Name, ifname, err)
	}
	neighs, err := nl.NeighList(link.Attrs().Index, unix.AF_INET)
	if err != nil {
		return nil, fmt.Errorf("%s: list neighbors: %w", ns.Name, err)
	}
	for _, n := range neighs {
		if n.IP.String() == ip && n.HardwareAddr != nil {
			return n.HardwareAddr, nil
		}
	}
	return nil, fmt.Errorf("%s: no neighbor entry for %s on %s (%v)", ns.Name, ip, ifname, neighs)
}

// TestIntegrationKernelLearning: after traffic both ways, each VTEP has
// learned the other's container behind the other's underlay address — the
// kernel from vxswitch's datagrams, vxswitch from the kernel's.
func TestIntegrationKernelLearning(t *testing.T) {
	nstest.RequireRoot(t)
	tp := newTopology(t, topoOptions{})
	exchange(t, tp.CA, tp.CB, overlay4B.Addr())
	exchange(t, tp.CB, tp.CA, overlay4A.Addr())

	eventually(t, 5*time.Second, "kernel learned cA's MAC", func() error {
		fdb, err := tp.kernelFDB(t)
		if err != nil {
			return err
		}
		for _, n := range fdb {
			if bytes.Equal(n.HardwareAddr, macA) {
				if !n.IP.Equal(tp.AddrA.AsSlice()) {
					return fmt.Errorf("vxlan0 has %s dst %s, want dst %s", macA, n.IP, tp.AddrA)
				}
				if n.State&unix.NUD_PERMANENT != 0 {
					return fmt.Errorf("vxlan0's entry for %s is permanent, want learned (state %#x)", macA, n.State)
				}
				return nil
			}
		}
		return fmt.Errorf("vxlan0's FDB lacks %s: %v", macA, fdb)
	})

	want := map[string]string{macB.String(): "vtep " + tp.AddrB.String(), macA.String(): "port " + portName}
	eventually(t, 5*time.Second, "vxswitch learned cB's MAC", func() error {
		got := map[string]string{}
		for _, e := range tp.Switch.FDB(network) {
			if e.Type == fdb.Learned {
				got[e.MAC.String()] = e.Where
			}
		}
		for mac, where := range want {
			if got[mac] != where {
				return fmt.Errorf("learned entries %v, want %s at %q", got, mac, where)
			}
		}
		return nil
	})
}

// TestIntegrationKernelStaticFDB: a kernel vxlan without learning or a
// remote, steered only by static FDB entries (cA's MAC and the all-zeros
// flood entry, both at A), carries traffic both ways, and learns nothing.
func TestIntegrationKernelStaticFDB(t *testing.T) {
	nstest.RequireRoot(t)
	tp := newTopology(t, topoOptions{NoLearning: true})
	exchange(t, tp.CA, tp.CB, overlay4B.Addr())
	exchange(t, tp.CB, tp.CA, overlay4A.Addr())
	transfer(t, tp.CA, tp.CB, overlay4B.Addr(), 1, 1<<20)

	entries, err := tp.kernelFDB(t)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range entries {
		got = append(got, fmt.Sprintf("%s dst %s permanent=%v", n.HardwareAddr, n.IP, n.State&unix.NUD_PERMANENT != 0))
	}
	want := []string{
		fmt.Sprintf("%s dst %s permanent=true", make(net.HardwareAddr, 6), tp.AddrA),
		fmt.Sprintf("%s dst %s permanent=true", macA, tp.AddrA),
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("vxlan0's FDB after traffic:\n%s\nwant only the static entries:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestIntegrationKernelVNIs: the smallest, a typical and the largest VNI
// carry a TCP exchange both ways; vxswitch sees no datagram for a VNI it
// does not know (a byte-order or width slip would show there).
func TestIntegrationKernelVNIs(t *testing.T) {
	nstest.RequireRoot(t)
	for _, vni := range []uint32{1, 4097, 1<<24 - 1} {
		t.Run(strconv.Itoa(int(vni)), func(t *testing.T) {
			tp := newTopology(t, topoOptions{VNI: vni})
			exchange(t, tp.CA, tp.CB, overlay4B.Addr())
			exchange(t, tp.CB, tp.CA, overlay4A.Addr())
			_, unmatched := tp.Switch.Stats()
			if unmatched.Received != 0 {
				t.Errorf("vxswitch matched no network for %d datagrams: %v", unmatched.Received, unmatched.Drops)
			}
		})
	}
}

// TestIntegrationKernelChecksumsAndPorts: traffic works both ways whether
// the kernel sends UDP checksums or not, and with a source port range; on
// the wire the kernel's datagrams carry a (correct) checksum exactly when
// configured to, and take their source ports from their range — by default
// the namespace's ip_local_port_range. The kernel's default, with no
// udpcsum attribute at all, is checksums on.
func TestIntegrationKernelChecksumsAndPorts(t *testing.T) {
	nstest.RequireRoot(t)
	for _, tc := range []struct {
		name              string
		csum              csumMode
		portLow, portHigh uint16
		wantCSum          bool
	}{
		{name: "default", csum: csumDefault, wantCSum: true},
		{name: "udpcsum", csum: csumOn, wantCSum: true},
		{name: "noudpcsum", csum: csumOff, wantCSum: false},
		{name: "udpcsum srcport 50000-50100", csum: csumOn, portLow: 50000, portHigh: 50100, wantCSum: true},
		{name: "noudpcsum srcport 50000-50100", csum: csumOff, portLow: 50000, portHigh: 50100, wantCSum: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := newTopology(t, topoOptions{UDPCSum: tc.csum, PortLow: tc.portLow, PortHigh: tc.portHigh})
			if got := tp.kernelVXLAN(t); got.UDPCSum != tc.wantCSum {
				t.Errorf("kernel reports udpcsum %v, want %v", got.UDPCSum, tc.wantCSum)
			}
			low, high := int(tc.portLow), int(tc.portHigh)
			if low == 0 {
				var err error
				if low, high, err = localPortRange(tp.B); err != nil {
					t.Fatal(err)
				}
			}
			capt := startCapture(t, tp.A, tp.UnderlayA)
			transfer(t, tp.CA, tp.CB, overlay4B.Addr(), 2, 512<<10)
			transfer(t, tp.CB, tp.CA, overlay4A.Addr(), 2, 512<<10)
			kernel := from(datagrams(capt.Stop(t)), tp.AddrB)
			if len(kernel) == 0 {
				t.Fatal("captured no datagram from the kernel")
			}
			checkKernelDatagrams(t, kernel, tc.wantCSum, low, high)
		})
	}
}

// checkKernelDatagrams checks the kernel's datagrams against its
// configuration: destination port, VNI-level sanity, checksum presence
// (and value where the capture has it), source port range.
func checkKernelDatagrams(t *testing.T, gs []datagram, csum bool, low, high int) {
	t.Helper()
	minPort, maxPort, verified := 65535, 0, 0
	ports := map[uint16]bool{}
	for i, g := range gs {
		if g.dstPort != vxlanPort || !g.iFlag {
			t.Fatalf("datagram %d: dst port %d, I flag %v; want %d, set", i, g.dstPort, g.iFlag, vxlanPort)
		}
		p := int(g.srcPort)
		if p < low || p > high {
			t.Fatalf("datagram %d: source port %d outside the kernel's range %d–%d", i, p, low, high)
		}
		minPort, maxPort, ports[g.srcPort] = min(minPort, p), max(maxPort, p), true
		switch {
		case !csum && g.udpSum != 0:
			t.Fatalf("datagram %d: UDP checksum %#04x with noudpcsum, want 0", i, g.udpSum)
		case csum && g.udpSum == 0:
			t.Fatalf("datagram %d: no UDP checksum with udpcsum", i)
		case csum && !g.csumNotReady && g.complete():
			if !g.checksumOK() {
				t.Fatalf("datagram %d: bad UDP checksum %#04x", i, g.udpSum)
			}
			verified++
		}
	}
	sums := "none, as configured"
	if csum {
		sums = fmt.Sprintf("all present, %d verified (the rest cut or left to the device)", verified)
	}
	t.Logf("%d kernel datagrams: source ports %d–%d (%d distinct) within %d–%d; checksums %s",
		len(gs), minPort, maxPort, len(ports), low, high, sums)
}

// localPortRange reads net.ipv4.ip_local_port_range in ns: the kernel's
// vxlan source ports when no range is configured.
func localPortRange(ns *nstest.NS) (low, high int, err error) {
	s, err := ns.ReadSysctl("net.ipv4.ip_local_port_range")
	if err != nil {
		return 0, 0, err
	}
	if _, err := fmt.Sscan(s, &low, &high); err != nil {
		return 0, 0, fmt.Errorf("parse ip_local_port_range %q: %w", s, err)
	}
	return low, high, nil
}
