package vtep

import "net/netip"

// Underlay is what the switch needs of a VTEP socket. *Conn is the real one;
// vteptest has an in-memory one so whole switches run in unit tests.
type Underlay interface {
	// NewSender returns a Sender for one goroutine.
	NewSender() Sender
	// NewReceiver returns a Receiver for one goroutine, reading up to batch
	// datagrams of up to bufSize bytes per call.
	NewReceiver(batch, bufSize int) Receiver
	// LocalAddr is this VTEP's underlay address and VXLAN port.
	LocalAddr() netip.AddrPort
	// Close unblocks every Receiver (they return an error) and releases
	// the sockets.
	Close() error
}

// Sender sends VXLAN datagrams. A Sender is used by one goroutine at a time.
type Sender interface {
	// Send transmits b[off:] (VXLAN header and inner frame) to dst on the
	// VXLAN port, from outer UDP source port srcPort where the underlay
	// supports per-flow ports. The UDPHeaderLen bytes before off are
	// headroom Send may overwrite; b itself is not retained.
	Send(b []byte, off int, srcPort uint16, dst netip.Addr) error
}

// BatchSender is a Sender that can also queue datagrams and send them in
// one system call. *Writer is one.
type BatchSender interface {
	Sender
	// Queue adds a datagram as Send would send it; b must stay unchanged
	// until Flush.
	Queue(b []byte, off int, srcPort uint16, dst netip.Addr) error
	// Flush sends everything queued; failed counts datagrams the kernel
	// refused (the others are still sent).
	Flush() (failed int, err error)
}

// Receiver reads VXLAN datagrams. A Receiver is used by one goroutine.
type Receiver interface {
	// Read blocks until at least one datagram arrives. The returned
	// messages and their buffers stay valid until the next Read.
	Read() ([]Message, error)
}

var (
	_ Underlay    = (*Conn)(nil)
	_ BatchSender = (*Writer)(nil)
	_ Receiver    = (*Reader)(nil)
)
