package interop

import (
	"testing"

	"github.com/vxswitch/vxswitch/internal/nstest"
)

// TestIntegrationKernelIPv6Underlay: over an IPv6 underlay, where the
// kernel drops zero-checksum datagrams, TCP works both ways, over both
// overlay families; on the wire every vxswitch datagram carries a correct
// UDP checksum (computed by the kernel via IPV6_CHECKSUM on vxswitch's raw
// socket) and the kernel's carry one too.
func TestIntegrationKernelIPv6Underlay(t *testing.T) {
	nstest.RequireRoot(t)
	tp := newTopology(t, topoOptions{IPv6Underlay: true})
	capt := startCapture(t, tp.A, tp.UnderlayA)
	transfer(t, tp.CA, tp.CB, overlay4B.Addr(), 1, 2<<20)
	transfer(t, tp.CB, tp.CA, overlay4A.Addr(), 1, 2<<20)
	exchange(t, tp.CA, tp.CB, overlay6B.Addr())
	exchange(t, tp.CB, tp.CA, overlay6A.Addr())
	gs := datagrams(capt.Stop(t))

	ours := from(gs, tp.AddrA)
	if len(ours) == 0 {
		t.Fatal("captured no datagram from vxswitch")
	}
	verified := 0
	for i, g := range ours {
		if g.udpSum == 0 {
			t.Fatalf("vxswitch datagram %d: zero UDP checksum over IPv6", i)
		}
		if g.ipLen > underlayMTU {
			t.Fatalf("vxswitch datagram %d: IPv6 packet of %d bytes exceeds the underlay MTU %d", i, g.ipLen, underlayMTU)
		}
		if !g.csumNotReady && g.complete() {
			if !g.checksumOK() {
				t.Fatalf("vxswitch datagram %d: bad UDP checksum %#04x", i, g.udpSum)
			}
			verified++
		}
	}
	if verified == 0 {
		t.Errorf("none of vxswitch's %d datagrams had a checksum the capture could verify", len(ours))
	}
	t.Logf("vxswitch: %d datagrams, %d checksums verified", len(ours), verified)

	kernel := from(gs, tp.AddrB)
	if len(kernel) == 0 {
		t.Fatal("captured no datagram from the kernel")
	}
	low, high, err := localPortRange(tp.B)
	if err != nil {
		t.Fatal(err)
	}
	checkKernelDatagrams(t, kernel, true, low, high)
}

// TestIntegrationKernelIPv6Overlay: the containers' IPv6 addresses work
// over the IPv4 underlay. Without a neighbor entry vxswitch floods cA's
// neighbor solicitation to the kernel, which delivers it to cB (the capture
// sees it); with a static entry for cB's address, vxswitch's ND proxy
// answers it and no solicitation for that target crosses the underlay.
func TestIntegrationKernelIPv6Overlay(t *testing.T) {
	nstest.RequireRoot(t)
	target := overlay6B.Addr()
	for _, tc := range []struct {
		name      string
		neighbors []neighbor
		proxied   bool
	}{
		{name: "solicitation flooded"},
		{name: "solicitation proxied", neighbors: []neighbor{{target, macB}}, proxied: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := newTopology(t, topoOptions{Neighbors: tc.neighbors})
			capt := startCapture(t, tp.A, tp.UnderlayA)
			before := tp.stats().Proxied
			exchange(t, tp.CA, tp.CB, target)
			exchange(t, tp.CB, tp.CA, overlay6A.Addr())
			transfer(t, tp.CA, tp.CB, target, 1, 1<<20)
			proxied := tp.stats().Proxied - before
			frames := capt.Stop(t)

			d := newDecoder()
			solicits := 0
			for _, g := range datagrams(frames) {
				if a, ok := d.nsTarget(g); ok && a == target {
					solicits++
				}
			}
			t.Logf("vxswitch proxied %d frames; %d solicitations for %s crossed the underlay", proxied, solicits, target)
			switch {
			case tc.proxied && solicits > 0:
				t.Errorf("%d solicitations for %s crossed the underlay; the ND proxy should have answered them", solicits, target)
			case tc.proxied && proxied == 0:
				t.Errorf("Stats().Proxied did not grow: vxswitch answered no solicitation for %s", target)
			case !tc.proxied && solicits == 0:
				t.Errorf("no solicitation for %s crossed the underlay without a neighbor entry (is the capture blind?)", target)
			}
		})
	}
}
