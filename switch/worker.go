package vswitch

import (
	"net/netip"

	"go.uber.org/zap"

	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/internal/csum"
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

// Worker runs the forwarding decision and carries it out. Each data-path
// goroutine owns one: it holds that goroutine's underlay sender and scratch
// buffers, so forwarding allocates nothing.
//
// A Worker made by Explain runs the same code dry: it reads the live tables
// but learns nothing, sends nothing, counts nothing, and records each step.
type Worker struct {
	s  *Switch
	tx vtep.Sender
	// batch, when set, queues datagrams for one sendmmsg per read batch;
	// the owner calls Flush after each batch.
	batch vtep.BatchSender
	// coalesce, when set, lets ports that can merge TCP segments hold
	// them until Flush; touched lists those holding some.
	coalesce bool
	touched  []*Port
	// underlay is set while a frame from the underlay is being forwarded.
	underlay bool
	arp      arpReply
	nd       ndReply
	ev       Event // reused for observers

	dry   bool
	steps []string

	// batchNow, when not zero, is the time of the read batch being
	// forwarded: one clock read per batch instead of one per frame.
	batchNow int64
	// last and lastU are the decisions for the frame and the datagram
	// before, within the read batch open; see fromPort and fromUnderlay.
	last  lastFrame
	lastU lastDatagram
}

// lastFrame is where the previous frame from a port went, so that a run of
// frames of one flow in a read batch (the segments of a TSO super-frame)
// costs one MAC learn and one lookup.
type lastFrame struct {
	port     *Port // nil: nothing remembered
	src, dst fdb.MAC
	dest     fdb.Dest
}

// lastDatagram is lastFrame for the underlay: where the previous datagram
// went, and the peer it came from, for the runs of datagrams a GRO read
// hands over.
type lastDatagram struct {
	d        *domain // nil: nothing remembered
	from     netip.Addr
	sender   *peer
	src, dst fdb.MAC
	dest     fdb.Dest // a port's
}

// now is the switch's clock, read once per batch while one is open.
func (w *Worker) now() int64 {
	if w.batchNow != 0 {
		return w.batchNow
	}
	return w.s.now()
}

// StartBatch reads the clock for the frames of one read batch, up to the
// next Flush: they are learned and aged as seen at the same instant, as a
// batch arrives within microseconds.
func (w *Worker) StartBatch() {
	w.batchNow = w.s.now()
	w.last.port, w.lastU.d = nil, nil
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
	if obs := w.s.observers.Load(); obs != nil {
		w.observePort(*obs, DirIn, p, buf[off:off+n], v)
	}
	if ce := w.s.log.Check(zap.DebugLevel, "frame from port"); ce != nil {
		ce.Write(zap.String("port", p.cfg.Name), zap.Uint32("vni", p.dom.vni), verdictField(v), frameField(buf[off:off+n]))
	}
	return v
}

func (w *Worker) fromPort(p *Port, buf []byte, off, n int) Verdict {
	d, s := p.dom, w.s
	if w.dry {
		w.stepf("frame from port %s, network %s (VNI %d), %d bytes", p.cfg.Name, d.name, d.vni, n)
	}
	if n < ethHeaderLen {
		return w.drop(ReasonRunt)
	}
	e := ethernet(buf[off : off+n])
	if w.dry {
		w.stepf("ethernet %s > %s, type %#04x", e.src(), e.dst(), e.etherType())
	}
	src := e.src()
	if src.IsMulticast() || src.IsZero() {
		return w.drop(ReasonBadSrcMAC)
	}
	if n > maxFrame(p.cfg.MTU, e) {
		return w.drop(ReasonOversize)
	}
	now := w.now()
	et, dst := e.etherType(), e.dst()
	// The frames of a read batch are learned and looked up as of one
	// instant (StartBatch). So a frame from the port, source and
	// destination of the frame just before it takes that frame's decision:
	// its source was learned at this instant, and the lookup would find
	// what that one found. ARP and IPv6 (ND) frames are always looked at.
	// Which port or VTEP the destination names is still resolved per frame.
	if w.last.port == p && w.last.src == src && w.last.dst == dst && et != etherTypeARP && et != etherTypeIPv6 {
		return w.toDest(d, p, buf, off, n, e, w.last.dest)
	}
	w.last.port = nil
	full := false
	if d.learning {
		full = w.learn(d, src, p.dest(), now) == fdb.Full
	}
	switch et {
	case etherTypeARP:
		if v, done := w.arpFromPort(p, e, now); done {
			return v
		}
	case etherTypeIPv6:
		if v, done := w.ndFromPort(p, e, now); done {
			return v
		}
	}
	if dst.IsMulticast() {
		if w.dry {
			w.stepf("destination %s is broadcast/multicast: flood", dst)
		}
		return w.flood(d, p, buf, off, n)
	}
	dest, ok := d.macs.Lookup(dst, now)
	if !ok {
		if w.dry {
			w.stepf("destination %s unknown in the MAC table: flood", dst)
		}
		return w.flood(d, p, buf, off, n)
	}
	if w.dry {
		w.stepf("MAC table: %s is at %s", dst, s.describe(dest))
	}
	// Not after a refused learn: each frame counts in LearnFull.
	if w.batchNow != 0 && !w.dry && !full {
		w.last = lastFrame{port: p, src: src, dst: dst, dest: dest}
	}
	return w.toDest(d, p, buf, off, n, e, dest)
}

// toDest forwards the frame from port p to dest, found in the MAC table.
func (w *Worker) toDest(d *domain, p *Port, buf []byte, off, n int, e ethernet, dest fdb.Dest) Verdict {
	s := w.s
	switch dest.Kind {
	case fdb.KindPort:
		q := s.portByID(dest.ID)
		if q == nil {
			return w.flood(d, p, buf, off, n)
		}
		if q == p {
			return w.drop(ReasonSamePort)
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
	w.underlay = true
	d, v := w.fromUnderlay(src, b)
	w.underlay = false
	if d == nil {
		w.s.global.count(v)
	} else {
		d.stats.count(v)
	}
	if obs := w.s.observers.Load(); obs != nil {
		w.observeUnderlay(*obs, DirIn, d, src, w.s.localAddr(0), b, v)
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
	if w.dry {
		w.stepf("datagram from %s, %d bytes", src, len(b))
	}
	vni, err := vtep.Parse(b, s.strict)
	switch err {
	case nil:
	case vtep.ErrRunt:
		return nil, w.drop(ReasonVXLANRunt)
	case vtep.ErrNoIFlag:
		return nil, w.drop(ReasonVXLANNoIFlag)
	default:
		return nil, w.drop(ReasonVXLANReservedBits)
	}
	d := s.byVNI[vni]
	if d == nil {
		if w.dry {
			w.stepf("VXLAN VNI %d", vni)
		}
		return nil, w.drop(ReasonUnknownVNI)
	}
	if w.dry {
		w.stepf("VXLAN VNI %d: network %s", vni, d.name)
	}
	from := src.Addr().Unmap()
	// As in fromPort: a datagram of the network, sender and inner MACs of
	// the datagram just before it in the read batch takes that one's
	// decision, and its peer, whose counters still count it (its last-seen
	// is this batch's instant already).
	if l := &w.lastU; l.d == d && l.from == from && len(b) >= vtep.HeaderLen+ethHeaderLen {
		e := ethernet(b[vtep.HeaderLen:])
		if et := e.etherType(); e.src() == l.src && e.dst() == l.dst && et != etherTypeARP && et != etherTypeIPv6 {
			l.sender.io.rx(len(b))
			return d, w.underlayToPort(d, b, e, l.dest)
		}
	}
	w.lastU.d = nil
	sender := s.peerFor(d, from, !w.dry)
	if sender == nil {
		if !w.dry || !d.allowUnknown || !s.canBePeer(from) {
			return d, w.drop(ReasonUnknownPeer)
		}
		if w.dry {
			w.stepf("sender %s would become a new peer (allow_unknown_peers)", src.Addr())
		}
		sender = &peer{addr: from, id: newPeerID}
	}
	now := w.now()
	if !w.dry {
		sender.lastSeen.Store(now)
		sender.io.rx(len(b))
	}
	frame := b[vtep.HeaderLen:]
	n := len(frame)
	if n < ethHeaderLen {
		return d, w.drop(ReasonRunt)
	}
	e := ethernet(frame)
	if w.dry {
		w.stepf("inner ethernet %s > %s, type %#04x, %d bytes", e.src(), e.dst(), e.etherType(), n)
	}
	srcMAC := e.src()
	if srcMAC.IsMulticast() || srcMAC.IsZero() {
		return d, w.drop(ReasonBadSrcMAC)
	}
	full := false
	if d.learning {
		full = w.learn(d, srcMAC, fdb.Dest{Kind: fdb.KindVTEP, ID: sender.id}, now) == fdb.Full
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
		if w.dry {
			w.stepf("destination %s is broadcast/multicast: flood to local ports only (split horizon)", dst)
		}
		return d, w.flood(d, nil, b, vtep.HeaderLen, n)
	}
	dest, ok := d.macs.Lookup(dst, now)
	if !ok {
		if w.dry {
			w.stepf("destination %s unknown: flood to local ports only (split horizon)", dst)
		}
		return d, w.flood(d, nil, b, vtep.HeaderLen, n)
	}
	if w.dry {
		w.stepf("MAC table: %s is at %s", dst, s.describe(dest))
	}
	if dest.Kind == fdb.KindVTEP {
		return d, w.drop(ReasonSplitHorizon)
	}
	if w.batchNow != 0 && !w.dry && !full {
		w.lastU = lastDatagram{d: d, from: from, sender: sender, src: srcMAC, dst: dst, dest: dest}
	}
	return d, w.underlayToPort(d, b, e, dest)
}

// underlayToPort writes the inner frame e of datagram b to the port dest
// names, or floods it to d's ports if that port is gone.
func (w *Worker) underlayToPort(d *domain, b []byte, e ethernet, dest fdb.Dest) Verdict {
	q := w.s.portByID(dest.ID)
	if q == nil {
		return w.flood(d, nil, b, vtep.HeaderLen, len(e))
	}
	return w.toPort(q, e)
}

// learn teaches d's MAC table that mac is at dest; a dry Worker only says
// what would happen.
func (w *Worker) learn(d *domain, mac fdb.MAC, dest fdb.Dest, now int64) fdb.Result {
	if w.dry {
		w.explainLearn(d, mac, dest, now)
		return fdb.Refreshed
	}
	return d.macs.Learn(mac, dest, now)
}

// toPort writes frame e to port q.
func (w *Worker) toPort(q *Port, e ethernet) Verdict {
	if len(e) > maxFrame(q.cfg.MTU, e) {
		if w.dry {
			w.stepf("port %s: %d bytes exceed its MTU %d", q.cfg.Name, len(e), q.cfg.MTU)
			return w.drop(ReasonOversize)
		}
		// A sender's kernel hands a veth TCP super-frames unsegmented (no
		// NIC cuts them); the TAP can deliver those as MTU-sized segments.
		if w.underlay && q.super != nil {
			ok, err := q.super.WriteTCPSuper(e)
			if ok {
				q.io.tx(len(e), err)
				if err != nil {
					q.drops.Add(1)
					return w.drop(ReasonPortDown)
				}
				return Verdict{Action: ActionPort, Port: q}
			}
		}
		q.drops.Add(1)
		return w.drop(ReasonOversize)
	}
	if err := w.writePort(q, e); err != nil {
		return w.drop(ReasonPortDown)
	}
	return Verdict{Action: ActionPort, Port: q}
}

// writePort writes one frame to q, counting it and showing it to observers.
func (w *Worker) writePort(q *Port, frame []byte) error {
	if w.dry {
		w.stepf("→ port %s", q.cfg.Name)
		return nil
	}
	var err error
	if w.coalesce && q.coal != nil {
		_, err = q.coal.WriteCoalesce(frame) // finishes partial checksums itself
		w.touch(q)
	} else {
		if w.underlay {
			// A sender's kernel may have left the inner checksum for
			// hardware that never saw it (a veth): finish it, as a NIC
			// would, or the container drops the frame.
			csum.FixPartial(frame)
		}
		_, err = q.dev.Write(frame)
	}
	q.io.tx(len(frame), err)
	if err != nil {
		q.drops.Add(1)
		return err
	}
	if obs := w.s.observers.Load(); obs != nil {
		w.observePort(*obs, DirOut, q, frame, Verdict{})
	}
	return nil
}

// toVTEP encapsulates the frame in buf[off:off+n] in place and sends it.
func (w *Worker) toVTEP(d *domain, peer *peer, buf []byte, off, n int) Verdict {
	if n > w.s.maxInner {
		if w.dry {
			w.stepf("%d bytes + VXLAN overhead exceed the underlay MTU (largest inner frame %d)", n, w.s.maxInner)
		}
		return w.drop(ReasonOversize)
	}
	sport := w.encap(d, buf, off, n)
	if !w.send(d, peer, buf, off, n, sport) {
		return w.drop(ReasonUnderlayError)
	}
	return Verdict{Action: ActionVTEP, VTEP: peer.addr}
}

func (w *Worker) encap(d *domain, buf []byte, off, n int) (srcPort uint16) {
	if w.dry {
		return w.s.srcPorts.Port(vtep.FlowHash(buf[off : off+n]))
	}
	vtep.PutHeader(buf[off-vtep.HeaderLen:off], d.vni)
	return w.s.srcPorts.Port(vtep.FlowHash(buf[off : off+n]))
}

func (w *Worker) send(d *domain, peer *peer, buf []byte, off, n int, sport uint16) bool {
	if w.dry {
		if w.dry {
			w.stepf("→ vtep %s (VXLAN VNI %d, outer UDP source port %d)", peer.addr, d.vni, sport)
		}
		return true
	}
	var err error
	if w.batch != nil {
		err = w.batch.Queue(buf[:off+n], off-vtep.HeaderLen, sport, peer.addr)
	} else {
		err = w.tx.Send(buf[:off+n], off-vtep.HeaderLen, sport, peer.addr)
	}
	peer.io.tx(n+vtep.HeaderLen, err)
	if err != nil {
		return false
	}
	if obs := w.s.observers.Load(); obs != nil {
		remote := netip.AddrPortFrom(peer.addr, w.s.vxlanPort())
		w.observeUnderlay(*obs, DirOut, d, remote, w.s.localAddr(sport), buf[off-vtep.HeaderLen:off+n], Verdict{})
	}
	return true
}

// Batch makes w work in batches until each Flush: underlay datagrams are
// queued when its sender can batch, and ports that can merge TCP segments
// (TAPs with offloads) hold them to write one super-frame. A reader
// flushes once per read batch: with TAP offloads up to 64 frames of one
// TCP super-frame, from the underlay up to a recvmmsg batch. The frames'
// buffers must stay unchanged until Flush.
func (w *Worker) Batch() {
	if b, ok := w.tx.(vtep.BatchSender); ok {
		w.batch = b
	}
	w.coalesce = true
}

// Flush sends the queued datagrams and writes what ports hold. Datagrams
// the kernel refuses are counted as underlay send errors (their frames were
// already counted as forwarded); a failed port write counts on the port.
func (w *Worker) Flush() {
	w.batchNow = 0
	w.last.port, w.lastU.d = nil, nil
	if w.batch != nil {
		if failed, _ := w.batch.Flush(); failed > 0 {
			w.s.txErrors.Add(uint64(failed))
		}
	}
	for i, q := range w.touched {
		if err := q.coal.Flush(); err != nil {
			q.io.txErrors.Add(1)
			q.drops.Add(1)
		}
		w.touched[i] = nil
	}
	w.touched = w.touched[:0]
}

func (w *Worker) touch(q *Port) {
	for _, t := range w.touched {
		if t == q {
			return
		}
	}
	w.touched = append(w.touched, q)
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
			if w.dry {
				w.stepf("%d bytes + VXLAN overhead exceed the underlay MTU: no copies to the flood list", n)
			}
			oversize++
		} else {
			sport := w.encap(d, buf, off, n)
			for _, peer := range d.flood {
				if w.send(d, peer, buf, off, n, sport) {
					copies++
				} else {
					failed++
				}
			}
		}
	}
	switch {
	case copies > 0:
		if w.dry {
			w.stepf("flood: %d copies", copies)
		}
		return Verdict{Action: ActionFlood, Copies: copies}
	case failed > 0 && from != nil && len(d.flood) > 0:
		return w.drop(ReasonUnderlayError)
	case failed > 0:
		return w.drop(ReasonPortDown)
	case oversize > 0:
		return w.drop(ReasonOversize)
	}
	return w.drop(ReasonNoDestination)
}
