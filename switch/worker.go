package vswitch

import (
	"net/netip"

	"go.uber.org/zap"

	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/vtep"
)

// Verdict is what the switch did with one frame.
type Verdict struct {
	Action Action
	// Reason is set when Action is ActionDrop.
	Reason Reason
	// Port is the egress port of ActionPort and ActionProxy.
	Port *Port
	// VTEP is the destination of ActionVTEP.
	VTEP netip.Addr
	// Copies is how many copies ActionFlood sent.
	Copies int
}

func drop(r Reason) Verdict { return Verdict{Action: ActionDrop, Reason: r} }

// Worker runs the forwarding decision and carries it out. Each data-path
// goroutine owns one: it holds that goroutine's underlay sender and scratch
// buffers, so forwarding allocates nothing.
type Worker struct {
	s   *Switch
	tx  vtep.Sender
	arp arpReply
	nd  ndReply
}

// NewWorker returns a Worker that sends to the underlay through tx.
func (s *Switch) NewWorker(tx vtep.Sender) *Worker {
	w := &Worker{s: s, tx: tx}
	w.arp.init()
	w.nd.init()
	return w
}

// FromPort forwards the frame in buf[off:off+n], read from port p. off must
// be at least Headroom: encapsulation writes in place in front of the frame.
func (w *Worker) FromPort(p *Port, buf []byte, off, n int) Verdict {
	p.io.rx(n)
	v := w.fromPort(p, buf, off, n)
	p.dom.stats.count(v)
	if ce := w.s.log.Check(zap.DebugLevel, "frame from port"); ce != nil {
		ce.Write(zap.String("port", p.cfg.Name), zap.Uint32("vni", p.dom.vni), verdictField(v), frameField(buf[off:off+n]))
	}
	return v
}

func (w *Worker) fromPort(p *Port, buf []byte, off, n int) Verdict {
	if n < ethHeaderLen {
		return drop(ReasonRunt)
	}
	d, s := p.dom, w.s
	e := ethernet(buf[off : off+n])
	src := e.src()
	if src.IsMulticast() || src.IsZero() {
		return drop(ReasonBadSrcMAC)
	}
	if n > maxFrame(p.cfg.MTU, e) {
		return drop(ReasonOversize)
	}
	now := s.now()
	if d.learning {
		d.macs.Learn(src, p.dest(), now)
	}
	switch e.etherType() {
	case etherTypeARP:
		if v, done := w.arpFromPort(p, e, now); done {
			return v
		}
	case etherTypeIPv6:
		if v, done := w.ndFromPort(p, e, now); done {
			return v
		}
	}
	dst := e.dst()
	if dst.IsMulticast() {
		return w.flood(d, p, buf, off, n)
	}
	dest, ok := d.macs.Lookup(dst, now)
	if !ok {
		return w.flood(d, p, buf, off, n)
	}
	switch dest.Kind {
	case fdb.KindPort:
		q := s.portByID(dest.ID)
		if q == nil {
			return w.flood(d, p, buf, off, n)
		}
		if q == p {
			return drop(ReasonSamePort)
		}
		return w.toPort(q, e)
	case fdb.KindVTEP:
		if peer := s.peers.byIndex(dest.ID); peer != nil {
			return w.toVTEP(d, peer, buf, off, n)
		}
	}
	return w.flood(d, p, buf, off, n)
}

// FromUnderlay forwards the VXLAN datagram b received from src.
func (w *Worker) FromUnderlay(src netip.AddrPort, b []byte) Verdict {
	d, v := w.fromUnderlay(src, b)
	if d == nil {
		w.s.global.count(v)
	} else {
		d.stats.count(v)
	}
	if ce := w.s.log.Check(zap.DebugLevel, "datagram from underlay"); ce != nil {
		fields := []zap.Field{zap.Stringer("from", src), verdictField(v)}
		if d != nil {
			fields = append(fields, zap.Uint32("vni", d.vni))
		}
		if len(b) > vtep.HeaderLen {
			fields = append(fields, frameField(b[vtep.HeaderLen:]))
		}
		ce.Write(fields...)
	}
	return v
}

