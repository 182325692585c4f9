package vswitch_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vxswitch/vxswitch/fdb"
	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/vtep"
)

// header returns a datagram: the 8 given header bytes, then frame.
func header(h [8]byte, frame []byte) []byte { return append(h[:], frame...) }

// failSender is an underlay whose every send fails.
type failSender struct{}

func (failSender) Send([]byte, int, uint16, netip.Addr) error {
	return errors.New("network unreachable")
}

func TestDropReasons(t *testing.T) {
	withStatic := func(nc vswitch.NetworkConfig) vswitch.NetworkConfig {
		nc.StaticMACs = []vswitch.StaticMAC{{MAC: mac(8), VTEP: vtep4}}
		return nc
	}
	mcast := fdb.MAC{0x01, 0x00, 0x5e, 0, 0, 1}
	tests := []struct {
		name   string
		nets   []vswitch.NetworkConfig // default: blue with flood list [.2]
		strict bool
		ports  []portSpec // default: p1 and p2 in blue
		sender vtep.Sender
		setup  func(t *testing.T, f *fixture)
		send   func(t *testing.T, f *fixture) vswitch.Verdict
		want   string
		scope  string // the network that counts it; "" for unmatched
	}{
		{
			name: "runt from port",
			send: func(t *testing.T, f *fixture) vswitch.Verdict { return f.fromPort("p1", frame(t, mac(1), mac(2))[:13]) },
			want: "drop runt", scope: "blue",
		},
		{
			name: "empty frame from port",
			send: func(t *testing.T, f *fixture) vswitch.Verdict { return f.fromPort("p1", nil) },
			want: "drop runt", scope: "blue",
		},
		{
			name: "runt inner frame",
			send: func(t *testing.T, f *fixture) vswitch.Verdict {
				return f.fromUnderlay(vtep2, vniBlue, frame(t, mac(7), macBroadcast)[:13])
			},
			want: "drop runt", scope: "blue",
		},
		{
			name: "no inner frame",
			send: func(t *testing.T, f *fixture) vswitch.Verdict { return f.fromUnderlay(vtep2, vniBlue, nil) },
			want: "drop runt", scope: "blue",
		},
		{
			name: "multicast source from port",
			send: func(t *testing.T, f *fixture) vswitch.Verdict { return f.fromPort("p1", frame(t, mcast, mac(2))) },
			want: "drop bad_src_mac", scope: "blue",
		},
		{
			name: "broadcast source from port",
			send: func(t *testing.T, f *fixture) vswitch.Verdict {
				return f.fromPort("p1", frame(t, macBroadcast, mac(2)))
			},
			want: "drop bad_src_mac", scope: "blue",
		},
		{
			name: "zero source from port",
			send: func(t *testing.T, f *fixture) vswitch.Verdict { return f.fromPort("p1", frame(t, fdb.MAC{}, mac(2))) },
			want: "drop bad_src_mac", scope: "blue",
		},
		{
			name: "multicast source from underlay",
			send: func(t *testing.T, f *fixture) vswitch.Verdict {
				return f.fromUnderlay(vtep2, vniBlue, frame(t, mcast, macBroadcast))
			},
			want: "drop bad_src_mac", scope: "blue",
		},
		{
			name: "zero source from underlay",
			send: func(t *testing.T, f *fixture) vswitch.Verdict {
				return f.fromUnderlay(vtep2, vniBlue, frame(t, fdb.MAC{}, macBroadcast))
			},
			want: "drop bad_src_mac", scope: "blue",
		},
		{
			name: "vxlan runt",
			send: func(t *testing.T, f *fixture) vswitch.Verdict {
				return f.datagram(vtep2, []byte{0x08, 0, 0, 0, 0, 0x10, 0x01})
			},
			want: "drop vxlan_runt",
		},
		{
			name: "empty datagram",
			send: func(t *testing.T, f *fixture) vswitch.Verdict { return f.datagram(vtep2, nil) },
			want: "drop vxlan_runt",
		},
		{
			name: "vxlan without I flag",
			send: func(t *testing.T, f *fixture) vswitch.Verdict {
				return f.datagram(vtep2, header([8]byte{0, 0, 0, 0, 0, 0x10, 0x01, 0}, frame(t, mac(7), macBroadcast)))
			},
			want: "drop vxlan_no_i_flag",
		},
		{
			name:   "reserved flag bits, strict",
			strict: true,
			send: func(t *testing.T, f *fixture) vswitch.Verdict {
				return f.datagram(vtep2, header([8]byte{0x0c, 0, 0, 0, 0, 0x10, 0x01, 0}, frame(t, mac(7), macBroadcast)))
			},
			want: "drop vxlan_reserved_bits",
		},
		{
			name:   "reserved last byte, strict",
			strict: true,
			send: func(t *testing.T, f *fixture) vswitch.Verdict {
				return f.datagram(vtep2, header([8]byte{0x08, 0, 0, 0, 0, 0x10, 0x01, 0xff}, frame(t, mac(7), macBroadcast)))
			},
			want: "drop vxlan_reserved_bits",
		},
		{
			name: "reserved bits accepted when not strict",
			send: func(t *testing.T, f *fixture) vswitch.Verdict {
				return f.datagram(vtep2, header([8]byte{0xff, 0xff, 0xff, 0xff, 0, 0x10, 0x01, 0xff}, frame(t, mac(7), macBroadcast)))
			},
			want: "flood 2", scope: "blue",
		},
		{
			name:  "destination on the ingress port",
			setup: func(t *testing.T, f *fixture) { f.fromPort("p1", frame(t, mac(2), macBroadcast)) },
			send:  func(t *testing.T, f *fixture) vswitch.Verdict { return f.fromPort("p1", frame(t, mac(1), mac(2))) },
			want:  "drop same_port", scope: "blue",
		},
		{
			name:  "larger than the port MTU, from the underlay",
			ports: []portSpec{{name: "p1", network: "blue", mtu: 1000}},
			setup: func(t *testing.T, f *fixture) { f.fromPort("p1", frame(t, mac(1), macBroadcast)) },
			send: func(t *testing.T, f *fixture) vswitch.Verdict {
				return f.fromUnderlay(vtep2, vniBlue, udpFrame(t, mac(7), mac(1), 1, 1015))
			},
			want: "drop oversize", scope: "blue",
		},
		{
			name:  "flood larger than every port MTU, from the underlay",
			ports: []portSpec{{name: "p1", network: "blue", mtu: 1000}, {name: "p2", network: "blue", mtu: 1200}},
			send: func(t *testing.T, f *fixture) vswitch.Verdict {
				return f.fromUnderlay(vtep2, vniBlue, udpFrame(t, mac(7), macBroadcast, 1, 1215))
			},
			want: "drop oversize", scope: "blue",
		},
		{
			name:  "encapsulation larger than the underlay MTU",
			nets:  []vswitch.NetworkConfig{withStatic(blue(vtep2))},
			ports: []portSpec{{name: "p1", network: "blue", mtu: 1500}},
			send: func(t *testing.T, f *fixture) vswitch.Verdict {
				return f.fromPort("p1", udpFrame(t, mac(1), mac(8), 1, 1465))
			},
			want: "drop oversize", scope: "blue",
		},
		{
			name:  "flood larger than the underlay MTU",
			ports: []portSpec{{name: "p1", network: "blue", mtu: 1500}},
			send: func(t *testing.T, f *fixture) vswitch.Verdict {
				return f.fromPort("p1", udpFrame(t, mac(1), macBroadcast, 1, 1465))
			},
			want: "drop oversize", scope: "blue",
		},
		{
			name:  "larger than the ingress port MTU",
			ports: []portSpec{{name: "p1", network: "blue", mtu: 1000}, port("p2", "blue")},
			send: func(t *testing.T, f *fixture) vswitch.Verdict {
				return f.fromPort("p1", udpFrame(t, mac(1), macBroadcast, 1, 1015))
			},
			want: "drop oversize", scope: "blue",
		},
		{
			name:  "flood with nowhere to go",
			nets:  []vswitch.NetworkConfig{blue()},
			ports: []portSpec{port("p1", "blue")},
			send: func(t *testing.T, f *fixture) vswitch.Verdict {
				return f.fromPort("p1", frame(t, mac(1), macBroadcast))
			},
			want: "drop no_destination", scope: "blue",
		},
		{
			name:  "flood from the underlay with no port",
			ports: []portSpec{},
			send: func(t *testing.T, f *fixture) vswitch.Verdict {
				return f.fromUnderlay(vtep2, vniBlue, frame(t, mac(7), macBroadcast))
			},
			want: "drop no_destination", scope: "blue",
		},
		{
			name: "unicast to a closed port",
			setup: func(t *testing.T, f *fixture) {
				f.fromPort("p2", frame(t, mac(2), macBroadcast))
				f.dev["p2"].Close()
			},
			send: func(t *testing.T, f *fixture) vswitch.Verdict { return f.fromPort("p1", frame(t, mac(1), mac(2))) },
			want: "drop port_down", scope: "blue",
		},
		{
			name:  "flood from the underlay to a closed port",
			setup: func(t *testing.T, f *fixture) { f.dev["p2"].Close(); f.dev["p1"].Close() },
			send: func(t *testing.T, f *fixture) vswitch.Verdict {
				return f.fromUnderlay(vtep2, vniBlue, frame(t, mac(7), macBroadcast))
			},
			want: "drop port_down", scope: "blue",
		},
		{
			name:   "underlay send fails",
			nets:   []vswitch.NetworkConfig{withStatic(blue(vtep2))},
			sender: failSender{},
			send:   func(t *testing.T, f *fixture) vswitch.Verdict { return f.fromPort("p1", frame(t, mac(1), mac(8))) },
			want:   "drop underlay_tx_error", scope: "blue",
		},
		{
			name:   "flood to the underlay fails",
			ports:  []portSpec{port("p1", "blue")},
			sender: failSender{},
			send: func(t *testing.T, f *fixture) vswitch.Verdict {
				return f.fromPort("p1", frame(t, mac(1), macBroadcast))
			},
			want: "drop underlay_tx_error", scope: "blue",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nets := tt.nets
			if nets == nil {
				nets = []vswitch.NetworkConfig{blue(vtep2)}
			}
			ports := tt.ports
			if ports == nil {
				ports = []portSpec{port("p1", "blue"), port("p2", "blue")}
			}
			f := newFixture(t, vswitch.Config{Networks: nets, Strict: tt.strict}, ports...)
			if tt.sender != nil {
				f.w = f.s.NewWorker(tt.sender)
			}
			if tt.setup != nil {
				tt.setup(t, f)
				f.delivered()
				f.sent()
			}
			before := scopeStats(f, tt.scope)
			v := tt.send(t, f)
			if got := verdict(v); got != tt.want {
				t.Fatalf("verdict = %q, want %q", got, tt.want)
			}
			if v.Action == vswitch.ActionDrop {
				f.quiet()
			}
			after := scopeStats(f, tt.scope)
			if after.Received != before.Received+1 {
				t.Errorf("received %d → %d, want one more", before.Received, after.Received)
			}
			if v.Action == vswitch.ActionDrop {
				r := v.Reason.String()
				if after.Drops[r] != before.Drops[r]+1 {
					t.Errorf("drops[%s] %d → %d, want one more", r, before.Drops[r], after.Drops[r])
				}
			}
			if got := after.Forwarded + after.Flooded + after.Proxied + after.Dropped(); got != after.Received {
				t.Errorf("outcomes sum to %d, received %d", got, after.Received)
			}
		})
	}
}

