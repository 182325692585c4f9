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

// Writer sends encapsulated frames. One Writer belongs to one goroutine; a
// Send allocates nothing.
type Writer struct {
	c     *Conn
	raw   syscall.RawConn
	buf   []byte
	sa4   unix.RawSockaddrInet4
	sa6   unix.RawSockaddrInet6
	sa    unsafe.Pointer
	salen uintptr
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

// NewSender returns a Writer for one goroutine.
func (c *Conn) NewSender() Sender {
	w := &Writer{c: c, raw: c.rxRaw}
	if c.tx != nil {
		w.raw = c.txRaw
	}
	w.fn = w.send
	return w
}

// Send transmits b[off:] — a VXLAN header and the inner frame — to dst on
// the VXLAN port, from outer UDP source port srcPort when the Conn sends per
// flow. The UDPHeaderLen bytes before off are headroom Send may overwrite.
func (w *Writer) Send(b []byte, off int, srcPort uint16, dst netip.Addr) error {
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
	if dst.Is4() {
		w.sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Port: htons(port), Addr: dst.As4()}
		w.sa, w.salen = unsafe.Pointer(&w.sa4), unsafe.Sizeof(w.sa4)
	} else {
		w.sa6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Port: htons(port), Addr: dst.As16()}
		w.sa, w.salen = unsafe.Pointer(&w.sa6), unsafe.Sizeof(w.sa6)
	}
	w.buf = b[off:]
	err := w.raw.Write(w.fn)
	w.buf = nil
	if err != nil {
		return fmt.Errorf("send to %s: %w", dst, err)
	}
	if w.errno != 0 {
		return fmt.Errorf("send to %s: sendto: %w", dst, w.errno)
	}
	return nil
}

func (w *Writer) send(fd uintptr) bool {
	errno := unix.EINTR
	for errno == unix.EINTR {
		_, _, errno = unix.Syscall6(unix.SYS_SENDTO, fd, uintptr(unsafe.Pointer(unsafe.SliceData(w.buf))),
			uintptr(len(w.buf)), unix.MSG_DONTWAIT, uintptr(w.sa), w.salen)
	}
	if errno == unix.EAGAIN {
		return false
	}
	w.errno = errno
	return true
}