func (w *Worker) fromUnderlay(src netip.AddrPort, b []byte) (*domain, Verdict) {
	s := w.s
	vni, err := vtep.Parse(b, s.strict)
	switch err {
	case nil:
	case vtep.ErrRunt:
		return nil, drop(ReasonVXLANRunt)
	case vtep.ErrNoIFlag:
		return nil, drop(ReasonVXLANNoIFlag)
	default:
		return nil, drop(ReasonVXLANReservedBits)
	}
	d := s.byVNI[vni]
	if d == nil {
		return nil, drop(ReasonUnknownVNI)
	}
	peer := s.peerFor(d, src.Addr().Unmap())
	if peer == nil {
		return d, drop(ReasonUnknownPeer)
	}
	now := s.now()
	peer.lastSeen.Store(now)
	peer.io.rx(len(b))
	frame := b[vtep.HeaderLen:]
	n := len(frame)
	if n < ethHeaderLen {
		return d, drop(ReasonRunt)
	}
	e := ethernet(frame)
	srcMAC := e.src()
	if srcMAC.IsMulticast() || srcMAC.IsZero() {
		return d, drop(ReasonBadSrcMAC)
	}
	if d.learning {
		d.macs.Learn(srcMAC, fdb.Dest{Kind: fdb.KindVTEP, ID: peer.id}, now)
	}
	if d.proxy {
		switch e.etherType() {
		case etherTypeARP:
			w.snoopARP(d, e, now)
		case etherTypeIPv6:
			w.snoopND(d, e, now)
		}
	}
	dst := e.dst()
	if dst.IsMulticast() {
		return d, w.flood(d, nil, b, vtep.HeaderLen, n)
	}
	dest, ok := d.macs.Lookup(dst, now)
	if !ok {
		return d, w.flood(d, nil, b, vtep.HeaderLen, n)
	}
	if dest.Kind == fdb.KindVTEP {
		return d, drop(ReasonSplitHorizon)
	}
	q := s.portByID(dest.ID)
	if q == nil {
		return d, w.flood(d, nil, b, vtep.HeaderLen, n)
	}
	return d, w.toPort(q, e)
}

// toPort writes frame e to port q.
func (w *Worker) toPort(q *Port, e ethernet) Verdict {
	if len(e) > maxFrame(q.cfg.MTU, e) {
		q.drops.Add(1)
		return drop(ReasonOversize)
	}
	_, err := q.dev.Write(e)
	q.io.tx(len(e), err)
	if err != nil {
		q.drops.Add(1)
		return drop(ReasonPortDown)
	}
	return Verdict{Action: ActionPort, Port: q}
}

// toVTEP encapsulates the frame in buf[off:off+n] in place and sends it.
func (w *Worker) toVTEP(d *domain, peer *peer, buf []byte, off, n int) Verdict {
	if n > w.s.maxInner {
		return drop(ReasonOversize)
	}
	sport := w.encap(d, buf, off, n)
	if !w.send(peer, buf, off, n, sport) {
		return drop(ReasonUnderlayError)
	}
	return Verdict{Action: ActionVTEP, VTEP: peer.addr}
}

func (w *Worker) encap(d *domain, buf []byte, off, n int) (srcPort uint16) {
	vtep.PutHeader(buf[off-vtep.HeaderLen:off], d.vni)
	return w.s.srcPorts.Port(vtep.FlowHash(buf[off : off+n]))
}

func (w *Worker) send(peer *peer, buf []byte, off, n int, sport uint16) bool {
	err := w.tx.Send(buf[:off+n], off-vtep.HeaderLen, sport, peer.addr)
	peer.io.tx(n+vtep.HeaderLen, err)
	return err == nil
}

// flood sends the frame to every port of d but from, and, when it came from
// a local port (from != nil), to every VTEP in d's flood list: head-end
// replication. Frames from the underlay never go back to it (split horizon).
func (w *Worker) flood(d *domain, from *Port, buf []byte, off, n int) Verdict {
	e := ethernet(buf[off : off+n])
	copies, failed, oversize := 0, 0, 0
	for _, q := range *d.ports.Load() {
		if q == from {
			continue
		}
		switch v := w.toPort(q, e); v.Action {
		case ActionPort:
			copies++
		default:
			if v.Reason == ReasonOversize {
				oversize++
			} else {
				failed++
			}
		}
	}
	if from != nil && len(d.flood) > 0 {
		if n > w.s.maxInner {
			oversize++
		} else {
			sport := w.encap(d, buf, off, n)
			for _, peer := range d.flood {
				if w.send(peer, buf, off, n, sport) {
					copies++
				} else {
					failed++
				}
			}
		}
	}
	switch {
	case copies > 0:
		return Verdict{Action: ActionFlood, Copies: copies}
	case failed > 0 && from != nil && len(d.flood) > 0:
		return drop(ReasonUnderlayError)
	case failed > 0:
		return drop(ReasonPortDown)
	case oversize > 0:
		return drop(ReasonOversize)
	}
	return drop(ReasonNoDestination)
}
