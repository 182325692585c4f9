package admin

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vxswitch/vxswitch/fdb"
	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/tap/taptest"
	"github.com/vxswitch/vxswitch/vtep/vteptest"
)

var (
	vtep1 = netip.MustParseAddr("192.0.2.1")
	vtep2 = netip.MustParseAddr("192.0.2.2")
	vtep9 = netip.MustParseAddr("192.0.2.9") // knows no network
)

const (
	vniBlue = 4097
	vniRed  = 4098
	waitFor = 5 * time.Second
)

// mac returns 02:00:00:00:00:n.
func mac(n byte) net.HardwareAddr { return net.HardwareAddr{2, 0, 0, 0, 0, n} }

// ip returns 10.0.1.n.
func ip(n byte) net.IP { return net.IPv4(10, 0, 1, n).To4() }

var broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// testbed is two in-memory switches joined by an in-memory underlay: h1
// (192.0.2.1) with port c1 in blue and r1 in red, serving the admin API,
// and h2 (192.0.2.2) with port c2 in blue. h1's blue has the static
// neighbor 10.0.1.9 at 02:00:00:00:00:09.
type testbed struct {
	t      *testing.T
	under  *vteptest.Network
	h1, h2 *vswitch.Switch
	c1, r1 *taptest.Device
	c2     *taptest.Device
	srv    *Server
	socket string
	client *Client
}

func newTestbed(t *testing.T) *testbed {
	t.Helper()
	tb := &testbed{t: t, under: vteptest.NewNetwork()}
	blue := func(peer netip.Addr) vswitch.NetworkConfig {
		return vswitch.NetworkConfig{Name: "blue", VNI: vniBlue, Flood: []netip.Addr{peer}, Learning: true, ARPProxy: true, Ageing: time.Minute, MaxMACs: 100}
	}
	cfg1 := vswitch.Config{Local: vtep1, MTU: 1500, Networks: []vswitch.NetworkConfig{
		blue(vtep2),
		{Name: "red", VNI: vniRed, Flood: []netip.Addr{vtep2}, Learning: true, ARPProxy: true, Ageing: time.Minute, MaxMACs: 100},
	}}
	cfg1.Networks[0].Neighbors = []vswitch.Neighbor{{IP: netip.MustParseAddr("10.0.1.9"), MAC: fdb.MAC(mac(9))}}
	tb.h1, tb.c1, tb.r1 = tb.startSwitch(cfg1, "c1-eth1", "r1-eth1")
	tb.h2, tb.c2, _ = tb.startSwitch(vswitch.Config{Local: vtep2, MTU: 1500, Networks: []vswitch.NetworkConfig{blue(vtep1)}}, "c2-eth1", "")

	tb.socket = filepath.Join(t.TempDir(), "admin.sock")
	ln, err := Listen(tb.socket)
	if err != nil {
		t.Fatal(err)
	}
	tb.srv = NewServer(tb.h1, Options{PeerNetworks: map[netip.Addr][]string{vtep2: {"blue", "red"}}})
	done := make(chan error, 1)
	go func() { done <- tb.srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		tb.srv.Shutdown(ctx)
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	tb.client = NewClient(tb.socket)
	return tb
}

func (tb *testbed) startSwitch(cfg vswitch.Config, bluePort, redPort string) (*vswitch.Switch, *taptest.Device, *taptest.Device) {
	s, err := vswitch.New(cfg)
	if err != nil {
		tb.t.Fatal(err)
	}
	add := func(name, network string) *taptest.Device {
		if name == "" {
			return nil
		}
		d := taptest.New(name)
		if _, err := s.AddPort(vswitch.PortConfig{Name: name, Network: network, Device: d, MAC: mac(0xee), Netns: "/run/netns/" + name, IfName: "eth1"}); err != nil {
			tb.t.Fatal(err)
		}
		return d
	}
	blue, red := add(bluePort, "blue"), add(redPort, "red")
	s.Start(tb.under.Underlay(cfg.Local))
	tb.t.Cleanup(func() { s.Close() })
	return s, blue, red
}

// exchange makes c2 broadcast and c1 answer, so that h1 learns mac(2)
// behind 192.0.2.2 and mac(1) on c1-eth1.
func (tb *testbed) exchange() {
	tb.t.Helper()
	tb.c2.Inject(udpFrame(tb.t, mac(2), broadcast, ip(2), net.IPv4bcast, 68, 67))
	receive(tb.t, tb.c1, "broadcast from c2")
	tb.c1.Inject(udpFrame(tb.t, mac(1), mac(2), ip(1), ip(2), 5000, 53))
	receive(tb.t, tb.c2, "unicast from c1")
}

func receive(t *testing.T, d *taptest.Device, what string) []byte {
	t.Helper()
	select {
	case b := <-d.Sent():
		return b
	case <-time.After(waitFor):
		t.Fatalf("%s: nothing arrived at %s", what, d.Name())
		return nil
	}
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func udpFrame(t testing.TB, src, dst net.HardwareAddr, sip, dip net.IP, sport, dport uint16) []byte {
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}
	ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: sip, DstIP: dip}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	udp.SetNetworkLayerForChecksum(ip4)
	return serialize(t, eth, ip4, udp, gopacket.Payload("hello"))
}

func arpRequest(t testing.TB, src net.HardwareAddr, sender, target net.IP) []byte {
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: broadcast, EthernetType: layers.EthernetTypeARP}
	arp := &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: src, SourceProtAddress: sender,
		DstHwAddress: make([]byte, 6), DstProtAddress: target,
	}
	return serialize(t, eth, arp)
}