func scopeStats(f *fixture, scope string) vswitch.Stats {
	if scope == "" {
		return f.unmatched()
	}
	return f.stats(scope)
}

// TestMTUBoundaries: a frame that exactly fits passes where one byte more
// is dropped as oversize.
func TestMTUBoundaries(t *testing.T) {
	nc := blue(vtep2)
	nc.StaticMACs = []vswitch.StaticMAC{{MAC: mac(8), VTEP: vtep4}}
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{nc}},
		portSpec{name: "p1", network: "blue", mtu: 1500}, portSpec{name: "small", network: "blue", mtu: 1000})
	f.fromPort("small", frame(t, mac(5), macBroadcast)) // learn mac(5) on small
	f.delivered()
	f.sent()

	// Underlay MTU 1500 on IPv4: 1500 - 20 (IP) - 8 (UDP) - 8 (VXLAN) = 1464.
	fits := udpFrame(t, mac(1), mac(8), 1, 1464)
	f.expect(f.fromPort("p1", fits), "vtep 192.0.2.4", nil, []encap{{Dst: "192.0.2.4", VNI: vniBlue, Frame: fits}})
	f.expect(f.fromPort("p1", udpFrame(t, mac(1), mac(8), 1, 1465)), "drop oversize", nil, nil)

	// A flood that exactly fits the underlay goes to the flood list; the
	// port "small" cannot take it and counts a drop.
	bfits := udpFrame(t, mac(1), macBroadcast, 1, 1464)
	f.expect(f.fromPort("p1", bfits), "flood 1", nil, []encap{{Dst: "192.0.2.2", VNI: vniBlue, Frame: bfits}})

	// Port MTU 1000: 1014-byte frames fit, 1015 do not; the port counts
	// what it could not take.
	pfits := udpFrame(t, mac(7), mac(5), 1, 1014)
	f.expect(f.fromUnderlay(vtep2, vniBlue, pfits), "port small", map[string][][]byte{"small": {pfits}}, nil)
	f.expect(f.fromUnderlay(vtep2, vniBlue, udpFrame(t, mac(7), mac(5), 1, 1015)), "drop oversize", nil, nil)
	f.expect(f.fromPort("small", udpFrame(t, mac(5), mac(1), 1, 1015)), "drop oversize", nil, nil)
	f.expect(f.fromPort("small", udpFrame(t, mac(5), mac(1), 1, 1014)), "port p1", map[string][][]byte{"p1": {udpFrame(t, mac(5), mac(1), 1, 1014)}}, nil)

	var drops uint64
	for _, p := range f.s.Ports() {
		if p.Name == "small" {
			drops = p.Drops
		}
	}
	if drops != 2 { // the 1464-byte flood and the 1015-byte unicast
		t.Errorf("port small Drops = %d, want 2", drops)
	}
}

