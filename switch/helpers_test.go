package vswitch_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vxswitch/vxswitch/fdb"
	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/tap/taptest"
	"github.com/vxswitch/vxswitch/vtep"
	"github.com/vxswitch/vxswitch/vtep/vteptest"
)

// Underlay addresses: this switch is vtepLocal; the others are remote VTEPs.
var (
	vtepLocal = netip.MustParseAddr("192.0.2.1")
	vtep2     = netip.MustParseAddr("192.0.2.2")
	vtep3     = netip.MustParseAddr("192.0.2.3")
	vtep4     = netip.MustParseAddr("192.0.2.4")
	vtepStray = netip.MustParseAddr("192.0.2.99") // in no flood list, no static entry
)

// testSrcPorts is deliberately not the default, to show the configured range
// is the one used.
var testSrcPorts = vtep.PortRange{Min: 50000, Max: 50999}

const (
	vniBlue = 4097
	vniRed  = 4098
)

// mac returns the locally administered unicast MAC 02:00:00:00:00:n.
func mac(n byte) fdb.MAC { return fdb.MAC{0x02, 0, 0, 0, 0, n} }

var (
	macBroadcast = fdb.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	macMDNS      = fdb.MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}
)

// ip returns 10.0.0.n, the overlay subnet every test network uses.
func ip(n byte) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, n}) }

// fakeClock is the switch clock in tests. It starts an hour in, so that no
// timestamp is zero (zero means "never" in Peers).
type fakeClock struct{ ns atomic.Int64 }

func newClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(int64(time.Hour))
	return c
}

func (c *fakeClock) Now() int64              { return c.ns.Load() }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// network returns a learning, proxying network config.
func network(name string, vni uint32, flood ...netip.Addr) vswitch.NetworkConfig {
	return vswitch.NetworkConfig{Name: name, VNI: vni, Flood: flood, Learning: true, ARPProxy: true}
}

func blue(flood ...netip.Addr) vswitch.NetworkConfig { return network("blue", vniBlue, flood...) }
func red(flood ...netip.Addr) vswitch.NetworkConfig  { return network("red", vniRed, flood...) }

// portSpec is a port a fixture attaches.
type portSpec struct {
	name, network string
	mtu           int
	discard       bool // the fake only counts what it is sent
}

func port(name, network string) portSpec { return portSpec{name: name, network: network} }

// fixture is a switch that is never started: tests drive its Worker
// directly and look at what the fakes received.
type fixture struct {
	t     testing.TB
	s     *vswitch.Switch
	cfg   vswitch.Config
	clock *fakeClock
	rec   *vteptest.Recorder
	w     *vswitch.Worker
	port  map[string]*vswitch.Port
	dev   map[string]*taptest.Device
	names []string // ports in the order they were added
}

// newFixture builds a switch at vtepLocal with an underlay MTU of 1500 and
// the given networks and ports. Fields of cfg left zero get those defaults.
func newFixture(t testing.TB, cfg vswitch.Config, ports ...portSpec) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: newClock(), rec: &vteptest.Recorder{},
		port: map[string]*vswitch.Port{}, dev: map[string]*taptest.Device{}}
	if !cfg.Local.IsValid() {
		cfg.Local = vtepLocal
	}
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if cfg.SrcPorts == (vtep.PortRange{}) {
		cfg.SrcPorts = testSrcPorts
	}
	if cfg.Now == nil {
		cfg.Now = f.clock.Now
	}
	f.cfg = cfg
	s, err := vswitch.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.s = s
	for _, ps := range ports {
		f.addPort(ps)
	}
	f.w = s.NewWorker(f.rec)
	return f
}

func (f *fixture) addPort(ps portSpec) *vswitch.Port {
	f.t.Helper()
	d := taptest.New(ps.name)
	d.Discard = ps.discard
	p, err := f.s.AddPort(vswitch.PortConfig{Name: ps.name, Network: ps.network, Device: d, MTU: ps.mtu})
	if err != nil {
		f.t.Fatalf("AddPort %s: %v", ps.name, err)
	}
	f.port[ps.name], f.dev[ps.name] = p, d
	f.names = append(f.names, ps.name)
	return p
}

// fromPort hands frame to the switch as read from port name, at Headroom in
// a fresh buffer.
func (f *fixture) fromPort(name string, frame []byte) vswitch.Verdict {
	f.t.Helper()
	p := f.port[name]
	if p == nil {
		f.t.Fatalf("no port %q", name)
	}
	buf := make([]byte, vswitch.Headroom+len(frame))
	copy(buf[vswitch.Headroom:], frame)
	v := f.w.FromPort(p, buf, vswitch.Headroom, len(frame))
	if !bytes.Equal(buf[vswitch.Headroom:], frame) {
		f.t.Errorf("FromPort changed the frame in its buffer")
	}
	return v
}

