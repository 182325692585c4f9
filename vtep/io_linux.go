package vtep

import (
	"encoding/binary"
	"fmt"

	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Message is one underlay datagram in a Reader's batch.
type Message struct {
	// Buf holds the datagram in Buf[:N] (the VXLAN header first).
	Buf []byte
	N   int
	// Addr is the sender's address and port.
	Addr netip.AddrPort
}

// mmsghdr is struct mmsghdr from <sys/socket.h>.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// Reader reads batches of datagrams with recvmmsg(2). One Reader belongs to
// one goroutine; its buffers and syscall arguments are allocated once, so a
// Read allocates nothing.
type Reader struct {
	raw   syscall.RawConn
	msgs  []Message
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

// NewReceiver returns a Reader that receives up to batch datagrams of up to
// bufSize bytes per call.
func (c *Conn) NewReceiver(batch, bufSize int) Receiver {
	if batch < 1 {
		batch = 1
	}
	r := &Reader{
		raw:   c.rxRaw,
		msgs:  make([]Message, batch),
		hdrs:  make([]mmsghdr, batch),
		iovs:  make([]unix.Iovec, batch),
		names: make([]unix.RawSockaddrInet6, batch),
	}
	for i := range r.msgs {
		r.msgs[i].Buf = make([]byte, bufSize)
	}
	r.fn = r.recv
	return r
}

// Read blocks until at least one datagram arrives and returns the batch.
// The messages stay valid until the next Read. After Close it returns an
// error wrapping net.ErrClosed.
func (r *Reader) Read() ([]Message, error) {
	if err := r.raw.Read(r.fn); err != nil {
		return nil, fmt.Errorf("read underlay: %w", err)
	}
	if r.errno != 0 {
		return nil, fmt.Errorf("read underlay: recvmmsg: %w", r.errno)
	}
	for i := 0; i < r.n; i++ {
		m := &r.msgs[i]
		m.N = int(r.hdrs[i].len)
		m.Addr = sockaddrToAddrPort(&r.names[i])
	}
	return r.msgs[:r.n], nil
}

func (r *Reader) recv(fd uintptr) bool {
	for i := range r.hdrs {
		buf := r.msgs[i].Buf
		r.iovs[i].Base = unsafe.SliceData(buf)
		r.iovs[i].SetLen(len(buf))
		h := &r.hdrs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		h.Namelen = uint32(unsafe.Sizeof(r.names[i]))
		h.Iov = &r.iovs[i]
		h.SetIovlen(1)
		h.Flags = 0
	}
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])),
		uintptr(len(r.hdrs)), unix.MSG_DONTWAIT, 0, 0)
	for errno == unix.EINTR {
		n, _, errno = unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])),
			uintptr(len(r.hdrs)), unix.MSG_DONTWAIT, 0, 0)
	}
	if errno == unix.EAGAIN {
		return false
	}
	r.n, r.errno = int(n), errno
	if errno != 0 {
		r.n = 0
	}
	return true
}

func sockaddrToAddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), ntohs(sa4.Port))
	case unix.AF_INET6:
		// A v4-mapped source on a dual-stack socket compares as IPv4.
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), ntohs(sa.Port))
	}
	return netip.AddrPort{}
}

func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return binary.BigEndian.Uint16(b[:])
}

func htons(p uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], p)
	return *(*uint16)(unsafe.Pointer(&b[0]))
}

// writeBatch is how many datagrams a Writer queues before it must flush.
const writeBatch = 64

// Writer sends encapsulated frames with sendmmsg(2): Queue collects up to
// writeBatch datagrams, Flush sends them in one system call. One Writer
// belongs to one goroutine; neither allocates.
type Writer struct {
	c      *Conn
	raw    syscall.RawConn
	hdrs   [writeBatch]mmsghdr
	iovs   [writeBatch]unix.Iovec
	names  [writeBatch]unix.RawSockaddrInet6
	n      int // queued
	sent   int // of the queued, handled by the kernel so far
	failed int
	errno  syscall.Errno
	fn     func(fd uintptr) bool
}

// NewSender returns a Writer for one goroutine.
func (c *Conn) NewSender() Sender {
	w := &Writer{c: c, raw: c.rxRaw}
	if c.tx != nil {
		w.raw = c.txRaw
	}
	w.fn = w.sendmmsg
	return w
}

