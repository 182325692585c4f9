package admin

import (
	"bytes"
	"errors"
	"github.com/vxswitch/vxswitch/internal/csum"
	"io"
	"net/netip"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	vswitch "github.com/vxswitch/vxswitch/switch"
)

// captured is one packet read back from a capture.
type captured struct {
	data    []byte
	ci      gopacket.CaptureInfo
	comment string
	dir     pcapgo.NgEpbFlag
}

// capture runs a capture of count packets, calls traffic once it is
// subscribed, and parses what arrives with pcapgo's reader.
func capture(t *testing.T, tb *testbed, req CaptureRequest, traffic func()) ([]captured, *pcapgo.NgReader) {
	t.Helper()
	s, err := tb.client.Capture(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	body := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(s)
		body <- b
	}()
	traffic()
	var raw []byte
	select {
	case raw = <-body:
	case <-time.After(waitFor):
		t.Fatalf("capture of %d packets did not end", req.Count)
	}
	packets, drops, ok := s.Counts()
	if !ok || packets != req.Count || drops != 0 {
		t.Errorf("trailers: %d packets, %d drops, ok %v; want %d, 0, true", packets, drops, ok, req.Count)
	}
	return readCapture(t, raw)
}

func readCapture(t *testing.T, raw []byte) ([]captured, *pcapgo.NgReader) {
	t.Helper()
	r, err := pcapgo.NewNgReader(bytes.NewReader(raw), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatalf("pcapng reader: %v", err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Errorf("link type %v, want Ethernet", r.LinkType())
	}
	var out []captured
	for {
		data, ci, opts, err := r.ReadPacketDataWithOptions()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read packet %d: %v", len(out)+1, err)
		}
		c := captured{data: data, ci: ci}
		if len(opts.Comments) == 1 {
			c.comment = opts.Comments[0]
		}
		if opts.Flags != nil {
			c.dir = opts.Flags.Direction
		}
		out = append(out, c)
	}
	return out, r
}

