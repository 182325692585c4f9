package vtep

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vxswitch/vxswitch/internal/nsrun"
)

// UDP segmentation offload (GSO, UDP_SEGMENT) sends a run of datagrams that
// share destination and source port, all of one size but the last, as one
// buffer in one sendmsg: the stack carries it as one packet as far as it can
// (through a veth into the peer's namespace, whole) and cuts it into the
// datagrams the wire sees only where it must. On the wire nothing changes:
// each datagram is a VXLAN header and one inner frame, as a kernel VTEP
// expects. Receive offload (UDP_GRO) is the other half: the kernel hands
// the socket such a run whole, with the segment size in a control message.

// Limits of one GSO send: segments per send (UDP_MAX_SEGMENTS is 64 on older
// kernels) and the payload that fits an IP packet's 16-bit length field.
const (
	maxGSOSegments = 64
	maxGSOPayload4 = 65535 - 20 - UDPHeaderLen
	maxGSOPayload6 = 65535 - UDPHeaderLen
)

// maxGSOSockets bounds the sockets a Conn opens for per-flow GSO, one per
// outer source port in use by a bulk flow. Flows past it are sent one
// datagram per message through the raw socket, as without GSO.
const maxGSOSockets = 256

// gsoSock is a UDP socket that sends GSO runs: the listening socket in
// fixed-source-port mode, else one bound to a single outer source port.
type gsoSock struct {
	conn *net.UDPConn
	raw  syscall.RawConn
}

// gsoUnavailable marks a source port for which no socket could be opened
// (the port is taken, or the pool is full): its runs go out unsegmented.
var gsoUnavailable = new(gsoSock)

// gsoPool opens the per-source-port sockets lazily, the first time a run of
// datagrams of that flow is sent, in the namespace the Conn was opened in.
type gsoPool struct {
	local netip.Addr
	ns    netns.NsHandle // the Conn's network namespace

	socks [1 << 16]atomic.Pointer[gsoSock] // by source port

	mu     sync.Mutex
	open   []*gsoSock // guarded by mu
	failed int        // guarded by mu: ports no socket could be opened for
	closed bool       // guarded by mu
}

func newGSOPool(local netip.Addr) (*gsoPool, error) {
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("get network namespace: %w", err)
	}
	return &gsoPool{local: local, ns: ns}, nil
}

// get returns the socket for source port, or nil when there is none.
func (p *gsoPool) get(port uint16) *gsoSock {
	if s := p.socks[port].Load(); s != nil {
		if s == gsoUnavailable {
			return nil
		}
		return s
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	if s := p.socks[port].Load(); s != nil {
		if s == gsoUnavailable {
			return nil
		}
		return s
	}
	if len(p.open) >= maxGSOSockets {
		p.socks[port].Store(gsoUnavailable)
		p.failed++
		return nil
	}
	s, err := p.openIn(port)
	if err != nil {
		p.socks[port].Store(gsoUnavailable)
		p.failed++
		return nil
	}
	p.socks[port].Store(s)
	p.open = append(p.open, s)
	return s
}

// openIn opens the socket for port inside the Conn's namespace: the calling
// goroutine may run on a thread of another one (a test's, say).
func (p *gsoPool) openIn(port uint16) (s *gsoSock, err error) {
	err = nsrun.Do(p.ns, func() error {
		s, err = openGSOSocket(p.local, port)
		return err
	})
	if err != nil && s != nil { // opened, but the thread could not leave
		s.conn.Close()
		s = nil
	}
	return s, err
}

// openGSOSocket opens a send-only UDP socket bound to local:port.
func openGSOSocket(local netip.Addr, port uint16) (*gsoSock, error) {
	network := "udp4"
	if local.Is6() {
		network = "udp6"
	}
	conn, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, port)))
	if err != nil {
		return nil, err
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return nil, err
	}
	var serr error
	cerr := raw.Control(func(fd uintptr) {
		// Nothing is meant to arrive on the source port; a filter that
		// accepts nothing keeps stray datagrams from queueing there.
		serr = dropAll(int(fd))
		if serr == nil && local.Is4() {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT)
		}
	})
	if err := errors.Join(cerr, serr); err != nil {
		conn.Close()
		return nil, err
	}
	setBuffer(raw, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, socketBuffer)
	return &gsoSock{conn: conn, raw: raw}, nil
}

// dropAll attaches a socket filter that accepts no packet.
func dropAll(fd int) error {
	prog := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
		&unix.SockFprog{Len: 1, Filter: &prog[0]}); err != nil {
		return fmt.Errorf("attach drop-all filter: %w", err)
	}
	return nil
}

// stats reports the sockets open and the ports that could not have one.
func (p *gsoPool) stats() (open, failed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.open), p.failed
}

func (p *gsoPool) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	var err error
	for _, s := range p.open {
		err = errors.Join(err, s.conn.Close())
	}
	p.open = nil
	return errors.Join(err, p.ns.Close())
}

// probeGSO reports whether the kernel takes UDP_SEGMENT on fd (Linux 4.18).
func probeGSO(raw syscall.RawConn) error {
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT, 1400)
		if serr == nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT, 0)
		}
	}); err != nil {
		return err
	}
	return serr
}

// enableGRO asks the kernel to hand fd runs of datagrams whole (Linux 5.0).
func enableGRO(raw syscall.RawConn) error {
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_GRO, 1)
	}); err != nil {
		return err
	}
	return serr
}

// gsoFatal reports whether a GSO send failed for a reason that will not go
// away (the stack cannot segment or checksum for this socket), as opposed
// to one that would fail the same datagrams sent one by one.
func gsoFatal(errno syscall.Errno) bool {
	switch errno {
	case unix.EIO, unix.ENOPROTOOPT, unix.EOPNOTSUPP:
		return true
	}
	return false
}

// sizeofCmsgU16 is the space of a control message carrying a uint16.
var sizeofCmsgU16 = unix.CmsgSpace(2)

// putSegmentCmsg writes a UDP_SEGMENT control message for size into b.
func putSegmentCmsg(b []byte, size uint16) {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level = unix.SOL_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&b[unix.CmsgLen(0)])) = size
}

// groSize returns the segment size from a UDP_GRO control message in oob,
// or 0 when there is none.
func groSize(oob []byte) int {
	for len(oob) >= unix.CmsgLen(0) {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.CmsgLen(0) || l > len(oob) {
			return 0
		}
		if h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO && l >= unix.CmsgLen(4) {
			return int(*(*int32)(unsafe.Pointer(&oob[unix.CmsgLen(0)])))
		}
		next := unix.CmsgSpace(l - unix.CmsgLen(0))
		if next > len(oob) {
			return 0
		}
		oob = oob[next:]
	}
	return 0
}
