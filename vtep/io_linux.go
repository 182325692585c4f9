package vtep

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"

	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Reader and Writer enter the kernel with RawSyscall, not Syscall. Each of
// their calls returns at once (MSG_DONTWAIT; waiting is left to Go's
// poller), so the runtime need not know that the goroutine is in the
// kernel; and the runtime's own entry wakes its monitor thread (sysmon)
// whenever that went to sleep because the process was idle: a futex wake,
// and on a VM an interprocessor interrupt, ahead of the first datagram of
// every burst, then a thread that polls every 20 µs beside the switch.
// The TAP side (package tap) does the same.

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
// Read allocates nothing once it has seen its largest batch.
//
// With UDP GRO on, one receive may hold a run of datagrams the kernel kept
// together; Read splits it at the segment size the kernel reports, so every
// Message is one datagram as it was on the wire.
type Reader struct {
	c     *Conn
	raw   syscall.RawConn
	gro   bool
	bufs  [][]byte
	out   []Message
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6
	oob   []byte // oobSpace bytes per message
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

// maxRun is the most a receive with UDP GRO can hold: a UDP payload as
// large as IP allows.
const maxRun = 65535

// oobSpace is the control-message room per received datagram: the UDP_GRO
// segment size, with space to spare.
const oobSpace = 64

// NewReceiver returns a Reader that receives up to batch datagrams of up to
// bufSize bytes per call. With UDP GRO on, its buffers hold the largest
// run the kernel may hand over, whatever bufSize.
func (c *Conn) NewReceiver(batch, bufSize int) Receiver {
	if batch < 1 {
		batch = 1
	}
	if c.gro {
		bufSize = max(bufSize, maxRun)
	}
	r := &Reader{
		c:     c,
		raw:   c.rxRaw,
		gro:   c.gro,
		bufs:  make([][]byte, batch),
		out:   make([]Message, 0, batch),
		hdrs:  make([]mmsghdr, batch),
		iovs:  make([]unix.Iovec, batch),
		names: make([]unix.RawSockaddrInet6, batch),
		oob:   make([]byte, batch*oobSpace),
	}
	for i := range r.bufs {
		r.bufs[i] = make([]byte, bufSize)
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
	r.out = r.out[:0]
	for i := 0; i < r.n; i++ {
		n := int(r.hdrs[i].len)
		addr := sockaddrToAddrPort(&r.names[i])
		buf := r.bufs[i]
		seg := 0
		if r.gro {
			oob := r.oob[i*oobSpace:]
			seg = groSize(oob[:min(int(r.hdrs[i].hdr.Controllen), oobSpace)])
		}
		if seg <= 0 || seg >= n {
			r.out = append(r.out, Message{Buf: buf, N: n, Addr: addr})
			continue
		}
		r.c.groRuns.Add(1)
		r.c.groDatagrams.Add(uint64((n + seg - 1) / seg))
		for off := 0; off < n; off += seg {
			end := min(off+seg, n)
			r.out = append(r.out, Message{Buf: buf[off:end:end], N: end - off, Addr: addr})
		}
	}
	return r.out, nil
}

func (r *Reader) recv(fd uintptr) bool {
	for i := range r.hdrs {
		buf := r.bufs[i]
		r.iovs[i].Base = unsafe.SliceData(buf)
		r.iovs[i].SetLen(len(buf))
		h := &r.hdrs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		h.Namelen = uint32(unsafe.Sizeof(r.names[i]))
		h.Iov = &r.iovs[i]
		h.SetIovlen(1)
		h.Control = &r.oob[i*oobSpace]
		h.SetControllen(oobSpace)
		h.Flags = 0
	}
	n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])),
		uintptr(len(r.hdrs)), unix.MSG_DONTWAIT, 0, 0)
	for errno == unix.EINTR {
		n, _, errno = unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])),
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
// writeBatch datagrams, Flush sends them in one system call. Where the
// underlay does UDP GSO, Flush sends each run of queued datagrams that
// share destination and source port, all of one size but the last, as one
// GSO message instead. One Writer belongs to one goroutine; neither Queue
// nor Flush allocates.
type Writer struct {
	c     *Conn
	raw   syscall.RawConn
	hdrs  [writeBatch]mmsghdr
	iovs  [writeBatch]unix.Iovec
	names [writeBatch]unix.RawSockaddrInet6
	q     [writeBatch]queued
	n     int // queued

	// The sendmmsg in progress: hdrs[from:to], of which sent handled.
	from, to, sent int
	failed         int
	errno          syscall.Errno
	fn             func(fd uintptr) bool

	// The GSO send in progress.
	gsoIovs  [maxGSOSegments]unix.Iovec
	gsoName  unix.RawSockaddrInet6
	gsoMsg   unix.Msghdr
	gsoOOB   []byte
	gsoErrno syscall.Errno
	gsoFn    func(fd uintptr) bool
}

