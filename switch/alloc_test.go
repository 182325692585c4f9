package vswitch_test

import (
	"net/netip"
	"testing"

	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/vtep/vteptest"
)

// hotPath is a switch whose ports and underlay only count what they are
// sent, so that the forwarding path's own allocations are all that remain.
// Network blue: ports p1 (mac(1)), p2 (mac(2)) and p3, flood list [.2, .3],
// mac(7) learned behind .2, static neighbor 10.0.0.8 → mac(8).
type hotPath struct {
	f  *fixture
	tx *vteptest.Discard
}

func newHotPath(tb testing.TB, mtu int) *hotPath {
	nc := blue(vtep2, vtep3)
	nc.Neighbors = []vswitch.Neighbor{{IP: ip(8), MAC: mac(8)}}
	f := newFixture(tb, vswitch.Config{MTU: mtu, Networks: []vswitch.NetworkConfig{nc}},
		portSpec{name: "p1", network: "blue", mtu: 1500, discard: true},
		portSpec{name: "p2", network: "blue", mtu: 1500, discard: true},
		portSpec{name: "p3", network: "blue", mtu: 1500, discard: true})
	tx := &vteptest.Discard{}
	f.w = f.s.NewWorker(tx)
	f.fromPort("p1", frame(tb, mac(1), macBroadcast))
	f.fromPort("p2", frame(tb, mac(2), macBroadcast))
	f.fromUnderlay(vtep2, vniBlue, frame(tb, mac(7), macBroadcast))
	return &hotPath{f: f, tx: tx}
}

// portBuf returns a buffer holding fr at Headroom, as a port reader has it.
func portBuf(fr []byte) []byte {
	buf := make([]byte, vswitch.Headroom+len(fr))
	copy(buf[vswitch.Headroom:], fr)
	return buf
}

// fromPortFn returns a call forwarding buf (a frame at Headroom) from p.
func (h *hotPath) fromPortFn(p *vswitch.Port, buf []byte) func() vswitch.Verdict {
	return func() vswitch.Verdict { return h.f.w.FromPort(p, buf, vswitch.Headroom, len(buf)-vswitch.Headroom) }
}

// fromUnderlayFn returns a call forwarding datagram b from .2.
func (h *hotPath) fromUnderlayFn(b []byte) func() vswitch.Verdict {
	src := netip.AddrPortFrom(vtep2, 50123)
	return func() vswitch.Verdict { return h.f.w.FromUnderlay(src, b) }
}

func TestForwardingAllocatesNothing(t *testing.T) {
	h := newHotPath(t, 1500)
	p1 := h.f.port["p1"]
	tests := []struct {
		name string
		fn   func() vswitch.Verdict
		want string
	}{
		{"FromPort local unicast", h.fromPortFn(p1, portBuf(frame(t, mac(1), mac(2)))), "port p2"},
		{"FromPort remote unicast", h.fromPortFn(p1, portBuf(frame(t, mac(1), mac(7)))), "vtep 192.0.2.2"},
		{"FromPort flood", h.fromPortFn(p1, portBuf(frame(t, mac(1), macBroadcast))), "flood 4"},
		{"FromPort ARP proxy reply", h.fromPortFn(p1, portBuf(arpRequest(t, mac(1), ip(1), ip(8)))), "proxy p1"},
		{"FromPort drop", h.fromPortFn(p1, portBuf(frame(t, macBroadcast, mac(2)))), "drop bad_src_mac"},
		{"FromUnderlay unicast", h.fromUnderlayFn(encapsulate(vniBlue, frame(t, mac(7), mac(1)))), "port p1"},
		{"FromUnderlay flood", h.fromUnderlayFn(encapsulate(vniBlue, frame(t, mac(7), macBroadcast))), "flood 3"},
		{"FromUnderlay unknown VNI", h.fromUnderlayFn(encapsulate(5000, frame(t, mac(7), macBroadcast))), "drop unknown_vni"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := verdict(tt.fn()); got != tt.want { // also warms up
				t.Fatalf("verdict = %q, want %q", got, tt.want)
			}
			if allocs := testing.AllocsPerRun(1000, func() { tt.fn() }); allocs != 0 {
				t.Errorf("%v allocations per frame, want 0", allocs)
			}
		})
	}
}