func TestCaptureUnderlay(t *testing.T) {
	tb := newTestbed(t)
	pkts, _ := capture(t, tb, CaptureRequest{Underlay: true, Count: 2}, tb.exchange)
	if len(pkts) != 2 {
		t.Fatalf("%d packets, want 2", len(pkts))
	}
	type outer struct {
		Src, Dst         string
		DstPort          layers.UDPPort
		VNI              uint32
		InnerSrc, Inner  string
		Comment          string
		Dir              pcapgo.NgEpbFlag
		ChecksumVerified bool
	}
	var got []outer
	for _, p := range pkts {
		pkt := gopacket.NewPacket(p.data, layers.LayerTypeEthernet, gopacket.Default)
		ip4, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		udp, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		vx, _ := pkt.Layer(layers.LayerTypeVXLAN).(*layers.VXLAN)
		eths := pkt.Layers()
		if ip4 == nil || udp == nil || vx == nil || len(eths) < 5 {
			t.Fatalf("packet does not decode as Ethernet/IPv4/UDP/VXLAN/Ethernet: %v", pkt)
		}
		inner := eths[4].(*layers.Ethernet)
		got = append(got, outer{
			Src: ip4.SrcIP.String(), Dst: ip4.DstIP.String(), DstPort: udp.DstPort, VNI: vx.VNI,
			InnerSrc: inner.SrcMAC.String(), Inner: inner.DstMAC.String(), Comment: p.comment, Dir: p.dir,
			ChecksumVerified: csum.Fold(csum.Sum(p.data[ethHeaderLen:ethHeaderLen+ipv4HeaderLen], 0)) == 0xffff,
		})
	}
	// Port and underlay readers run concurrently: events of different
	// frames may come in either order.
	sort.Slice(got, func(i, j int) bool { return got[i].Comment < got[j].Comment })
	want := []outer{
		{"192.0.2.1", "192.0.2.2", 4789, vniBlue, "02:00:00:00:00:01", "02:00:00:00:00:02",
			"network blue (VNI 4097), egress: → vtep 192.0.2.2", pcapgo.NgEpbFlagDirectionOutbound, true},
		{"192.0.2.2", "192.0.2.1", 4789, vniBlue, "02:00:00:00:00:02", "ff:ff:ff:ff:ff:ff",
			"network blue (VNI 4097), ingress from vtep 192.0.2.2: flood ×1", pcapgo.NgEpbFlagDirectionInbound, true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("packets mismatch (-want +got):\n%s", diff)
	}
}

func TestCapturePortAndDrops(t *testing.T) {
	tb := newTestbed(t)
	pkts, _ := capture(t, tb, CaptureRequest{Port: "c1-eth1", Count: 3}, func() {
		tb.exchange()
		tb.c1.Inject(udpFrame(t, broadcast, mac(2), ip(1), ip(2), 1, 2)) // bad_src_mac
	})
	var comments []string
	for _, p := range pkts {
		pkt := gopacket.NewPacket(p.data, layers.LayerTypeEthernet, gopacket.Default)
		if pkt.Layer(layers.LayerTypeEthernet) == nil || pkt.Layer(layers.LayerTypeUDP) == nil {
			t.Errorf("packet does not decode as Ethernet/IPv4/UDP: %v", pkt)
		}
		comments = append(comments, p.comment)
	}
	sort.Strings(comments) // see TestCaptureUnderlay
	want := []string{
		"network blue (VNI 4097), egress: → port c1-eth1",
		"network blue (VNI 4097), ingress from port c1-eth1: drop: bad_src_mac",
		"network blue (VNI 4097), ingress from port c1-eth1: → vtep 192.0.2.2",
	}
	if diff := cmp.Diff(want, comments); diff != "" {
		t.Errorf("comments mismatch (-want +got):\n%s", diff)
	}
}

func TestCaptureDatagramWithoutNetwork(t *testing.T) {
	tb := newTestbed(t)
	frame := udpFrame(t, mac(7), mac(1), ip(7), ip(1), 1, 2)
	pkts, _ := capture(t, tb, CaptureRequest{Underlay: true, Count: 1}, func() {
		tb.under.Inject(netip.AddrPortFrom(vtep9, 40000), vtep1, datagram(999, frame))
	})
	if len(pkts) != 1 || pkts[0].comment != "no network (VNI 999), ingress from vtep 192.0.2.9: drop: unknown_vni" {
		t.Fatalf("packets %+v, want the unknown_vni drop", pkts)
	}
	pkt := gopacket.NewPacket(pkts[0].data, layers.LayerTypeEthernet, gopacket.Default)
	udp, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if udp == nil || udp.SrcPort != 40000 || udp.DstPort != 4789 {
		t.Errorf("UDP %v, want 40000 > 4789", udp)
	}
}

// TestCaptureNetwork: a network capture holds the network's port frames and
// the inner frames of its datagrams, as Ethernet.
func TestCaptureNetwork(t *testing.T) {
	tb := newTestbed(t)
	pkts, _ := capture(t, tb, CaptureRequest{Network: "blue", Count: 4}, tb.exchange)
	var comments []string
	for _, p := range pkts {
		if p.data[0] != 0xff && p.data[0] != 0x02 {
			t.Errorf("packet does not start with an inner destination MAC: % x", p.data[:6])
		}
		comments = append(comments, p.comment)
	}
	sort.Strings(comments) // see TestCaptureUnderlay
	want := []string{
		"network blue (VNI 4097), egress: → port c1-eth1",
		"network blue (VNI 4097), egress: → vtep 192.0.2.2",
		"network blue (VNI 4097), ingress from port c1-eth1: → vtep 192.0.2.2",
		"network blue (VNI 4097), ingress from vtep 192.0.2.2: flood ×1",
	}
	if diff := cmp.Diff(want, comments); diff != "" {
		t.Errorf("comments mismatch (-want +got):\n%s", diff)
	}
}

// TestCaptureStop: stopping a capture ends its stream with the counts and
// an interface statistics block.
func TestCaptureStop(t *testing.T) {
	tb := newTestbed(t)
	s, err := tb.client.Capture(ctxT(t), CaptureRequest{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tb.exchange()
	waitStats(t, tb.client, func(st *Stats) bool { return st.Sessions == 1 })
	if err := s.Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(s)
	if err != nil {
		t.Fatal(err)
	}
	// Events still on their way when the stop arrives are not captured;
	// what was is in the file, the trailers and the statistics alike.
	packets, drops, ok := s.Counts()
	pkts, r := readCapture(t, raw)
	if !ok || packets == 0 || packets != uint64(len(pkts)) || drops != 0 {
		t.Errorf("counts %d, %d, %v with %d packets in the file; want them equal, no drops", packets, drops, ok, len(pkts))
	}
	intf, err := r.Interface(0)
	if err != nil || intf.Name != "all networks" || intf.Statistics.PacketsDropped != 0 || intf.Statistics.PacketsReceived != packets {
		t.Errorf("interface %+v (%v), want name 'all networks' and statistics %d received, 0 dropped", intf, err, packets)
	}
	if err := s.Stop(ctxT(t)); err == nil || !strings.Contains(err.Error(), "no session") {
		t.Errorf("second Stop: %v, want no session", err)
	}
	if st := waitStats(t, tb.client, func(st *Stats) bool { return st.Sessions == 0 }); st.CaptureDrops != 0 {
		t.Errorf("capture_drops %d, want 0", st.CaptureDrops)
	}
}

func TestCaptureBadRequests(t *testing.T) {
	tb := newTestbed(t)
	for _, tt := range []struct {
		req  CaptureRequest
		want string
	}{
		{CaptureRequest{Port: "c1-eth1", Underlay: true}, "capture: give at most one of port, network and underlay"},
		{CaptureRequest{Network: "green"}, `capture: no network "green"`},
		{CaptureRequest{Port: "c9"}, `capture: no port "c9"`},
	} {
		if _, err := tb.client.Capture(ctxT(t), tt.req); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Capture(%+v): %v, want %q", tt.req, err, tt.want)
		}
	}
}

// TestSlowReaderNeverBlocks: a capture whose reader never reads fills its
// queue, then drops and counts; forwarding goes on at full speed.
func TestSlowReaderNeverBlocks(t *testing.T) {
	tb := newTestbed(t)
	tb.exchange()
	s, err := tb.client.Capture(ctxT(t), CaptureRequest{Port: "c1-eth1"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close() // never read before
	const frames = 3 * queuePackets
	frame := udpFrame(t, mac(1), mac(2), ip(1), ip(2), 5000, 53)
	for range frames {
		tb.c1.Inject(frame)
	}
	st := waitStats(t, tb.client, func(st *Stats) bool { return st.Networks[0].Forwarded >= frames })
	if st.CaptureDrops == 0 {
		t.Errorf("capture_drops 0 after %d frames to a capture nobody reads", frames)
	}
	if st.Networks[0].Dropped != 0 {
		t.Errorf("the switch dropped frames: %+v", st.Networks[0].Drops)
	}
}

// TestSessionQueue drives Observe directly: it copies matching events,
// ignores others, and counts what does not fit.
func TestSessionQueue(t *testing.T) {
	var total atomic.Uint64
	s := newSession(1, filter{port: "c1"}, &total)
	data := []byte("frame")
	for range queuePackets + 10 {
		s.Observe(&vswitch.Event{Dir: vswitch.DirIn, Port: "c1", Data: data})
		s.Observe(&vswitch.Event{Dir: vswitch.DirIn, Port: "c2", Data: data})
	}
	data[0] = 'X' // the queue holds copies
	if len(s.q) != queuePackets || s.drops.Load() != 10 || total.Load() != 10 {
		t.Fatalf("queued %d, dropped %d (total %d); want %d and 10", len(s.q), s.drops.Load(), total.Load(), queuePackets)
	}
	r := <-s.q
	s.take(&r)
	if string(r.data) != "frame" {
		t.Errorf("queued data %q, want a copy of frame", r.data)
	}
	r.release()
	s.drain()
	if len(s.q) != 0 || s.queued.Load() != 0 {
		t.Errorf("after drain: %d queued, %d bytes", len(s.q), s.queued.Load())
	}

	big := newSession(2, filter{}, &total)
	huge := make([]byte, queueBytes/4+1)
	for range 4 {
		big.Observe(&vswitch.Event{Data: huge})
	}
	if len(big.q) != 3 || big.drops.Load() != 1 {
		t.Errorf("byte bound: %d queued, %d dropped; want 3 and 1", len(big.q), big.drops.Load())
	}
	big.drain()
}

func TestSessionObserveAllocs(t *testing.T) {
	var total atomic.Uint64
	s := newSession(1, filter{port: "c1"}, &total)
	ev := &vswitch.Event{Port: "c2", Data: make([]byte, 100)}
	if n := testing.AllocsPerRun(100, func() { s.Observe(ev) }); n != 0 {
		t.Errorf("Observe of an event the filter rejects allocates %v times", n)
	}
}

func TestFilter(t *testing.T) {
	port := &vswitch.Event{Dir: vswitch.DirIn, Port: "c1", Network: "blue"}
	out := &vswitch.Event{Dir: vswitch.DirOut, Port: "c1", Network: "blue"}
	under := &vswitch.Event{Dir: vswitch.DirIn, Underlay: true, Network: "blue"}
	stray := &vswitch.Event{Dir: vswitch.DirIn, Underlay: true}
	for _, tt := range []struct {
		name string
		f    filter
		want [4]bool // port, out, under, stray
	}{
		{"port", filter{port: "c1"}, [4]bool{true, true, false, false}},
		{"other port", filter{port: "c2"}, [4]bool{}},
		{"network", filter{network: "blue"}, [4]bool{true, true, true, false}},
		{"underlay", filter{underlay: true}, [4]bool{false, false, true, true}},
		{"all networks", filter{networkOnly: true}, [4]bool{true, true, true, false}},
		{"trace", filter{inOnly: true}, [4]bool{true, false, true, true}},
		{"trace of a port", filter{inOnly: true, port: "c1"}, [4]bool{true, false, false, false}},
	} {
		got := [4]bool{tt.f.match(port), tt.f.match(out), tt.f.match(under), tt.f.match(stray)}
		if got != tt.want {
			t.Errorf("%s: match %v, want %v", tt.name, got, tt.want)
		}
	}
}

// BenchmarkSessionObserve is the data path's cost per frame while a
// capture is attached and keeping up.
func BenchmarkSessionObserve(b *testing.B) {
	var total atomic.Uint64
	s := newSession(1, filter{port: "c1"}, &total)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case r := <-s.q:
				s.take(&r)
				r.release()
			case <-done:
				return
			}
		}
	}()
	defer close(done)
	ev := &vswitch.Event{Time: time.Now(), Port: "c1", Network: "blue", Data: make([]byte, 1514)}
	b.ReportAllocs()
	b.SetBytes(int64(len(ev.Data)))
	for b.Loop() {
		s.Observe(ev)
	}
}
