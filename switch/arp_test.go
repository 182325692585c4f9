package vswitch_test

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/layers"

	"github.com/vxswitch/vxswitch/fdb"
	vswitch "github.com/vxswitch/vxswitch/switch"
)

// arpFixture: network blue with the ARP proxy, flood list [.2], ports p1
// (mac(1), 10.0.0.1) and p2, and the static neighbor 10.0.0.8 → mac(8).
func arpFixture(t *testing.T, edit func(*vswitch.NetworkConfig)) *fixture {
	nc := blue(vtep2)
	nc.Neighbors = []vswitch.Neighbor{{IP: ip(8), MAC: mac(8)}}
	if edit != nil {
		edit(&nc)
	}
	return newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{nc}}, port("p1", "blue"), port("p2", "blue"))
}

// expectProxyReply checks that the request from p1 (mac(1), 10.0.0.1) for
// target was answered with "target is at want" on p1 alone.
func expectProxyReply(t *testing.T, f *fixture, target netip.Addr, want fdb.MAC) {
	t.Helper()
	v := f.fromPort("p1", arpRequest(t, mac(1), ip(1), target))
	if got := verdict(v); got != "proxy p1" {
		t.Fatalf("verdict = %q, want proxy p1", got)
	}
	got := f.delivered()
	if diff := cmp.Diff([]string{"p1"}, keys(got)); diff != "" {
		t.Errorf("ports that got frames (-want +got):\n%s", diff)
	}
	if n := len(got["p1"]); n != 1 {
		t.Fatalf("p1 got %d frames, want 1 reply", n)
	}
	if sent := f.sent(); len(sent) != 0 {
		t.Errorf("underlay got %d datagrams, want none", len(sent))
	}
	wantARP := parsedARP{EthDst: mac(1), EthSrc: want, Op: layers.ARPReply,
		SHA: want, SPA: target, THA: mac(1), TPA: ip(1)}
	if diff := cmp.Diff(wantARP, parseARP(t, got["p1"][0]), cmpAddr); diff != "" {
		t.Errorf("ARP reply (-want +got):\n%s", diff)
	}
}

// expectFlooded checks that the ARP frame from p1 was flooded, not answered.
func expectFlooded(t *testing.T, f *fixture, fr []byte) {
	t.Helper()
	f.expect(f.fromPort("p1", fr), "flood 2", map[string][][]byte{"p2": {fr}},
		[]encap{{Dst: "192.0.2.2", VNI: vniBlue, Frame: fr}})
}

func TestARPProxyStaticNeighbor(t *testing.T) {
	f := arpFixture(t, nil)
	expectProxyReply(t, f, ip(8), mac(8))
	f.checkStats("blue", vswitch.Stats{Received: 1, Proxied: 1})
	// The asker was snooped: the proxy now knows 10.0.0.1 too.
	var learned bool
	for _, n := range f.s.Neighbors("blue") {
		if n.IP == ip(1) && n.MAC == mac(1) && n.Type == fdb.Learned {
			learned = true
		}
	}
	if !learned {
		t.Errorf("Neighbors = %+v, want the asker 10.0.0.1 learned", f.s.Neighbors("blue"))
	}
}

func TestARPProxyUnicastRequest(t *testing.T) {
	// A unicast refresh request (Ethernet destination = the neighbor) is
	// answered as well.
	f := arpFixture(t, nil)
	req := arpFrame(t, layers.ARPRequest, mac(1), mac(8), mac(1), ip(1), fdb.MAC{}, ip(8))
	if got := verdict(f.fromPort("p1", req)); got != "proxy p1" {
		t.Errorf("verdict = %q, want proxy p1", got)
	}
	f.quietBut("p1")
}

func TestARPProxySnoopedFromUnderlay(t *testing.T) {
	f := arpFixture(t, nil)
	// 10.0.0.7 (mac(7), behind .2) answers someone; the proxy snoops it.
	reply := arpReply(t, mac(7), ip(7), mac(1), ip(1))
	f.expect(f.fromUnderlay(vtep2, vniBlue, reply), "flood 2", map[string][][]byte{"p1": {reply}, "p2": {reply}}, nil)
	expectProxyReply(t, f, ip(7), mac(7))
}

func TestARPProxySnoopedFromPort(t *testing.T) {
	f := arpFixture(t, nil)
	// p2's host 10.0.0.2 answers someone behind .2.
	f.fromUnderlay(vtep2, vniBlue, frame(t, mac(7), macBroadcast))
	f.delivered()
	reply := arpReply(t, mac(2), ip(2), mac(7), ip(7))
	f.expect(f.fromPort("p2", reply), "vtep 192.0.2.2", nil, []encap{{Dst: "192.0.2.2", VNI: vniBlue, Frame: reply}})
	expectProxyReply(t, f, ip(2), mac(2))
}