// Send transmits b[off:] — a VXLAN header and the inner frame — to dst on
// the VXLAN port, from outer UDP source port srcPort when the Conn sends per
// flow, together with anything queued before. The UDPHeaderLen bytes before
// off are headroom Send may overwrite.
func (w *Writer) Send(b []byte, off int, srcPort uint16, dst netip.Addr) error {
	if err := w.Queue(b, off, srcPort, dst); err != nil {
		return err
	}
	if _, err := w.Flush(); err != nil {
		return fmt.Errorf("send to %s: %w", dst, err)
	}
	return nil
}

// Queue adds a datagram to the batch, as Send would send it; b must stay
// unchanged until Flush. A full batch is flushed first.
func (w *Writer) Queue(b []byte, off int, srcPort uint16, dst netip.Addr) error {
	dst = dst.Unmap()
	if dst.Is4() != w.c.local.Is4() {
		return fmt.Errorf("send to %s: address family differs from underlay %s", dst, w.c.local)
	}
	port := w.c.port
	if w.c.tx != nil {
		if off < UDPHeaderLen {
			return fmt.Errorf("send to %s: %d bytes of headroom, need %d", dst, off, UDPHeaderLen)
		}
		off -= UDPHeaderLen
		u := b[off : off+UDPHeaderLen]
		binary.BigEndian.PutUint16(u[0:2], srcPort)
		binary.BigEndian.PutUint16(u[2:4], w.c.port)
		binary.BigEndian.PutUint16(u[4:6], uint16(len(b)-off))
		u[6], u[7] = 0, 0 // IPv4: no checksum (RFC 7348 §5); IPv6: kernel fills it
		port = 0          // raw IPv6 sockets take the port field as protocol
	}
	if w.n == writeBatch {
		if _, err := w.Flush(); err != nil && !isPerDatagram(err) {
			return err
		}
	}
	i := w.n
	sa := &w.names[i]
	var salen uint32
	if dst.Is4() {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Port: htons(port), Addr: dst.As4()}
		salen = uint32(unsafe.Sizeof(*sa4))
	} else {
		*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Port: htons(port), Addr: dst.As16()}
		salen = uint32(unsafe.Sizeof(*sa))
	}
	buf := b[off:]
	w.iovs[i].Base = unsafe.SliceData(buf)
	w.iovs[i].SetLen(len(buf))
	h := &w.hdrs[i].hdr
	*h = unix.Msghdr{Name: (*byte)(unsafe.Pointer(sa)), Namelen: salen, Iov: &w.iovs[i]}
	h.SetIovlen(1)
	w.n++
	return nil
}

// Queued is the number of datagrams waiting for Flush.
func (w *Writer) Queued() int { return w.n }

// Flush sends the queued datagrams. A datagram the kernel refuses is
// skipped and the rest still sent; failed counts them and err is the last
// refusal. After Close it returns an error wrapping net.ErrClosed.
func (w *Writer) Flush() (failed int, err error) {
	if w.n == 0 {
		return 0, nil
	}
	w.sent, w.failed, w.errno = 0, 0, 0
	rerr := w.raw.Write(w.fn)
	unsent := w.n - w.sent
	w.n = 0
	if rerr != nil {
		return w.failed + unsent, rerr
	}
	if w.errno != 0 {
		return w.failed, perDatagramError{w.errno}
	}
	return 0, nil
}

func (w *Writer) sendmmsg(fd uintptr) bool {
	for w.sent < w.n {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&w.hdrs[w.sent])),
			uintptr(w.n-w.sent), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			w.sent += int(r)
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default: // the first datagram left was refused: skip it
			w.failed++
			w.errno = errno
			w.sent++
		}
	}
	return true
}

// perDatagramError is a refusal of single datagrams (say, EMSGSIZE or an
// unreachable destination), as opposed to a closed socket.
type perDatagramError struct{ errno syscall.Errno }

func (e perDatagramError) Error() string { return "sendmmsg: " + e.errno.Error() }
func (e perDatagramError) Unwrap() error { return e.errno }

func isPerDatagram(err error) bool {
	_, ok := err.(perDatagramError)
	return ok
}