// queued is what Flush needs to group datagrams into GSO runs.
type queued struct {
	vx    []byte // VXLAN header and inner frame
	sport uint16
	dst   netip.Addr
}

// NewSender returns a Writer for one goroutine.
func (c *Conn) NewSender() Sender {
	w := &Writer{c: c, raw: c.rxRaw, gsoOOB: make([]byte, sizeofCmsgU16)}
	if c.tx != nil {
		w.raw = c.txRaw
	}
	w.fn = w.sendmmsg
	w.gsoFn = w.sendGSO
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
	if w.c.tx != nil && off < UDPHeaderLen {
		return fmt.Errorf("send to %s: %d bytes of headroom, need %d", dst, off, UDPHeaderLen)
	}
	if w.n == writeBatch {
		if _, err := w.Flush(); err != nil && !isPerDatagram(err) {
			return err
		}
	}
	i := w.n
	w.q[i] = queued{vx: b[off:], sport: srcPort, dst: dst}
	port := w.c.port
	if w.c.tx != nil {
		off -= UDPHeaderLen
		u := b[off : off+UDPHeaderLen]
		binary.BigEndian.PutUint16(u[0:2], srcPort)
		binary.BigEndian.PutUint16(u[2:4], w.c.port)
		binary.BigEndian.PutUint16(u[4:6], uint16(len(b)-off))
		u[6], u[7] = 0, 0 // IPv4: no checksum (RFC 7348 §5); IPv6: kernel fills it
		port = 0          // raw IPv6 sockets take the port field as protocol
	}
	salen := putSockaddr(&w.names[i], dst, port)
	buf := b[off:]
	w.iovs[i].Base = unsafe.SliceData(buf)
	w.iovs[i].SetLen(len(buf))
	h := &w.hdrs[i].hdr
	*h = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&w.names[i])), Namelen: salen, Iov: &w.iovs[i]}
	h.SetIovlen(1)
	w.n++
	return nil
}

// putSockaddr writes dst:port into sa and returns the length to pass.
func putSockaddr(sa *unix.RawSockaddrInet6, dst netip.Addr, port uint16) uint32 {
	if dst.Is4() {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Port: htons(port), Addr: dst.As4()}
		return uint32(unsafe.Sizeof(*sa4))
	}
	*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Port: htons(port), Addr: dst.As16()}
	return uint32(unsafe.Sizeof(*sa))
}

// Queued is the number of datagrams waiting for Flush.
func (w *Writer) Queued() int { return w.n }