func TestARPProxyGratuitous(t *testing.T) {
	tests := []struct {
		name string
		fr   func(t *testing.T) []byte
	}{
		{"request", func(t *testing.T) []byte { return arpRequest(t, mac(7), ip(7), ip(7)) }},
		{"reply", func(t *testing.T) []byte {
			return arpFrame(t, layers.ARPReply, mac(7), macBroadcast, mac(7), ip(7), macBroadcast, ip(7))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := arpFixture(t, nil)
			garp := tt.fr(t)
			f.expect(f.fromUnderlay(vtep2, vniBlue, garp), "flood 2", map[string][][]byte{"p1": {garp}, "p2": {garp}}, nil)
			want := []vswitch.NeighEntry{
				{Network: "blue", VNI: vniBlue, IP: ip(7), MAC: mac(7), Type: fdb.Learned},
				{Network: "blue", VNI: vniBlue, IP: ip(8), MAC: mac(8), Type: fdb.Static},
			}
			if diff := cmp.Diff(want, f.s.Neighbors("blue"), cmpAddr); diff != "" {
				t.Errorf("Neighbors (-want +got):\n%s", diff)
			}
			expectProxyReply(t, f, ip(7), mac(7))
		})
	}
}

func TestARPProxyUnknownIPFloods(t *testing.T) {
	f := arpFixture(t, nil)
	expectFlooded(t, f, arpRequest(t, mac(1), ip(1), ip(42)))
	f.checkStats("blue", vswitch.Stats{Received: 1, Flooded: 1})
}

func TestARPProxyNeverAnswers(t *testing.T) {
	tests := []struct {
		name string
		edit func(*vswitch.NetworkConfig)
		fr   func(t *testing.T) []byte
	}{
		{
			// Duplicate address detection must reach the real owner.
			name: "question about the asker's own address",
			edit: func(nc *vswitch.NetworkConfig) {
				nc.Neighbors = append(nc.Neighbors, vswitch.Neighbor{IP: ip(1), MAC: mac(9)})
			},
			fr: func(t *testing.T) []byte { return arpRequest(t, mac(1), ip(1), ip(1)) },
		},
		{
			name: "probe (sender 0.0.0.0)",
			fr: func(t *testing.T) []byte {
				return arpRequest(t, mac(1), netip.IPv4Unspecified(), ip(8))
			},
		},
		{
			name: "asker is the neighbor itself",
			fr:   func(t *testing.T) []byte { return arpRequest(t, mac(8), ip(1), ip(8)) },
		},
		{
			name: "proxy off",
			edit: func(nc *vswitch.NetworkConfig) { nc.ARPProxy = false },
			fr:   func(t *testing.T) []byte { return arpRequest(t, mac(1), ip(1), ip(8)) },
		},
		{
			name: "not Ethernet/IPv4 ARP",
			fr: func(t *testing.T) []byte {
				b := arpRequest(t, mac(1), ip(1), ip(8))
				b[14+3] = 0xdd // protocol 0x86dd
				return b
			},
		},
		{
			name: "truncated ARP body",
			fr:   func(t *testing.T) []byte { return arpRequest(t, mac(1), ip(1), ip(8))[:14+27] },
		},
		{
			name: "a reply is not a question",
			fr: func(t *testing.T) []byte {
				return arpFrame(t, layers.ARPReply, mac(1), macBroadcast, mac(1), ip(1), fdb.MAC{}, ip(8))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := arpFixture(t, tt.edit)
			expectFlooded(t, f, tt.fr(t))
			if st := f.stats("blue"); st.Proxied != 0 {
				t.Errorf("Proxied = %d, want 0", st.Proxied)
			}
		})
	}
}

func TestARPProbeTeachesNothing(t *testing.T) {
	f := arpFixture(t, nil)
	f.fromPort("p1", arpRequest(t, mac(1), netip.IPv4Unspecified(), ip(5)))
	f.fromUnderlay(vtep2, vniBlue, arpRequest(t, mac(7), netip.IPv4Unspecified(), ip(6)))
	if got := f.s.Neighbors("blue"); len(got) != 1 {
		t.Errorf("Neighbors = %+v, want only the static entry", got)
	}
}

func TestARPSpoofDoesNotOverrideStaticNeighbor(t *testing.T) {
	f := arpFixture(t, nil)
	// Someone behind .2 and someone on p2 claim 10.0.0.8.
	f.fromUnderlay(vtep2, vniBlue, arpReply(t, mac(66), ip(8), mac(1), ip(1)))
	f.fromPort("p2", arpFrame(t, layers.ARPReply, mac(67), macBroadcast, mac(67), ip(8), macBroadcast, ip(8)))
	f.delivered()
	f.sent()
	want := []vswitch.NeighEntry{{Network: "blue", VNI: vniBlue, IP: ip(8), MAC: mac(8), Type: fdb.Static}}
	if diff := cmp.Diff(want, f.s.Neighbors("blue"), cmpAddr); diff != "" {
		t.Errorf("Neighbors (-want +got):\n%s", diff)
	}
	expectProxyReply(t, f, ip(8), mac(8))
}

func TestARPProxyClosedPort(t *testing.T) {
	f := arpFixture(t, nil)
	f.dev["p1"].Close()
	if got := verdict(f.fromPort("p1", arpRequest(t, mac(1), ip(1), ip(8)))); got != "drop port_down" {
		t.Errorf("verdict = %q, want drop port_down", got)
	}
	f.quiet()
}
