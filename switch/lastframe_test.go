package vswitch_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/layers"

	"github.com/vxswitch/vxswitch/fdb"
	vswitch "github.com/vxswitch/vxswitch/switch"
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
	checkSnooped(t, f, ip(1), ip6, mac(1))
}

// checkSnooped checks that network blue's neighbor table maps both v4 and
// v6 to m, as snooped from an ARP reply and a neighbor advertisement that
// came inside a run of frames.
func checkSnooped(t *testing.T, f *fixture, v4, v6 netip.Addr, m fdb.MAC) {
	t.Helper()
	got := map[netip.Addr]fdb.MAC{}
	for _, e := range f.s.Neighbors("blue") {
		got[e.IP] = e.MAC
	}
	if got[v4] != m || got[v6] != m {
		t.Errorf("neighbors %v: want %v and %v at %v, snooped from the ARP reply and the NA", got, v4, v6, m)
	}
}

func TestLastFrameAllocatesNothing(t *testing.T) {
	h := newHotPath(t, 1500)
	p1 := h.f.port["p1"]
	bufs := [][]byte{
		portBuf(frame(t, mac(1), mac(7))), portBuf(frame(t, mac(1), mac(7))),
		portBuf(frame(t, mac(1), mac(2))), portBuf(frame(t, mac(1), mac(2))),
	}
	checkBatchAllocs(t, h.f.w, len(bufs), "frames", func(i int) {
		h.f.w.FromPort(p1, bufs[i], vswitch.Headroom, len(bufs[i])-vswitch.Headroom)
	})
}

// checkBatchAllocs fails t if n calls of one(i), as one read batch of w,
// allocate.
func checkBatchAllocs(t *testing.T, w *vswitch.Worker, n int, what string, one func(i int)) {
	t.Helper()
	run := func() { inBatches(w, n, n, one) }
	run()
	if got := testing.AllocsPerRun(100, run); got != 0 {
		t.Errorf("a batch of %d %s allocates %v times, want 0", n, what, got)
	}
}

// BenchmarkFromPortBatch forwards 45 frames of one flow (1514 bytes, as
// many as a 64 KiB TSO super-frame cuts into) as one read batch, as a port
// reader does; ns/op is per frame.
func BenchmarkFromPortBatch(b *testing.B) {
	const segs = 45
	h := newHotPath(b, benchUnderlayMTU)
	p1 := h.f.port["p1"]
	buf := portBuf(udpFrame(b, mac(1), mac(7), 40000, 1514))
	b.SetBytes(1514)
	b.ReportAllocs()
	b.ResetTimer()
	inBatches(h.f.w, b.N, segs, func(int) { h.f.w.FromPort(p1, buf, vswitch.Headroom, len(buf)-vswitch.Headroom) })
}

// inBatches makes n calls of fn(i), i counting from 0, in read batches of
// w of up to segs calls.
func inBatches(w *vswitch.Worker, n, segs int, fn func(i int)) {
	for i := 0; i < n; {
		w.StartBatch()
		for end := min(i+segs, n); i < end; i++ {
			fn(i)
		}
		w.Flush()
	}
}

// The same for datagrams from the underlay (fromUnderlay).

// dgram is one VXLAN datagram: its sender, VNI and inner frame.
type dgram struct {
	from  netip.Addr
	vni   uint32
	frame []byte
}

// underlayBatch forwards datagrams as one read batch.
func (f *fixture) underlayBatch(dgs ...dgram) []string {
	f.t.Helper()
	f.w.StartBatch()
	defer f.w.Flush()
	var got []string
	for _, d := range dgs {
		got = append(got, verdict(f.fromUnderlay(d.from, d.vni, d.frame)))
	}
	return got
}

func newUnderlayRunFixture(t *testing.T, nc ...vswitch.NetworkConfig) *fixture {
	t.Helper()
	if len(nc) == 0 {
		nc = []vswitch.NetworkConfig{blue(vtep2, vtep3)}
	}
	f := newFixture(t, vswitch.Config{Networks: nc}, port("p1", "blue"), port("p2", "blue"))
	f.fromPort("p1", frame(t, mac(1), macBroadcast))
	f.delivered()
	f.sent()
	return f
}

func TestLastDatagramRunOfOneFlow(t *testing.T) {
	f := newUnderlayRunFixture(t)
	var dgs []dgram
	var want [][]byte
	for i := range 5 {
		fr := udpFrame(t, mac(7), mac(1), uint16(40000+i), 100+i)
		dgs = append(dgs, dgram{vtep2, vniBlue, fr})
		want = append(want, fr)
	}
	if got := f.underlayBatch(dgs...); fmt.Sprint(got) != fmt.Sprint(repeat("port p1", 5)) {
		t.Fatalf("verdicts %v", got)
	}
	if diff := cmp.Diff(map[string][][]byte{"p1": want}, f.delivered()); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	if got := f.where("blue", mac(7)); got != "vtep 192.0.2.2" {
		t.Errorf("mac(7) at %q, want vtep 192.0.2.2", got)
	}
	rx := map[netip.Addr]uint64{}
	for _, p := range f.s.Peers() {
		rx[p.Addr] = p.IO.RxFrames
	}
	if rx[vtep2] != 5 {
		t.Errorf("peer %v counted %d datagrams, want 5", vtep2, rx[vtep2])
	}
}