// fromUnderlay hands the switch a VXLAN datagram carrying frame in vni, sent
// by src.
func (f *fixture) fromUnderlay(src netip.Addr, vni uint32, frame []byte) vswitch.Verdict {
	f.t.Helper()
	return f.datagram(src, encapsulate(vni, frame))
}

// datagram hands the switch raw datagram bytes from src.
func (f *fixture) datagram(src netip.Addr, b []byte) vswitch.Verdict {
	return f.w.FromUnderlay(netip.AddrPortFrom(src, 50123), b)
}

// encapsulate returns a VXLAN datagram payload: header for vni, then frame.
func encapsulate(vni uint32, frame []byte) []byte {
	b := make([]byte, vtep.HeaderLen+len(frame))
	vtep.PutHeader(b, vni)
	copy(b[vtep.HeaderLen:], frame)
	return b
}

// delivered drains every port and returns what each received; ports that
// received nothing are absent.
func (f *fixture) delivered() map[string][][]byte {
	out := map[string][][]byte{}
	for _, name := range f.names {
		if got := f.dev[name].Drain(); len(got) > 0 {
			out[name] = got
		}
	}
	return out
}

// encap is one datagram the switch sent to the underlay, decoded.
type encap struct {
	Dst   string
	VNI   uint32
	Frame []byte
	Sport uint16
}

var ignoreSport = cmpopts.IgnoreFields(encap{}, "Sport")

// sent takes what the recorder got, checking every datagram's VXLAN header
// strictly (reserved fields zero) and its outer source port against the
// configured range.
func (f *fixture) sent() []encap {
	f.t.Helper()
	var out []encap
	for _, d := range f.rec.Take() {
		vni, err := vtep.Parse(d.Payload, true)
		if err != nil {
			f.t.Errorf("datagram to %s: %v", d.Dst, err)
			continue
		}
		sport := d.Src.Port()
		if sport < f.cfg.SrcPorts.Min || sport > f.cfg.SrcPorts.Max {
			f.t.Errorf("datagram to %s: source port %d outside %d-%d", d.Dst, sport, f.cfg.SrcPorts.Min, f.cfg.SrcPorts.Max)
		}
		out = append(out, encap{Dst: d.Dst.String(), VNI: vni, Frame: d.Payload[vtep.HeaderLen:], Sport: sport})
	}
	return out
}

// expect checks the verdict, what each port received and what went to the
// underlay, in one go.
func (f *fixture) expect(got vswitch.Verdict, want string, wantPorts map[string][][]byte, wantUnderlay []encap) {
	f.t.Helper()
	if g := verdict(got); g != want {
		f.t.Errorf("verdict = %q, want %q", g, want)
	}
	if diff := cmp.Diff(wantPorts, f.delivered(), cmpopts.EquateEmpty()); diff != "" {
		f.t.Errorf("frames delivered to ports (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantUnderlay, f.sent(), cmpopts.EquateEmpty(), ignoreSport); diff != "" {
		f.t.Errorf("datagrams sent to the underlay (-want +got):\n%s", diff)
	}
}

// quiet checks that nothing reached any port or the underlay.
func (f *fixture) quiet() {
	f.t.Helper()
	if got := f.delivered(); len(got) > 0 {
		f.t.Errorf("ports received %d frames, want none: %v", len(got), keys(got))
	}
	if got := f.sent(); len(got) > 0 {
		f.t.Errorf("underlay got %d datagrams, want none", len(got))
	}
}

// quietBut drains the ports and underlay, failing if anything but port
// name received something.
func (f *fixture) quietBut(name string) {
	f.t.Helper()
	for p := range f.delivered() {
		if p != name {
			f.t.Errorf("port %s received frames", p)
		}
	}
	if got := f.sent(); len(got) > 0 {
		f.t.Errorf("underlay got %d datagrams, want none", len(got))
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// stats returns one network's counters.
func (f *fixture) stats(network string) vswitch.Stats {
	f.t.Helper()
	nets, _ := f.s.Stats()
	for _, n := range nets {
		if n.Name == network {
			return n.Stats
		}
	}
	f.t.Fatalf("no network %q in Stats", network)
	return vswitch.Stats{}
}

func (f *fixture) unmatched() vswitch.Stats {
	_, u := f.s.Stats()
	return u
}

// checkStats compares one network's counters.
func (f *fixture) checkStats(network string, want vswitch.Stats) {
	f.t.Helper()
	if diff := cmp.Diff(want, f.stats(network), cmpopts.EquateEmpty()); diff != "" {
		f.t.Errorf("stats of %s (-want +got):\n%s", network, diff)
	}
}

// where returns the FDB's Where column for mac in network, "" if absent.
func (f *fixture) where(network string, m fdb.MAC) string {
	for _, e := range f.s.FDB(network) {
		if e.MAC == m {
			return e.Where
		}
	}
	return ""
}

// verdict renders a Verdict for comparison.
func verdict(v vswitch.Verdict) string {
	switch v.Action {
	case vswitch.ActionDrop:
		return "drop " + v.Reason.String()
	case vswitch.ActionPort:
		return "port " + v.Port.Name()
	case vswitch.ActionVTEP:
		return "vtep " + v.VTEP.String()
	case vswitch.ActionFlood:
		return fmt.Sprintf("flood %d", v.Copies)
	case vswitch.ActionProxy:
		return "proxy " + v.Port.Name()
	}
	return "action " + v.Action.String()
}

var cmpAddr = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// Frame builders, all through gopacket.

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// udpFrame is an Ethernet/IPv4/UDP frame of exactly size bytes (at least
// 60, the Ethernet minimum) from src to dst; sport picks the flow.
func udpFrame(t testing.TB, src, dst fdb.MAC, sport uint16, size int) []byte {
	t.Helper()
	const headers = 14 + 20 + 8
	if size < 60 {
		t.Fatalf("udpFrame: size %d below the Ethernet minimum", size)
	}
	eth := &layers.Ethernet{SrcMAC: src[:], DstMAC: dst[:], EthernetType: layers.EthernetTypeIPv4}
	ip4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: ip(src[5]).AsSlice(), DstIP: ip(dst[5]).AsSlice()}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: 5001}
	if err := udp.SetNetworkLayerForChecksum(ip4); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, size-headers)
	for i := range payload {
		payload[i] = byte(i)
	}
	b := serialize(t, eth, ip4, udp, gopacket.Payload(payload))
	if len(b) != size {
		t.Fatalf("udpFrame: built %d bytes, want %d", len(b), size)
	}
	return b
}