// Flush sends the queued datagrams, in order. A datagram the kernel refuses
// is skipped and the rest still sent; failed counts them and err is the
// last refusal. After Close it returns an error wrapping net.ErrClosed.
func (w *Writer) Flush() (failed int, err error) {
	n := w.n
	w.n = 0
	if n == 0 {
		return 0, nil
	}
	w.failed, w.errno = 0, 0
	plain := 0 // the first datagram not sent yet: up to the next GSO run, they go one by one
	for i := 0; i < n; {
		j := w.runEnd(i, n)
		if j-i < 2 {
			i = j
			continue
		}
		s := w.c.gsoSocket(w.q[i].sport)
		if s == nil {
			i = j
			continue
		}
		if err := w.sendPlain(plain, i); err != nil {
			return w.failed + n - w.sent, err
		}
		switch err := w.sendRun(s, i, j); {
		case err == nil:
			plain = j
		case errors.Is(err, net.ErrClosed):
			return w.failed + n - i, err
		default: // sent one by one below, where each refusal is counted
			plain = i
		}
		i = j
	}
	if err := w.sendPlain(plain, n); err != nil {
		return w.failed + n - w.sent, err
	}
	if w.errno != 0 {
		return w.failed, perDatagramError{w.errno}
	}
	return 0, nil
}

// runEnd returns the end of the GSO run that starts at queued datagram i:
// the following datagrams to the same destination from the same source
// port and of the same size, and at most one shorter one to close it,
// within the limits of one GSO send.
func (w *Writer) runEnd(i, n int) int {
	first := &w.q[i]
	size, total := len(first.vx), len(first.vx)
	limit := maxGSOPayload4
	if first.dst.Is6() {
		limit = maxGSOPayload6
	}
	j := i + 1
	for j < n && j-i < maxGSOSegments {
		d := &w.q[j]
		if d.sport != first.sport || d.dst != first.dst || len(d.vx) > size || total+len(d.vx) > limit {
			break
		}
		total += len(d.vx)
		j++
		if len(d.vx) < size {
			break
		}
	}
	return j
}

// sendPlain sends queued datagrams [from, to) with sendmmsg; on return
// w.sent is the index up to which they were handed to the kernel.
func (w *Writer) sendPlain(from, to int) error {
	w.from, w.to, w.sent = from, to, from
	if from >= to {
		return nil
	}
	return w.raw.Write(w.fn)
}

func (w *Writer) sendmmsg(fd uintptr) bool {
	for w.sent < w.to {
		r, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&w.hdrs[w.sent])),
			uintptr(w.to-w.sent), unix.MSG_DONTWAIT, 0, 0)
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

// sendRun sends queued datagrams [i, j) as one GSO message through s. An
// error that will not pass turns GSO off for the Conn; the caller then
// sends the run one datagram at a time.
func (w *Writer) sendRun(s *gsoSock, i, j int) error {
	for k := i; k < j; k++ {
		vx := w.q[k].vx
		w.gsoIovs[k-i].Base = unsafe.SliceData(vx)
		w.gsoIovs[k-i].SetLen(len(vx))
	}
	salen := putSockaddr(&w.gsoName, w.q[i].dst, w.c.port)
	putSegmentCmsg(w.gsoOOB, uint16(len(w.q[i].vx)))
	w.gsoMsg = unix.Msghdr{
		Name:    (*byte)(unsafe.Pointer(&w.gsoName)),
		Namelen: salen,
		Iov:     &w.gsoIovs[0],
		Control: &w.gsoOOB[0],
	}
	w.gsoMsg.SetIovlen(j - i)
	w.gsoMsg.SetControllen(len(w.gsoOOB))
	w.gsoErrno = 0
	if err := s.raw.Write(w.gsoFn); err != nil {
		return err
	}
	if w.gsoErrno != 0 {
		if gsoFatal(w.gsoErrno) {
			w.c.gso.Store(false)
		}
		return w.gsoErrno
	}
	w.c.gsoMessages.Add(1)
	w.c.gsoDatagrams.Add(uint64(j - i))
	return nil
}

func (w *Writer) sendGSO(fd uintptr) bool {
	for {
		_, _, errno := unix.RawSyscall(unix.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&w.gsoMsg)), unix.MSG_DONTWAIT)
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		w.gsoErrno = errno
		return true
	}
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