// TestLastDatagramKeyedOnSenderAndNetwork: the same inner MACs from another
// VTEP are learned there, and in another network go to that network.
func TestLastDatagramKeyedOnSenderAndNetwork(t *testing.T) {
	nb, nr := blue(vtep2, vtep3), red(vtep2, vtep3)
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{nb, nr}},
		port("p1", "blue"), port("p2", "blue"), port("r1", "red"))
	f.fromPort("p1", frame(t, mac(1), macBroadcast))
	f.fromPort("r1", frame(t, mac(1), macBroadcast))
	fr := frame(t, mac(7), mac(1))
	got := f.underlayBatch(dgram{vtep2, vniBlue, fr}, dgram{vtep3, vniBlue, fr}, dgram{vtep3, vniRed, fr})
	if want := "[port p1 port p1 port r1]"; fmt.Sprint(got) != want {
		t.Fatalf("verdicts %v, want %s", got, want)
	}
	if got := f.where("blue", mac(7)); got != "vtep 192.0.2.3" {
		t.Errorf("blue: mac(7) at %q, want vtep 192.0.2.3, where its last datagram came from", got)
	}
	if got := f.where("red", mac(7)); got != "vtep 192.0.2.3" {
		t.Errorf("red: mac(7) at %q, want vtep 192.0.2.3", got)
	}
}

// TestLastDatagramMoves: a move between batches (clock standing still) and
// one within a batch (the destination shows up behind the sender, in a
// broadcast) are both followed.
func TestLastDatagramMoves(t *testing.T) {
	f := newUnderlayRunFixture(t)
	fr := frame(t, mac(7), mac(1))
	if got := f.underlayBatch(dgram{vtep2, vniBlue, fr}, dgram{vtep2, vniBlue, fr}); fmt.Sprint(got) != "[port p1 port p1]" {
		t.Fatalf("first batch: %v", got)
	}
	f.fromPort("p2", frame(t, mac(1), macBroadcast))
	if got := f.underlayBatch(dgram{vtep2, vniBlue, fr}); fmt.Sprint(got) != "[port p2]" {
		t.Fatalf("after mac(1) moved to p2: %v", got)
	}
	got := f.underlayBatch(dgram{vtep2, vniBlue, fr}, dgram{vtep2, vniBlue, frame(t, mac(1), macBroadcast)}, dgram{vtep2, vniBlue, fr})
	if want := "[port p2 flood 2 drop split_horizon]"; fmt.Sprint(got) != want {
		t.Fatalf("move within a batch: %v, want %s", got, want)
	}
}

func TestLastDatagramLearnFullAndSnooping(t *testing.T) {
	nc := blue(vtep2)
	nc.MaxMACs = 1
	f := newUnderlayRunFixture(t, nc)
	before := f.stats("blue").LearnFull
	fr := frame(t, mac(7), mac(1))
	if got := f.underlayBatch(dgram{vtep2, vniBlue, fr}, dgram{vtep2, vniBlue, fr}, dgram{vtep2, vniBlue, fr}); fmt.Sprint(got) != fmt.Sprint(repeat("port p1", 3)) {
		t.Fatalf("verdicts %v", got)
	}
	if got := f.stats("blue").LearnFull - before; got != 3 {
		t.Errorf("LearnFull rose by %d for 3 datagrams from an unlearnable MAC, want 3", got)
	}

	f = newUnderlayRunFixture(t)
	ip6 := netip.MustParseAddr("2001:db8:1::7")
	na := ndFrame(t, layers.ICMPv6TypeNeighborAdvertisement, mac(7), ip6, ip6, mac(7))
	m1 := mac(1)
	copy(na, m1[:]) // unicast to mac(1), as the frames around it
	f.underlayBatch(dgram{vtep2, vniBlue, fr}, dgram{vtep2, vniBlue, arpReply(t, mac(7), ip(7), mac(1), ip(1))},
		dgram{vtep2, vniBlue, fr}, dgram{vtep2, vniBlue, na})
	checkSnooped(t, f, ip(7), ip6, mac(7))
}

func TestLastDatagramAllocatesNothing(t *testing.T) {
	h := newHotPath(t, 1500)
	src := netip.AddrPortFrom(vtep2, 50123)
	dgs := [][]byte{
		encapsulate(vniBlue, frame(t, mac(7), mac(1))), encapsulate(vniBlue, frame(t, mac(7), mac(1))),
		encapsulate(vniBlue, frame(t, mac(7), mac(2))), encapsulate(vniBlue, frame(t, mac(7), mac(2))),
	}
	checkBatchAllocs(t, h.f.w, len(dgs), "datagrams", func(i int) { h.f.w.FromUnderlay(src, dgs[i]) })
}

// BenchmarkFromUnderlayBatch forwards 45 datagrams of one flow (1514-byte
// inner frames) as one read batch, as a GRO read hands them over; ns/op is
// per datagram.
func BenchmarkFromUnderlayBatch(b *testing.B) {
	const segs = 45
	h := newHotPath(b, benchUnderlayMTU)
	src := netip.AddrPortFrom(vtep2, 50123)
	dg := encapsulate(vniBlue, udpFrame(b, mac(7), mac(1), 40000, 1514))
	b.SetBytes(1514)
	b.ReportAllocs()
	b.ResetTimer()
	inBatches(h.f.w, b.N, segs, func(int) { h.f.w.FromUnderlay(src, dg) })
}
