package vswitch_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/layers"

	"github.com/vxswitch/vxswitch/fdb"
	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/vtep/vteptest"
)

// Within a read batch a Worker reuses the decision for a frame with the
// port, source and destination of the frame just before it (see fromPort).
// These tests check that the reuse never shows: what each frame does is
// what it did before the reuse existed.

// batch forwards frames from port name as one read batch.
func (f *fixture) batch(name string, frames ...[]byte) []string {
	f.t.Helper()
	f.w.StartBatch()
	defer f.w.Flush()
	var got []string
	for _, fr := range frames {
		got = append(got, verdict(f.fromPort(name, fr)))
	}
	return got
}

func TestLastFrameRunOfOneFlow(t *testing.T) {
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{blue(vtep2, vtep3)}},
		port("p1", "blue"), port("p2", "blue"))
	f.fromUnderlay(vtep2, vniBlue, frame(t, mac(7), macBroadcast))
	f.delivered()
	f.sent()
	var frames [][]byte
	var want []encap
	for i := range 5 {
		fr := udpFrame(t, mac(1), mac(7), uint16(40000+i), 100+i)
		frames = append(frames, fr)
		want = append(want, encap{Dst: "192.0.2.2", VNI: vniBlue, Frame: fr})
	}
	if got := f.batch("p1", frames...); fmt.Sprint(got) != fmt.Sprint(repeat("vtep 192.0.2.2", 5)) {
		t.Fatalf("verdicts %v", got)
	}
	if diff := cmp.Diff(want, f.sent(), ignoreSport); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
	if got := f.delivered(); len(got) != 0 {
		t.Errorf("ports got %d frames, want none", len(got))
	}
	if got := f.where("blue", mac(1)); got != "port p1" {
		t.Errorf("mac(1) at %q, want port p1", got)
	}
	if st := f.stats("blue"); st.Received != 6 || st.Forwarded != 5 || st.Flooded != 1 {
		t.Errorf("stats %+v: want 6 received, 5 forwarded, 1 flooded", st)
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// TestLastFrameMoveBetweenBatches: the fake clock stands still, so both batches
// start at the same instant; a MAC that moved between them is found where
// it went.
func TestLastFrameMoveBetweenBatches(t *testing.T) {
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{blue(vtep2, vtep3)}},
		port("p1", "blue"), port("p2", "blue"))
	f.fromUnderlay(vtep2, vniBlue, frame(t, mac(7), macBroadcast))
	fr := frame(t, mac(1), mac(7))
	if got := f.batch("p1", fr, fr); fmt.Sprint(got) != "[vtep 192.0.2.2 vtep 192.0.2.2]" {
		t.Fatalf("first batch: %v", got)
	}
	f.fromUnderlay(vtep3, vniBlue, frame(t, mac(7), macBroadcast)) // mac(7) moves behind .3
	if got := f.batch("p1", fr, fr); fmt.Sprint(got) != "[vtep 192.0.2.3 vtep 192.0.2.3]" {
		t.Fatalf("after the move: %v", got)
	}
	f.fromPort("p2", frame(t, mac(7), macBroadcast)) // and onto p2, outside any batch
	if got := f.batch("p1", fr); fmt.Sprint(got) != "[port p2]" {
		t.Fatalf("after the move to p2: %v", got)
	}
}

// TestLastFrameMoveWithinBatch: a frame in between that moves the destination
// (here onto the sending port, in a broadcast, which is not looked up)
// ends the reuse.
func TestLastFrameMoveWithinBatch(t *testing.T) {
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{blue(vtep2, vtep3)}},
		port("p1", "blue"), port("p2", "blue"))
	f.fromUnderlay(vtep2, vniBlue, frame(t, mac(7), macBroadcast))
	f.fromPort("p1", frame(t, mac(1), macBroadcast))
	ab := frame(t, mac(1), mac(7))
	got := f.batch("p1", ab, ab, frame(t, mac(7), macBroadcast), ab)
	if want := "[vtep 192.0.2.2 vtep 192.0.2.2 flood 3 drop same_port]"; fmt.Sprint(got) != want {
		t.Fatalf("verdicts %v, want %s", got, want)
	}
}