// frame is a small UDP frame from src to dst.
func frame(t testing.TB, src, dst fdb.MAC) []byte { return udpFrame(t, src, dst, 40000, 100) }

// arpFrame builds an Ethernet/ARP frame.
func arpFrame(t testing.TB, op uint16, ethSrc, ethDst, sha fdb.MAC, spa netip.Addr, tha fdb.MAC, tpa netip.Addr) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: ethSrc[:], DstMAC: ethDst[:], EthernetType: layers.EthernetTypeARP}
	a := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: op,
		SourceHwAddress: sha[:], SourceProtAddress: spa.AsSlice(),
		DstHwAddress: tha[:], DstProtAddress: tpa.AsSlice()}
	return serialize(t, eth, a)
}

// arpRequest is "who has tpa? tell spa" from sha, broadcast.
func arpRequest(t testing.TB, sha fdb.MAC, spa, tpa netip.Addr) []byte {
	return arpFrame(t, layers.ARPRequest, sha, macBroadcast, sha, spa, fdb.MAC{}, tpa)
}

// arpReply is "spa is at sha" to tha/tpa, unicast.
func arpReply(t testing.TB, sha fdb.MAC, spa netip.Addr, tha fdb.MAC, tpa netip.Addr) []byte {
	return arpFrame(t, layers.ARPReply, sha, tha, sha, spa, tha, tpa)
}

// parsedARP is the fields of an ARP frame tests look at.
type parsedARP struct {
	EthDst, EthSrc fdb.MAC
	Op             uint16
	SHA, THA       fdb.MAC
	SPA, TPA       netip.Addr
}

// parseARP decodes an ARP frame with gopacket.
func parseARP(t testing.TB, b []byte) parsedARP {
	t.Helper()
	pkt := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		t.Fatalf("decode ARP frame: %v", el.Error())
	}
	eth, _ := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	a, _ := pkt.Layer(layers.LayerTypeARP).(*layers.ARP)
	if eth == nil || a == nil {
		t.Fatalf("frame is not Ethernet/ARP: %v", pkt)
	}
	if a.AddrType != layers.LinkTypeEthernet || a.Protocol != layers.EthernetTypeIPv4 ||
		a.HwAddressSize != 6 || a.ProtAddressSize != 4 {
		t.Fatalf("ARP is not Ethernet/IPv4: %+v", a)
	}
	spa, _ := netip.AddrFromSlice(a.SourceProtAddress)
	tpa, _ := netip.AddrFromSlice(a.DstProtAddress)
	return parsedARP{
		EthDst: fdb.MAC(eth.DstMAC), EthSrc: fdb.MAC(eth.SrcMAC), Op: a.Operation,
		SHA: fdb.MAC(a.SourceHwAddress), THA: fdb.MAC(a.DstHwAddress), SPA: spa, TPA: tpa,
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
