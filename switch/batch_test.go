package vswitch_test

import (
	"errors"
	"net/netip"
	"testing"

	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/vtep"
)

// batchSender is a vtep.BatchSender that records queued datagrams and what
// each Flush sent, refusing the datagrams to refuse.
type batchSender struct {
	queued  [][]byte
	flushes [][]netip.Addr
	dsts    []netip.Addr
	refuse  netip.Addr
}

func (b *batchSender) Send(buf []byte, off int, sport uint16, dst netip.Addr) error {
	return errors.New("Send called on a batching worker")
}

func (b *batchSender) Queue(buf []byte, off int, sport uint16, dst netip.Addr) error {
	b.queued = append(b.queued, append([]byte(nil), buf[off:]...))
	b.dsts = append(b.dsts, dst)
	return nil
}

func (b *batchSender) Flush() (int, error) {
	failed := 0
	var sent []netip.Addr
	for _, d := range b.dsts {
		if d == b.refuse {
			failed++
			continue
		}
		sent = append(sent, d)
	}
	b.flushes = append(b.flushes, sent)
	b.dsts = nil
	if failed > 0 {
		return failed, errors.New("refused")
	}
	return 0, nil
}

var _ vtep.BatchSender = (*batchSender)(nil)

func TestBatchedSendsWaitForFlush(t *testing.T) {
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{blue(vtep2, vtep3)}}, port("p1", "blue"))
	bs := &batchSender{refuse: vtep3}
	w := f.s.NewWorker(bs)
	w.Batch()
	p := f.port["p1"]
	for i := 0; i < 3; i++ {
		fr := frame(t, mac(1), macBroadcast)
		buf := make([]byte, vswitch.Headroom+len(fr))
		copy(buf[vswitch.Headroom:], fr)
		if v := w.FromPort(p, buf, vswitch.Headroom, len(fr)); v.Action != vswitch.ActionFlood || v.Copies != 2 {
			t.Fatalf("frame %d: %s, want flood ×2", i, verdict(v))
		}
	}
	if len(bs.queued) != 6 || len(bs.flushes) != 0 {
		t.Fatalf("before Flush: %d queued, %d flushes; want 6 queued, none flushed", len(bs.queued), len(bs.flushes))
	}
	for _, d := range bs.queued {
		if vni, err := vtep.Parse(d, true); err != nil || vni != vniBlue {
			t.Fatalf("queued datagram: VNI %d, %v", vni, err)
		}
	}
	w.Flush()
	if len(bs.flushes) != 1 || len(bs.flushes[0]) != 3 {
		t.Fatalf("Flush sent %v, want the 3 datagrams to %s", bs.flushes, vtep2)
	}
	if got := f.s.UnderlayTxErrors(); got != 3 {
		t.Errorf("UnderlayTxErrors = %d, want the 3 refused datagrams to %s", got, vtep3)
	}
}

func TestBatchIgnoredForPlainSender(t *testing.T) {
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{blue(vtep2)}}, port("p1", "blue"))
	w := f.s.NewWorker(f.rec) // a Recorder cannot batch: sends go out at once
	w.Batch()
	fr := frame(t, mac(1), macBroadcast)
	buf := make([]byte, vswitch.Headroom+len(fr))
	copy(buf[vswitch.Headroom:], fr)
	w.FromPort(f.port["p1"], buf, vswitch.Headroom, len(fr))
	if got := len(f.rec.Take()); got != 1 {
		t.Errorf("plain sender got %d datagrams before any Flush, want 1", got)
	}
}

// TestBatchReadsClockOnce: between StartBatch and Flush the clock is read
// once, however many frames are forwarded; outside a batch, once per frame.
func TestBatchReadsClockOnce(t *testing.T) {
	reads := 0
	clock := newClock()
	f := newFixture(t, vswitch.Config{
		Networks: []vswitch.NetworkConfig{blue(vtep2)},
		Now:      func() int64 { reads++; return clock.Now() },
	}, port("p1", "blue"), port("p2", "blue"))
	f.w.StartBatch()
	for i := byte(1); i <= 5; i++ {
		f.fromPort("p1", frame(t, mac(i), mac(20)))
	}
	f.fromUnderlay(vtep2, vniBlue, frame(t, mac(30), mac(1)))
	if reads != 1 {
		t.Errorf("clock read %d times for one batch of 6 frames, want 1", reads)
	}
	f.w.Flush()
	reads = 0
	f.fromPort("p1", frame(t, mac(1), mac(20)))
	f.fromPort("p1", frame(t, mac(2), mac(20)))
	if reads != 2 {
		t.Errorf("clock read %d times for 2 frames outside a batch, want 2", reads)
	}
}