// TestLastFrameLearnFullCountsEveryFrame: with the table full, each frame from
// a source that cannot be learned counts once in LearnFull.
func TestLastFrameLearnFullCountsEveryFrame(t *testing.T) {
	nc := blue(vtep2)
	nc.MaxMACs = 2
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{nc}}, port("p1", "blue"), port("p2", "blue"))
	f.fromPort("p2", frame(t, mac(2), macBroadcast))
	f.fromUnderlay(vtep2, vniBlue, frame(t, mac(7), macBroadcast))
	before := f.stats("blue").LearnFull
	fr := frame(t, mac(1), mac(7))
	if got := f.batch("p1", fr, fr, fr); fmt.Sprint(got) != fmt.Sprint(repeat("vtep 192.0.2.2", 3)) {
		t.Fatalf("verdicts %v", got)
	}
	if got := f.stats("blue").LearnFull - before; got != 3 {
		t.Errorf("LearnFull rose by %d for 3 frames from an unlearnable MAC, want 3", got)
	}
}

// TestLastFrameARPAndNDAreAlwaysInspected: an ARP reply and an ND advertisement
// with the port and MACs of the IPv4 frame before them are still snooped.
func TestLastFrameARPAndNDAreAlwaysInspected(t *testing.T) {
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{blue(vtep2)}}, port("p1", "blue"), port("p2", "blue"))
	f.fromUnderlay(vtep2, vniBlue, frame(t, mac(7), macBroadcast))
	ip6 := netip.MustParseAddr("2001:db8:1::1")
	na := ndFrame(t, layers.ICMPv6TypeNeighborAdvertisement, mac(1), ip6, ip6, mac(1))
	m7 := mac(7)
	copy(na, m7[:]) // unicast to mac(7), as the frames around it
	f.batch("p1",
		frame(t, mac(1), mac(7)),
		arpReply(t, mac(1), ip(1), mac(7), ip(7)),
		frame(t, mac(1), mac(7)),
		na)
	got := map[netip.Addr]fdb.MAC{}
	for _, e := range f.s.Neighbors("blue") {
		got[e.IP] = e.MAC
	}
	if got[ip(1)] != mac(1) || got[ip6] != mac(1) {
		t.Errorf("neighbors %v: want %v and %v at %v, snooped from the ARP reply and the NA", got, ip(1), ip6, mac(1))
	}
}

func TestLastFrameAllocatesNothing(t *testing.T) {
	h := newHotPath(t, 1500)
	p1 := h.f.port["p1"]
	bufs := [][]byte{
		portBuf(frame(t, mac(1), mac(7))), portBuf(frame(t, mac(1), mac(7))),
		portBuf(frame(t, mac(1), mac(2))), portBuf(frame(t, mac(1), mac(2))),
	}
	run := func() {
		h.f.w.StartBatch()
		for _, b := range bufs {
			h.f.w.FromPort(p1, b, vswitch.Headroom, len(b)-vswitch.Headroom)
		}
		h.f.w.Flush()
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("a batch of 4 frames allocates %v times, want 0", n)
	}
}

// BenchmarkFromPortBatch forwards the 45 segments of a 64 KiB TSO
// super-frame (1448-byte payloads) as one read batch, as a port reader
// does; ns/op is per segment.
func BenchmarkFromPortBatch(b *testing.B) {
	const segs = 45
	h := newHotPath(b, benchUnderlayMTU)
	h.f.w = h.f.s.NewWorker(&vteptest.Discard{})
	p1 := h.f.port["p1"]
	buf := portBuf(udpFrame(b, mac(1), mac(7), 40000, 1514))
	b.SetBytes(1514)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += segs {
		h.f.w.StartBatch()
		for range min(segs, b.N-i) {
			h.f.w.FromPort(p1, buf, vswitch.Headroom, len(buf)-vswitch.Headroom)
		}
		h.f.w.Flush()
	}
}
