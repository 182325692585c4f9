package hostile

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/internal/nstest"
	"github.com/vxswitch/vxswitch/vtep"
)

var (
	bcast    = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	vxlanDst = netip.MustParseAddrPort("192.0.2.1:4789") // h1's VTEP
)

// TestIntegrationMACFlood: container c1 sends 100,000 frames with random
// source MACs (and random unknown destinations, so h1 floods them to h2)
// while TCP transfers run in its VNI and in the other. Both hosts' MAC
// tables stop at max_macs, the misses are counted as LearnFull, the red
// network's table is untouched, the process's RSS stays bounded, and every
// transfer completes.
func TestIntegrationMACFlood(t *testing.T) {
	l := newLab(t)
	for _, p := range [][2]*ctr{{l.c1, l.c2}, {l.c3, l.c4}} {
		if err := transfer(p[0], p[1], 5001, 1<<20, 20*time.Second); err != nil {
			t.Fatalf("before the flood: %v", err)
		}
	}
	runtime.GC()
	rssBefore := vmRSS(t)

	const frames = 100_000
	pkt := openPacket(t, l.c1.ns, "eth1", false)
	flood := make(chan error, 1)
	start := time.Now()
	go func() { flood <- sendFlood(pkt, frames, func() uint64 { return l.h1.portRx("c1-eth1") }) }()
	during := make(chan error, 2)
	go func() { during <- transfer(l.c1, l.c2, 5002, 4<<20, 40*time.Second) }()
	go func() { during <- transfer(l.c3, l.c4, 5003, 4<<20, 40*time.Second) }()
	if err := <-flood; err != nil {
		t.Fatalf("flood: %v", err)
	}
	took := time.Since(start)
	for range 2 {
		if err := <-during; err != nil {
			t.Errorf("during the flood: %v", err)
		}
	}
	// Let h2 drain what h1 flooded to it before reading its table.
	nstest.Poll(5*time.Second, func() bool { return l.h2.learned("blue") >= maxMACs })
	for _, p := range [][2]*ctr{{l.c2, l.c1}, {l.c4, l.c3}} {
		if err := transfer(p[0], p[1], 5004, 1<<20, 20*time.Second); err != nil {
			t.Errorf("after the flood: %v", err)
		}
	}
	rssAfter := vmRSS(t)

	b1, b2 := l.h1.stats("blue"), l.h2.stats("blue")
	t.Logf("flood: %d frames sent in %v; h1 read %d frames from c1 (blue received %d, flooded %d, learn_full %d); "+
		"h2 blue received %d, learn_full %d", frames, took.Round(time.Millisecond), l.h1.portRx("c1-eth1"),
		b1.Stats.Received, b1.Stats.Flooded, b1.Stats.LearnFull, b2.Stats.Received, b2.Stats.LearnFull)
	t.Logf("MAC tables: h1 blue %d learned, h2 blue %d learned, h1 red %d learned (max_macs %d)",
		l.h1.learned("blue"), l.h2.learned("blue"), l.h1.learned("red"), maxMACs)
	t.Logf("process RSS (test binary with both switches): %.1f MiB before, %.1f MiB after, growth %.1f MiB",
		mib(rssBefore), mib(rssAfter), mib(rssAfter-rssBefore))

	for _, h := range []*host{l.h1, l.h2} {
		if n := h.learned("blue"); n != maxMACs {
			t.Errorf("%s: blue has %d learned MACs, want it full at max_macs %d", h.addr, n, maxMACs)
		}
		if st := h.stats("blue"); st.MACs > maxMACs {
			t.Errorf("%s: blue's table holds %d entries, above max_macs %d", h.addr, st.MACs, maxMACs)
		}
	}
	if b1.Stats.LearnFull < frames/2 {
		t.Errorf("h1 blue learn_full = %d, want most of the %d random sources", b1.Stats.LearnFull, frames)
	}
	if n := l.h1.learned("red"); n > 4 {
		t.Errorf("h1 red has %d learned MACs: the flood in blue leaked", n)
	}
	if growth := rssAfter - rssBefore; growth > 100<<20 {
		t.Errorf("RSS grew by %.1f MiB during the flood, bound 100 MiB", mib(growth))
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// sendFlood writes n 60-byte frames with random unicast source and
// destination MACs (a fixed seed, so runs repeat), pacing itself by rx, the
// switch's count of frames read from the port, so that the TAP's queue does
// not overflow and nearly every frame reaches the switch.
func sendFlood(pkt *packetSocket, n int, rx func() uint64) error {
	r := rand.New(rand.NewPCG(1, 2))
	frame := make([]byte, 60)
	frame[12], frame[13] = 0x88, 0xb5 // IEEE local experimental ethertype
	rx0 := rx()
	for i := range n {
		for _, m := range [][]byte{frame[0:6], frame[6:12]} {
			v := r.Uint64()
			for j := range m {
				m[j] = byte(v >> (8 * j))
			}
			m[0] = m[0]&^1 | 2 // unicast, locally administered
		}
		for {
			err := pkt.send(frame)
			if err == nil {
				break
			}
			if !errors.Is(err, unix.ENOBUFS) && !errors.Is(err, unix.EAGAIN) {
				return err
			}
			time.Sleep(time.Millisecond)
		}
		if i%256 == 255 {
			deadline := time.Now().Add(2 * time.Second)
			for rx()-rx0+1024 < uint64(i+1) && time.Now().Before(deadline) {
				time.Sleep(200 * time.Microsecond)
			}
		}
	}
	return nil
}

// TestIntegrationHostileDatagrams sends malformed and unwelcome VXLAN
// datagrams to h1 from the underlay — from x, which no switch knows, and
// from h2's address, a flood-list peer — each carrying a broadcast frame
// that c1 would see if it were delivered. Each is counted under its drop
// reason, c1's interface sees none of them (while a valid control datagram
// does arrive), and forwarding goes on.
func TestIntegrationHostileDatagrams(t *testing.T) {
	l := newLab(t)
	listener := openPacket(t, l.c1.ns, "eth1", true)
	fromX := udpIn(t, l.x, netip.MustParseAddrPort("192.0.2.66:0"))
	fromH2 := udpIn(t, l.h2.ns, netip.MustParseAddrPort("192.0.2.2:0"))

	marker := []byte("vxswitch hostile datagram")
	frame := func(size int) []byte {
		f := make([]byte, size)
		copy(f[0:6], bcast)
		copy(f[6:12], []byte{0x02, 0x66, 0x66, 0x66, 0x66, 0x01})
		f[12], f[13] = 0x88, 0xb5
		copy(f[14:], marker)
		return f
	}
	noI := encap(vniBlue, frame(60))
	noI[0] = 0x80 // a flag, but not I
	portMTU := 1500 - 50
	cases := []struct {
		name    string
		from    *net.UDPConn
		payload []byte
		scope   string // network, or "" for datagrams that match none
		reason  string
	}{
		{"unknown peer", fromX, encap(vniBlue, frame(60)), "blue", "unknown_peer"},
		{"unknown peer, other network", fromX, encap(vniRed, frame(60)), "red", "unknown_peer"},
		{"no I flag", fromH2, noI, "", "vxlan_no_i_flag"},
		{"truncated to 7 bytes", fromH2, encap(vniBlue, frame(60))[:7], "", "vxlan_runt"},
		{"empty", fromH2, []byte{}, "", "vxlan_runt"},
		{"runt inner frame", fromH2, encap(vniBlue, frame(60))[:vtep.HeaderLen+13], "blue", "runt"},
		{"unknown VNI", fromH2, encap(999, frame(60)), "", "unknown_vni"},
		{"oversize inner frame", fromH2, encap(vniBlue, frame(portMTU+14+1)), "blue", "oversize"},
	}
	const repeat = 5
	type key struct{ scope, reason string }
	want := map[key]uint64{}
	before := map[key]uint64{}
	for _, c := range cases {
		k := key{c.scope, c.reason}
		want[k] += repeat
		before[k] = l.h1.stats(c.scope).Stats.Drops[c.reason]
	}
	for _, c := range cases {
		for range repeat {
			if _, err := c.from.WriteToUDPAddrPort(c.payload, vxlanDst); err != nil {
				t.Fatalf("%s: send: %v", c.name, err)
			}
		}
	}
	control := append(frame(60)[:14], []byte("vxswitch control datagram")...)
	if _, err := fromH2.WriteToUDPAddrPort(encap(vniBlue, control), vxlanDst); err != nil {
		t.Fatal(err)
	}

	counted := func() bool {
		for k, n := range want {
			if l.h1.stats(k.scope).Stats.Drops[k.reason]-before[k] < n {
				return false
			}
		}
		return true
	}
	sawControl := func() bool {
		for _, f := range listener.received() {
			if bytes.Contains(f, []byte("vxswitch control datagram")) {
				return true
			}
		}
		return false
	}
	if !nstest.Poll(5*time.Second, func() bool { return counted() && sawControl() }) {
		t.Errorf("control datagram seen by c1: %v", sawControl())
	}
	for _, c := range cases {
		k := key{c.scope, c.reason}
		scope := c.scope
		if scope == "" {
			scope = "unmatched"
		}
		got := l.h1.stats(c.scope).Stats.Drops[c.reason] - before[k]
		t.Logf("%-28s → %s/%s: %d", c.name, scope, c.reason, got)
		if got != want[k] {
			t.Errorf("%s: %s drops[%s] grew by %d, want %d", c.name, scope, c.reason, got, want[k])
		}
	}
	for _, f := range listener.received() {
		if bytes.Contains(f, marker) {
			t.Errorf("c1 received a hostile frame: % x", f[:min(len(f), 32)])
		}
	}
	if err := transfer(l.c1, l.c2, 5001, 1<<20, 20*time.Second); err != nil {
		t.Errorf("after the hostile datagrams: %v", err)
	}
}

// TestIntegrationARPSpoofStatic: ARP replies and gratuitous ARP claiming
// c2's address (a static neighbor on both hosts) for an attacker's MAC,
// sent from a local port and from the underlay, leave the static entries
// as they were, and h1's proxy still answers c1 with c2's real MAC.
func TestIntegrationARPSpoofStatic(t *testing.T) {
	l := newLab(t)
	spoof := net.HardwareAddr{0x02, 0x66, 0x66, 0x66, 0x66, 0x02}
	victim := l.c2.ip
	reply := arpFrame(t, bcast, layers.ARPReply, spoof, victim, bcast, victim)
	garp := arpFrame(t, bcast, layers.ARPRequest, spoof, victim, nil, victim)
	toC1 := arpFrame(t, l.c1.mac, layers.ARPReply, spoof, victim, l.c1.mac, l.c1.ip)

	pkt := openPacket(t, l.c1.ns, "eth1", true)
	rx1, rx2 := l.h1.stats("blue").Stats.Received, l.h2.stats("blue").Stats.Received
	for _, f := range [][]byte{reply, garp} {
		if err := pkt.send(f); err != nil {
			t.Fatal(err)
		}
	}
	fromH2 := udpIn(t, l.h2.ns, netip.MustParseAddrPort("192.0.2.2:0"))
	for _, f := range [][]byte{reply, garp, toC1} {
		if _, err := fromH2.WriteToUDPAddrPort(encap(vniBlue, f), vxlanDst); err != nil {
			t.Fatal(err)
		}
	}
	// h1 takes 2 frames from c1 and 3 datagrams; h2 gets c1's 2 flooded.
	if !nstest.Poll(5*time.Second, func() bool {
		return l.h1.stats("blue").Stats.Received >= rx1+5 && l.h2.stats("blue").Stats.Received >= rx2+2
	}) {
		t.Fatalf("spoofed frames not all received: h1 blue %d (+5 wanted), h2 blue %d (+2 wanted)",
			l.h1.stats("blue").Stats.Received-rx1, l.h2.stats("blue").Stats.Received-rx2)
	}
	for _, h := range []*host{l.h1, l.h2} {
		found := false
		for _, n := range h.d.Switch.Neighbors("blue") {
			if n.IP == victim {
				found = true
				if !bytes.Equal(n.MAC[:], l.c2.mac) || n.Type != fdb.Static {
					t.Errorf("%s: neighbor %s is %s (%s), want static %s", h.addr, victim, n.MAC, n.Type, l.c2.mac)
				}
			}
		}
		if !found {
			t.Errorf("%s: static neighbor %s is gone", h.addr, victim)
		}
	}

	// c1 asks; the proxy answers on c1's port with c2's real MAC.
	ask := arpFrame(t, bcast, layers.ARPRequest, l.c1.mac, l.c1.ip, nil, victim)
	if err := pkt.send(ask); err != nil {
		t.Fatal(err)
	}
	var answers []net.HardwareAddr
	nstest.Poll(3*time.Second, func() bool {
		answers = answers[:0]
		for _, f := range pkt.received() {
			p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
			a, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP)
			if ok && a.Operation == layers.ARPReply && bytes.Equal(a.DstHwAddress, l.c1.mac) &&
				bytes.Equal(a.SourceProtAddress, victim.AsSlice()) && !bytes.Equal(a.SourceHwAddress, spoof) {
				answers = append(answers, a.SourceHwAddress)
			}
		}
		return len(answers) > 0
	})
	if len(answers) != 1 || !bytes.Equal(answers[0], l.c2.mac) {
		t.Errorf("proxy answers to c1 about %s: %v, want exactly one, %s", victim, answers, l.c2.mac)
	}
	// The switch counts a frame after handling it, so c1 may hold the
	// answer a moment before the counter moves.
	if !nstest.Poll(3*time.Second, func() bool { return l.h1.stats("blue").Stats.Proxied > 0 }) {
		t.Errorf("h1 blue proxied nothing: %+v", l.h1.stats("blue").Stats)
	}
}
