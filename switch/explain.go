package vswitch

import (
	"fmt"
	"net/netip"

	"github.com/vxswitch/vxswitch/fdb"
)

// newPeerID stands, in explanations, for a peer that would be created.
const newPeerID = ^uint32(0)

// stepf records one step of an explanation. Call it only when w.dry: its
// arguments would otherwise be boxed on the data path.
func (w *Worker) stepf(format string, args ...any) {
	w.steps = append(w.steps, fmt.Sprintf(format, args...))
}

// drop returns a drop verdict, recording it when explaining.
func (w *Worker) drop(r Reason) Verdict {
	if w.dry {
		w.stepf("drop: %s", r)
	}
	return Verdict{Action: ActionDrop, Reason: r}
}

// explainLearn says what learning mac at dest would do.
func (w *Worker) explainLearn(d *domain, mac fdb.MAC, dest fdb.Dest, now int64) {
	where := w.s.describe(dest)
	if dest.Kind == fdb.KindVTEP && dest.ID == newPeerID {
		where = "a new peer"
	}
	switch cur, ok := d.macs.Lookup(mac, now); {
	case !ok:
		w.stepf("learn %s at %s (new entry, if the table has room)", mac, where)
	case cur == dest:
		w.stepf("learn %s at %s (refresh)", mac, where)
	default:
		w.stepf("learn %s at %s (moves from %s, unless static)", mac, where, w.s.describe(cur))
	}
}

// Explain runs the forwarding decision for frame as if it had arrived on
// the named port, against the live tables, and returns each step and the
// verdict. It learns nothing, sends nothing and counts nothing.
func (s *Switch) Explain(port string, frame []byte) ([]string, Verdict, error) {
	var p *Port
	for _, q := range *s.ports.Load() {
		if q != nil && q.cfg.Name == port {
			p = q
		}
	}
	if p == nil {
		return nil, Verdict{}, fmt.Errorf("explain: no port %q", port)
	}
	w := &Worker{s: s, dry: true}
	w.arp.init()
	w.nd.init()
	buf := make([]byte, Headroom+len(frame))
	copy(buf[Headroom:], frame)
	v := w.fromPort(p, buf, Headroom, len(frame))
	return w.steps, v, nil
}

// ExplainDatagram is Explain for a VXLAN datagram (UDP payload) received
// from the underlay address from.
func (s *Switch) ExplainDatagram(from netip.AddrPort, datagram []byte) ([]string, Verdict) {
	w := &Worker{s: s, dry: true}
	_, v := w.fromUnderlay(from, datagram)
	return w.steps, v
}
