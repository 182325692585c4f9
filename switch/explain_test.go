package vswitch_test

import (
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	vswitch "github.com/vxswitch/vxswitch/switch"
)

// explainFixture has two local ports in blue, a flood list of two VTEPs, a
// static neighbor and a learned remote MAC.
func explainFixture(t *testing.T) *fixture {
	cfg := vswitch.Config{Networks: []vswitch.NetworkConfig{blue(vtep2, vtep3)}}
	cfg.Networks[0].Neighbors = []vswitch.Neighbor{{IP: ip(9), MAC: mac(9)}}
	f := newFixture(t, cfg, port("p1", "blue"), port("p2", "blue"))
	f.fromUnderlay(vtep2, vniBlue, frame(t, mac(5), macBroadcast)) // learn mac(5) behind vtep2
	f.delivered()                                                  // drain the flood of the learning frame
	return f
}

func TestExplainDoesNotTouchAnything(t *testing.T) {
	f := explainFixture(t)
	before, _ := f.s.Stats()
	fdbBefore := f.s.FDB("")
	steps, v, err := f.s.Explain("p1", frame(t, mac(1), mac(5)))
	if err != nil {
		t.Fatal(err)
	}
	if v.Action != vswitch.ActionVTEP || v.VTEP != vtep2 {
		t.Fatalf("verdict %s, want → vtep %s", verdict(v), vtep2)
	}
	text := strings.Join(steps, "\n")
	for _, want := range []string{"frame from port p1", "learn 02:00:00:00:00:01 at port p1 (new entry", "02:00:00:00:00:05 is at vtep 192.0.2.2", "→ vtep 192.0.2.2 (VXLAN VNI 4097"} {
		if !strings.Contains(text, want) {
			t.Errorf("steps lack %q:\n%s", want, text)
		}
	}
	after, _ := f.s.Stats()
	if before[0].Stats.Received != after[0].Stats.Received {
		t.Error("Explain counted a frame")
	}
	if len(f.s.FDB("")) != len(fdbBefore) {
		t.Error("Explain learned a MAC")
	}
	if got := f.delivered(); len(got) != 0 {
		t.Errorf("Explain wrote to ports: %v", keys(got))
	}
	if got := f.sent(); len(got) != 0 {
		t.Errorf("Explain sent %d datagrams", len(got))
	}
}

func TestExplainARPProxy(t *testing.T) {
	f := explainFixture(t)
	steps, v, err := f.s.Explain("p1", arpRequest(t, mac(1), ip(1), ip(9)))
	if err != nil {
		t.Fatal(err)
	}
	if v.Action != vswitch.ActionProxy {
		t.Fatalf("verdict %s, want proxied", verdict(v))
	}
	if text := strings.Join(steps, "\n"); !strings.Contains(text, "ARP proxy: who-has 10.0.0.9 tell 10.0.0.1 → reply 10.0.0.9 is-at 02:00:00:00:00:09") {
		t.Errorf("steps:\n%s", text)
	}
	if len(f.s.Neighbors("blue")) != 1 {
		t.Error("Explain taught the neighbor table")
	}
}

func TestExplainFloodAndDatagram(t *testing.T) {
	f := explainFixture(t)
	steps, v, _ := f.s.Explain("p1", frame(t, mac(1), macBroadcast))
	if v.Action != vswitch.ActionFlood || v.Copies != 3 {
		t.Fatalf("verdict %s, want flood ×3", verdict(v))
	}
	if text := strings.Join(steps, "\n"); !strings.Contains(text, "→ port p2") || !strings.Contains(text, "→ vtep 192.0.2.3") {
		t.Errorf("steps:\n%s", text)
	}
	steps, v = f.s.ExplainDatagram(netip.AddrPortFrom(vtepStray, 4789), encapsulate(vniBlue, frame(t, mac(7), mac(1))))
	if v.Action != vswitch.ActionDrop || v.Reason != vswitch.ReasonUnknownPeer {
		t.Fatalf("datagram from a stray VTEP: %s", verdict(v))
	}
	if text := strings.Join(steps, "\n"); !strings.Contains(text, "drop: unknown_peer") {
		t.Errorf("steps:\n%s", text)
	}
	if _, _, err := f.s.Explain("nope", frame(t, mac(1), mac(2))); err == nil {
		t.Error("Explain on an unknown port: no error")
	}
}

// recorder is an Observer that keeps copies of what it sees.
type recorder struct {
	mu     sync.Mutex
	events []vswitch.Event
}

func (r *recorder) Observe(ev *vswitch.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := *ev
	e.Data = append([]byte(nil), ev.Data...)
	r.events = append(r.events, e)
}

func TestObserverSeesEveryEdge(t *testing.T) {
	f := explainFixture(t)
	rec := &recorder{}
	cancel := f.s.Subscribe(rec)
	fr := frame(t, mac(1), mac(5))
	f.fromPort("p1", fr)
	f.fromUnderlay(vtep3, vniBlue, frame(t, mac(6), mac(1)))
	f.datagram(vtep2, []byte{0, 0, 0})
	cancel()
	f.fromPort("p1", fr)

	type ev struct {
		dir      vswitch.Direction
		underlay bool
		where    string // port name or remote address
		network  string
		action   vswitch.Action
		reason   vswitch.Reason
	}
	var got []ev
	for _, e := range rec.events {
		where := e.Port
		if e.Underlay {
			where = e.Remote.String()
		}
		got = append(got, ev{e.Dir, e.Underlay, where, e.Network, e.Verdict.Action, e.Verdict.Reason})
	}
	want := []ev{
		{vswitch.DirOut, true, "192.0.2.2:4789", "blue", vswitch.ActionDrop, 0}, // encapsulated toward vtep2
		{vswitch.DirIn, false, "p1", "blue", vswitch.ActionVTEP, 0},
		{vswitch.DirOut, false, "p1", "blue", vswitch.ActionDrop, 0}, // delivered from vtep3
		{vswitch.DirIn, true, "192.0.2.3:50123", "blue", vswitch.ActionPort, 0},
		{vswitch.DirIn, true, "192.0.2.2:50123", "", vswitch.ActionDrop, vswitch.ReasonVXLANRunt},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(ev{})); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	out := rec.events[0]
	if out.Local.Port() < testSrcPorts.Min || out.Local.Port() > testSrcPorts.Max {
		t.Errorf("egress datagram local port %d outside %v", out.Local.Port(), testSrcPorts)
	}
	if string(out.Data[8:]) != string(fr) {
		t.Error("egress datagram data is not VXLAN header + frame")
	}
}
