package vswitch

import (
	"net/netip"
	"time"
)

// Direction says whether an Event entered or left the switch.
type Direction uint8

// Directions.
const (
	DirIn Direction = iota
	DirOut
)

func (d Direction) String() string {
	if d == DirIn {
		return "in"
	}
	return "out"
}

// Event is one frame or datagram crossing the switch's edge, shown to
// observers (captures, traces). It is only valid during Observe: the data
// and the Event itself are reused.
type Event struct {
	Time time.Time
	Dir  Direction
	// Underlay is set for VXLAN datagrams; otherwise the event is a frame on
	// Port.
	Underlay bool
	Port     string
	// Network and VNI are empty when a datagram matched no network.
	Network string
	VNI     uint32
	// Local and Remote are the underlay endpoints of a datagram.
	Local, Remote netip.AddrPort
	// Data is the Ethernet frame of a port event, or the UDP payload
	// (VXLAN header and inner frame) of an underlay event.
	Data []byte
	// Verdict is the switch's decision for DirIn events.
	Verdict Verdict
}

// Observer sees every Event while subscribed. Observe runs on the data
// path: it must not block or keep Data; a slow consumer drops and counts.
type Observer interface {
	Observe(ev *Event)
}

// Subscribe attaches o until the returned cancel function is called. With no
// observer attached the data path pays one atomic load per frame.
func (s *Switch) Subscribe(o Observer) (cancel func()) {
	s.obsMu.Lock()
	defer s.obsMu.Unlock()
	cur := s.observers.Load()
	var next []Observer
	if cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, o)
	s.observers.Store(&next)
	return func() {
		s.obsMu.Lock()
		defer s.obsMu.Unlock()
		cur := s.observers.Load()
		if cur == nil {
			return
		}
		var rest []Observer
		for _, x := range *cur {
			if x != o {
				rest = append(rest, x)
			}
		}
		if len(rest) == 0 {
			s.observers.Store(nil)
			return
		}
		s.observers.Store(&rest)
	}
}

func (w *Worker) observePort(obs []Observer, dir Direction, p *Port, frame []byte, v Verdict) {
	w.ev = Event{Time: time.Now(), Dir: dir, Port: p.cfg.Name, Network: p.dom.name, VNI: p.dom.vni, Data: frame, Verdict: v}
	for _, o := range obs {
		o.Observe(&w.ev)
	}
}

func (w *Worker) observeUnderlay(obs []Observer, dir Direction, d *domain, remote, local netip.AddrPort, data []byte, v Verdict) {
	w.ev = Event{Time: time.Now(), Dir: dir, Underlay: true, Local: local, Remote: remote, Data: data, Verdict: v}
	if d != nil {
		w.ev.Network, w.ev.VNI = d.name, d.vni
	}
	for _, o := range obs {
		o.Observe(&w.ev)
	}
}

// vxlanPort is the underlay's VXLAN port (4789 unless configured).
func (s *Switch) vxlanPort() uint16 {
	if s.underlay != nil {
		return s.underlay.LocalAddr().Port()
	}
	return 4789
}

// localAddr is this VTEP's address with the outer source port a datagram
// leaves from: sport where the underlay sends per flow, else the VXLAN port
// (also for received datagrams, sport 0).
func (s *Switch) localAddr(sport uint16) netip.AddrPort {
	if sport == 0 || s.fixedSourcePort {
		sport = s.vxlanPort()
	}
	return netip.AddrPortFrom(s.local, sport)
}
