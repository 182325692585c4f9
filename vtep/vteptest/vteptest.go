// Package vteptest provides an in-memory VXLAN underlay, so that switches can
// exchange datagrams in unit tests without sockets or privileges.
package vteptest

import (
	"errors"
	"net"
	"net/netip"
	"sync"

	"github.com/vxswitch/vxswitch/vtep"
)

// Datagram is one datagram that crossed the in-memory underlay.
type Datagram struct {
	Src     netip.AddrPort
	Dst     netip.Addr
	Payload []byte // VXLAN header and inner frame
}

// Network joins in-memory underlays by address and records every datagram.
type Network struct {
	mu    sync.Mutex
	nodes map[netip.Addr]*Underlay
	log   []Datagram
	lost  int
}

// NewNetwork returns an empty underlay network.
func NewNetwork() *Network { return &Network{nodes: map[netip.Addr]*Underlay{}} }

// Underlay attaches a VTEP at addr to the network.
func (n *Network) Underlay(addr netip.Addr) *Underlay {
	u := &Underlay{net: n, addr: netip.AddrPortFrom(addr, vtep.DefaultPort), queue: make(chan Datagram, 4096), done: make(chan struct{})}
	n.mu.Lock()
	n.nodes[addr] = u
	n.mu.Unlock()
	return u
}

// Log returns every datagram sent so far, in order.
func (n *Network) Log() []Datagram {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Datagram(nil), n.log...)
}

// Lost counts datagrams sent to an address with no VTEP, or to a full queue.
func (n *Network) Lost() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.lost
}

// Inject delivers payload to the VTEP at dst as if src had sent it.
func (n *Network) Inject(src netip.AddrPort, dst netip.Addr, payload []byte) {
	d := Datagram{Src: src, Dst: dst, Payload: append([]byte(nil), payload...)}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.log = append(n.log, d)
	u, ok := n.nodes[dst]
	if !ok {
		n.lost++
		return
	}
	select {
	case u.queue <- d:
	default:
		n.lost++
	}
}

// Underlay is one VTEP's in-memory socket. It implements vtep.Underlay.
type Underlay struct {
	net       *Network
	addr      netip.AddrPort
	queue     chan Datagram
	done      chan struct{}
	closeOnce sync.Once
}

var _ vtep.Underlay = (*Underlay)(nil)

// LocalAddr implements vtep.Underlay.
func (u *Underlay) LocalAddr() netip.AddrPort { return u.addr }

// Close implements vtep.Underlay.
func (u *Underlay) Close() error {
	u.closeOnce.Do(func() { close(u.done) })
	return nil
}

// NewSender implements vtep.Underlay.
func (u *Underlay) NewSender() vtep.Sender { return sender{u} }

type sender struct{ u *Underlay }

func (s sender) Send(b []byte, off int, srcPort uint16, dst netip.Addr) error {
	if off < vtep.UDPHeaderLen {
		return errors.New("vteptest: send without UDP headroom")
	}
	select {
	case <-s.u.done:
		return net.ErrClosed
	default:
	}
	s.u.net.Inject(netip.AddrPortFrom(s.u.addr.Addr(), srcPort), dst, b[off:])
	return nil
}

// NewReceiver implements vtep.Underlay.
func (u *Underlay) NewReceiver(batch, bufSize int) vtep.Receiver {
	r := &receiver{u: u, msgs: make([]vtep.Message, max(batch, 1))}
	for i := range r.msgs {
		r.msgs[i].Buf = make([]byte, bufSize)
	}
	return r
}

type receiver struct {
	u    *Underlay
	msgs []vtep.Message
}

func (r *receiver) Read() ([]vtep.Message, error) {
	var d Datagram
	select {
	case d = <-r.u.queue:
	case <-r.u.done:
		return nil, net.ErrClosed
	}
	n := 0
	for {
		m := &r.msgs[n]
		m.N = copy(m.Buf, d.Payload)
		m.Addr = d.Src
		n++
		if n == len(r.msgs) {
			return r.msgs[:n], nil
		}
		select {
		case d = <-r.u.queue:
		default:
			return r.msgs[:n], nil
		}
	}
}

// Recorder is a vtep.Sender that records what it is asked to send, for
// tests of single forwarding decisions.
type Recorder struct {
	mu   sync.Mutex
	Sent []Datagram
}

var _ vtep.Sender = (*Recorder)(nil)

// Send implements vtep.Sender.
func (r *Recorder) Send(b []byte, off int, srcPort uint16, dst netip.Addr) error {
	if off < vtep.UDPHeaderLen {
		return errors.New("vteptest: send without UDP headroom")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Sent = append(r.Sent, Datagram{Src: netip.AddrPortFrom(netip.Addr{}, srcPort), Dst: dst, Payload: append([]byte(nil), b[off:]...)})
	return nil
}

// Take returns and forgets what was recorded.
func (r *Recorder) Take() []Datagram {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.Sent
	r.Sent = nil
	return s
}

// Discard is a vtep.Sender that drops everything without allocating, for
// benchmarks.
type Discard struct{ N, Bytes uint64 }

// Send implements vtep.Sender.
func (d *Discard) Send(b []byte, off int, _ uint16, _ netip.Addr) error {
	d.N++
	d.Bytes += uint64(len(b) - off)
	return nil
}