// TestTaggedFrameMTU: an 802.1Q-tagged frame may be 4 bytes longer.
func TestTaggedFrameMTU(t *testing.T) {
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{blue()}},
		portSpec{name: "p1", network: "blue", mtu: 1000}, portSpec{name: "p2", network: "blue", mtu: 1000})
	tagged := func(n int) []byte {
		b := make([]byte, n)
		dst, src := macBroadcast, mac(1)
		copy(b, dst[:])
		copy(b[6:], src[:])
		b[12], b[13] = 0x81, 0x00 // 802.1Q, VLAN 5, then IPv4
		b[14], b[15] = 0x00, 0x05
		b[16], b[17] = 0x08, 0x00
		return b
	}
	fits := tagged(1018)
	f.expect(f.fromPort("p1", fits), "flood 1", map[string][][]byte{"p2": {fits}}, nil)
	f.expect(f.fromPort("p1", tagged(1019)), "drop oversize", nil, nil)
}

// TestEveryFrameCountedOnce drives a mixed run through two networks and
// checks that every frame lands in exactly one counter of exactly one scope,
// and that the counters agree with the verdicts returned.
func TestEveryFrameCountedOnce(t *testing.T) {
	nb := blue(vtep2, vtep3)
	nb.StaticMACs = []vswitch.StaticMAC{{MAC: mac(8), VTEP: vtep4}}
	nb.Neighbors = []vswitch.Neighbor{{IP: ip(8), MAC: mac(8)}}
	nr := red(vtep2)
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{nb, nr}},
		port("b1", "blue"), port("b2", "blue"), portSpec{name: "b3", network: "blue", mtu: 500},
		port("r1", "red"), port("r2", "red"))

	type tally struct {
		received, forwarded, flooded, proxied uint64
		drops                                 map[string]uint64
	}
	want := map[string]*tally{"blue": {drops: map[string]uint64{}}, "red": {drops: map[string]uint64{}}, "": {drops: map[string]uint64{}}}
	record := func(scope string, v vswitch.Verdict) {
		tl := want[scope]
		tl.received++
		switch v.Action {
		case vswitch.ActionPort, vswitch.ActionVTEP:
			tl.forwarded++
		case vswitch.ActionFlood:
			tl.flooded++
		case vswitch.ActionProxy:
			tl.proxied++
		default:
			tl.drops[v.Reason.String()]++
		}
	}

	macs := []fdb.MAC{mac(1), mac(2), mac(3), mac(7), mac(8), macBroadcast, macMDNS, {}}
	portsOf := map[string][]string{"blue": {"b1", "b2", "b3"}, "red": {"r1", "r2"}}
	vnis := []uint32{vniBlue, vniRed, 5000}
	srcs := []netip.Addr{vtep2, vtep3, vtep4, vtepStray}
	sizes := []int{60, 100, 600, 1464, 1465, 1600}
	seed := uint32(1)
	rnd := func(n int) int { // xorshift: deterministic and dependency-free
		seed ^= seed << 13
		seed ^= seed >> 17
		seed ^= seed << 5
		return int(seed % uint32(n))
	}
	for i := range 3000 {
		src, dst := macs[rnd(len(macs))], macs[rnd(len(macs))]
		var fr []byte
		switch rnd(6) {
		case 0:
			fr = arpRequest(t, src, ip(src[5]), ip(byte(rnd(10))))
		case 1:
			fr = frame(t, src, dst)[:rnd(20)] // runts and bare headers
		default:
			fr = udpFrame(t, src, dst, uint16(rnd(4)), sizes[rnd(len(sizes))])
		}
		if i%2 == 0 {
			net := []string{"blue", "red"}[rnd(2)]
			ps := portsOf[net]
			record(net, f.fromPort(ps[rnd(len(ps))], fr))
		} else {
			vni := vnis[rnd(len(vnis))]
			b := encapsulate(vni, fr)
			if rnd(10) == 0 {
				b[0] = 0 // no I flag
			}
			if rnd(10) == 0 {
				b = b[:rnd(8)]
			}
			v := f.datagram(srcs[rnd(len(srcs))], b)
			scope := ""
			if got, err := vtep.Parse(b, false); err == nil && got != 5000 {
				scope = map[uint32]string{vniBlue: "blue", vniRed: "red"}[got]
			}
			record(scope, v)
		}
		f.delivered()
		f.sent()
	}

	for scope, tl := range want {
		got := scopeStats(f, scope)
		wantStats := vswitch.Stats{Received: tl.received, Forwarded: tl.forwarded, Flooded: tl.flooded,
			Proxied: tl.proxied, Drops: tl.drops, LearnFull: got.LearnFull}
		if diff := cmp.Diff(wantStats, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("scope %q: stats disagree with the verdicts returned (-want +got):\n%s", scope, diff)
		}
		if sum := got.Forwarded + got.Flooded + got.Proxied + got.Dropped(); sum != got.Received {
			t.Errorf("scope %q: outcomes sum to %d, received %d", scope, sum, got.Received)
		}
	}
	if total := want["blue"].received + want["red"].received + want[""].received; total != 3000 {
		t.Errorf("%d frames counted, want 3000", total)
	}
	for scope, tl := range want {
		t.Logf("scope %q: %+v", scope, *tl)
	}
}
