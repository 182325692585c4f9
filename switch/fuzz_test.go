package vswitch_test

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/vxswitch/vxswitch/internal/csum"
	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/vtep"
)

// fuzzFixture is a fresh switch per input, so every crasher reproduces from
// its bytes alone: networks blue (VNI 4097, flood list [.2, .3], static
// mac(8) behind .4, proxy on) and red (VNI 4098, unknown peers allowed,
// learning off), two ports each, with mac(1) learned on b1, mac(11) on r1
// and mac(7) behind .3 in blue.
func fuzzFixture(t *testing.T) *fixture {
	nb := blue(vtep2, vtep3)
	nb.StaticMACs = []vswitch.StaticMAC{{MAC: mac(8), VTEP: vtep4}}
	nb.Neighbors = []vswitch.Neighbor{{IP: ip(8), MAC: mac(8)}}
	nr := red(vtep2)
	nr.AllowUnknownPeers = true
	nr.Learning = false
	nr.ARPProxy = false
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{nb, nr}},
		port("b1", "blue"), portSpec{name: "b2", network: "blue", mtu: 1000}, port("r1", "red"), port("r2", "red"))
	f.fromPort("b1", frame(t, mac(1), mac(8)))
	f.fromUnderlay(vtep3, vniBlue, frame(t, mac(7), mac(1)))
	f.delivered()
	f.sent()
	return f
}

func FuzzFromUnderlay(f *testing.F) {
	seed := func(vni uint32, fr []byte) []byte { return encapsulate(vni, fr) }
	f.Add(seed(vniBlue, frame(f, mac(9), macBroadcast)), byte(2))
	f.Add(seed(vniBlue, frame(f, mac(9), mac(1))), byte(2))
	f.Add(seed(vniBlue, frame(f, mac(9), mac(7))), byte(2))
	f.Add(seed(vniBlue, frame(f, mac(9), mac(8))), byte(4))
	f.Add(seed(vniBlue, udpFrame(f, mac(9), macBroadcast, 1, 1200)), byte(3))
	f.Add(seed(vniBlue, arpReply(f, mac(9), ip(9), mac(1), ip(1))), byte(2))
	f.Add(seed(vniBlue, arpRequest(f, mac(9), ip(9), ip(8))), byte(2))
	f.Add(seed(vniRed, frame(f, mac(9), macBroadcast)), byte(77))
	f.Add(seed(vniRed, frame(f, mac(1), mac(11))), byte(2))
	f.Add(seed(vniBlue, frame(f, mac(9), macBroadcast)), byte(99))
	f.Add(seed(5000, frame(f, mac(9), macBroadcast)), byte(2))
	f.Add(seed(vniBlue, nil), byte(2))
	f.Add([]byte{0x08, 0, 0, 0, 0, 0x10, 0x01}, byte(2))
	f.Add([]byte{0, 0, 0, 0, 0, 0x10, 0x01, 0, 1, 2, 3}, byte(2))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0x10, 0x01, 0xff}, byte(2))

	portVNI := map[string]uint32{"b1": vniBlue, "b2": vniBlue, "r1": vniRed, "r2": vniRed}
	f.Fuzz(func(t *testing.T, b []byte, srcByte byte) {
		fx := fuzzFixture(t)
		src := netip.AddrFrom4([4]byte{192, 0, 2, srcByte})
		before := totalReceived(fx.s)
		orig := append([]byte(nil), b...)

		v := fx.w.FromUnderlay(netip.AddrPortFrom(src, 50123), b)

		if got := totalReceived(fx.s); got != before+1 {
			t.Errorf("counted %d times, want once (verdict %s)", got-before, verdict(v))
		}
		checkScopesAddUp(t, fx.s)
		if sent := fx.rec.Take(); len(sent) != 0 {
			t.Errorf("%d datagrams sent back to the underlay (verdict %s)", len(sent), verdict(v))
		}
		// The only change allowed: finishing an inner TCP/UDP checksum a
		// sending kernel left partial (what csum.FixPartial does to a copy).
		want := append([]byte(nil), orig...)
		if len(want) > vtep.HeaderLen && v.Action != vswitch.ActionDrop {
			csum.FixPartial(want[vtep.HeaderLen:])
		}
		if !bytes.Equal(b, want) {
			t.Errorf("FromUnderlay changed the datagram beyond finishing a partial checksum")
		}
		switch v.Action {
		case vswitch.ActionVTEP, vswitch.ActionProxy:
			t.Errorf("verdict %s for a datagram", verdict(v))
		}

		vni, err := vtep.Parse(b, false)
		delivered := 0
		for name, frames := range fx.delivered() {
			if err != nil {
				t.Errorf("port %s got %d frames from a datagram that is not VXLAN", name, len(frames))
				continue
			}
			if portVNI[name] != vni {
				t.Errorf("port %s (VNI %d) got %d frames from VNI %d", name, portVNI[name], len(frames), vni)
			}
			for _, fr := range frames {
				if !bytes.Equal(fr, b[vtep.HeaderLen:]) {
					t.Errorf("port %s got a frame that is not the inner frame", name)
				}
			}
			delivered += len(frames)
		}
		switch v.Action {
		case vswitch.ActionDrop:
			if delivered != 0 {
				t.Errorf("dropped (%s) yet %d frames delivered", v.Reason, delivered)
			}
		case vswitch.ActionPort:
			if delivered != 1 {
				t.Errorf("unicast to %s delivered %d frames", v.Port.Name(), delivered)
			}
		case vswitch.ActionFlood:
			if delivered != v.Copies || v.Copies == 0 {
				t.Errorf("flood of %d copies delivered %d frames", v.Copies, delivered)
			}
		}
	})
}

func totalReceived(s *vswitch.Switch) uint64 {
	nets, unmatched := s.Stats()
	n := unmatched.Received
	for _, ns := range nets {
		n += ns.Stats.Received
	}
	return n
}

// checkScopesAddUp checks that, in every scope, each received frame has
// exactly one outcome.
func checkScopesAddUp(t *testing.T, s *vswitch.Switch) {
	t.Helper()
	nets, unmatched := s.Stats()
	scopes := map[string]vswitch.Stats{"unmatched": unmatched}
	for _, ns := range nets {
		scopes[ns.Name] = ns.Stats
	}
	for name, st := range scopes {
		if sum := st.Forwarded + st.Flooded + st.Proxied + st.Dropped(); sum != st.Received {
			t.Errorf("%s: outcomes sum to %d, received %d", name, sum, st.Received)
		}
	}
}
