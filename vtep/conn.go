package vtep

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Options configure an underlay Conn.
type Options struct {
	// Local is the VTEP's own underlay address; the socket binds to it.
	Local netip.Addr
	// Port is the VXLAN UDP port, used to listen and as destination port.
	Port uint16
	// FixedSourcePort turns per-flow outer source ports off: datagrams are
	// sent from the listening socket, so their source port is Port. It is
	// also the fallback when a raw socket is not permitted.
	FixedSourcePort bool
	// NoGSO turns UDP segmentation offload off: every datagram is its
	// own message to the kernel. NoGRO turns UDP receive offload off.
	NoGSO, NoGRO bool
}

// Conn is the underlay: a UDP socket bound to Local:Port that receives VXLAN
// datagrams, and a raw IPPROTO_UDP socket that sends them with an outer UDP
// header vxswitch writes itself, so that each inner flow gets its own source
// port (RFC 7348 §5) as the kernel's vxlan driver does. A UDP socket cannot
// vary its source port per datagram; the raw socket needs CAP_NET_RAW, and
// without it Conn falls back to a fixed source port and says so in Mode.
type Conn struct {
	local netip.Addr
	port  uint16
	rx    *net.UDPConn
	rxRaw syscall.RawConn
	tx    *net.IPConn // nil in fixed-source-port mode
	txRaw syscall.RawConn
	mode  string
	// rcvbuf is the receive buffer the kernel granted, for the log.
	rcvbuf int

	// gso: runs of datagrams of one flow go out as one GSO send, through
	// rxGSO in fixed-source-port mode, else through pool. Cleared for good
	// when the kernel refuses a GSO send for a reason that will not pass.
	gso   atomic.Bool
	rxGSO *gsoSock
	pool  *gsoPool
	// gro: the receive socket takes runs whole (UDP_GRO).
	gro bool

	// Offload counters, added to once per run.
	gsoMessages, gsoDatagrams atomic.Uint64
	groRuns, groDatagrams     atomic.Uint64

	closeOnce sync.Once
}

// Listen opens the underlay sockets.
func Listen(opts Options) (*Conn, error) {
	if !opts.Local.IsValid() {
		return nil, errors.New("listen underlay: no local address")
	}
	local := opts.Local.Unmap()
	if opts.Port == 0 {
		opts.Port = DefaultPort
	}
	laddr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, opts.Port))
	network := "udp4"
	if local.Is6() {
		network = "udp6"
	}
	rx, err := net.ListenUDP(network, laddr)
	if err != nil {
		return nil, fmt.Errorf("listen underlay %s: %w", laddr, err)
	}
	c := &Conn{local: local, port: opts.Port, rx: rx}
	if c.rxRaw, err = rx.SyscallConn(); err != nil {
		rx.Close()
		return nil, fmt.Errorf("listen underlay %s: %w", laddr, err)
	}
	c.rcvbuf = setBuffer(c.rxRaw, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, socketBuffer)
	c.mode = fmt.Sprintf("udp (fixed source port %d)", opts.Port)
	if opts.FixedSourcePort {
		c.mode += ", per-flow source ports off by option"
	} else if err := c.openRawSender(); err != nil {
		c.mode += fmt.Sprintf(", per-flow source ports unavailable: %v", err)
	} else {
		c.mode = "raw (per-flow source ports)"
	}
	c.mode += "; " + c.setupOffloads(opts)
	return c, nil
}

// setupOffloads probes and turns on UDP GSO and GRO, and says which.
func (c *Conn) setupOffloads(opts Options) string {
	gso := "UDP GSO off by option"
	if !opts.NoGSO {
		var err error
		if err = probeGSO(c.rxRaw); err == nil {
			if c.tx == nil {
				c.rxGSO = &gsoSock{conn: c.rx, raw: c.rxRaw}
			} else {
				c.pool, err = newGSOPool(c.local)
			}
		}
		if err != nil {
			gso = fmt.Sprintf("UDP GSO unavailable: %v", err)
		} else {
			c.gso.Store(true)
			gso = "UDP GSO on"
		}
	}
	gro := "UDP GRO off by option"
	if !opts.NoGRO {
		if err := enableGRO(c.rxRaw); err != nil {
			gro = fmt.Sprintf("UDP GRO unavailable: %v", err)
		} else {
			c.gro = true
			gro = "UDP GRO on"
		}
	}
	return gso + ", " + gro
}

// gsoSocket returns the socket that sends GSO runs from source port
// srcPort, or nil when runs must go out datagram by datagram.
func (c *Conn) gsoSocket(srcPort uint16) *gsoSock {
	if !c.gso.Load() {
		return nil
	}
	if c.rxGSO != nil {
		return c.rxGSO
	}
	return c.pool.get(srcPort)
}

// OffloadStats counts what UDP GSO and GRO did on an underlay.
type OffloadStats struct {
	// GSOMessages is how many runs went out as one GSO send, carrying
	// GSODatagrams datagrams between them.
	GSOMessages, GSODatagrams uint64
	// GRORuns is how many receives held a run of datagrams, GRODatagrams
	// how many datagrams those runs held.
	GRORuns, GRODatagrams uint64
	// GSOSockets is how many per-source-port sockets are open for GSO;
	// GSOPortsRefused how many source ports could not have one (taken by
	// someone else, or past the limit), whose runs go out one by one.
	GSOSockets, GSOPortsRefused int
	// Mode is Mode().
	Mode string
}

// Offloads reports the offload counters.
func (c *Conn) Offloads() OffloadStats {
	open, failed := c.GSOSockets()
	return OffloadStats{
		GSOMessages: c.gsoMessages.Load(), GSODatagrams: c.gsoDatagrams.Load(),
		GRORuns: c.groRuns.Load(), GRODatagrams: c.groDatagrams.Load(),
		GSOSockets: open, GSOPortsRefused: failed, Mode: c.mode,
	}
}

// GSOSockets reports how many per-source-port sockets are open for GSO and
// for how many ports none could be opened (port taken, or past the limit).
func (c *Conn) GSOSockets() (open, failed int) {
	if c.pool == nil {
		return 0, 0
	}
	return c.pool.stats()
}

// openRawSender opens the send-only raw socket. The kernel still builds the
// IP header; vxswitch writes the UDP header in the headroom before VXLAN.
func (c *Conn) openRawSender() error {
	network := "ip4:udp"
	if c.local.Is6() {
		network = "ip6:udp"
	}
	tx, err := net.ListenIP(network, &net.IPAddr{IP: c.local.AsSlice()})
	if err != nil {
		return err
	}
	raw, err := tx.SyscallConn()
	if err != nil {
		tx.Close()
		return err
	}
	var serr error
	cerr := raw.Control(func(fd uintptr) {
		// A raw UDP socket gets a copy of every UDP datagram the host
		// receives; a filter that accepts nothing keeps it send-only.
		if serr = dropAll(int(fd)); serr != nil {
			return
		}
		if c.local.Is6() {
			// Over IPv6 the UDP checksum is mandatory (RFC 8200 §8.1);
			// let the kernel compute it at offset 6 of our UDP header.
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_CHECKSUM, 6)
			if serr != nil {
				serr = fmt.Errorf("set IPV6_CHECKSUM: %w", serr)
			}
			return
		}
		// The kernel's vxlan driver leaves DF clear unless told otherwise.
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT)
		if serr != nil {
			serr = fmt.Errorf("set IP_MTU_DISCOVER: %w", serr)
		}
	})
	if err := errors.Join(cerr, serr); err != nil {
		tx.Close()
		return err
	}
	setBuffer(raw, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, socketBuffer)
	c.tx, c.txRaw = tx, raw
	return nil
}

// socketBuffer is the receive (and send) buffer vxswitch asks for. The
// kernel's default, about 208 KiB, holds some 90 full-size datagrams:
// two bursts from one 64 KiB TSO super-frame. Any scheduling gap in the
// reader then drops datagrams, and every drop is a TCP retransmission.
const socketBuffer = 8 << 20

// setBuffer sets a socket buffer size, past net.core.[rw]mem_max when the
// process may (CAP_NET_ADMIN, the FORCE option), else up to that limit.
// It returns the size the kernel reports (twice what was set, for its own
// bookkeeping), or 0 if it could not tell.
func setBuffer(raw syscall.RawConn, force, plain, size int) int {
	got := 0
	raw.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, force, size) != nil {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, plain, size)
		}
		opt := unix.SO_RCVBUF
		if plain == unix.SO_SNDBUF {
			opt = unix.SO_SNDBUF
		}
		got, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, opt)
	})
	return got
}

// Mode says how datagrams are sent, for the start-up log line.
func (c *Conn) Mode() string { return c.mode }

// ReceiveBuffer is the receive buffer size the kernel granted, in bytes.
func (c *Conn) ReceiveBuffer() int { return c.rcvbuf }

// LocalAddr is the bound underlay address and port.
func (c *Conn) LocalAddr() netip.AddrPort { return netip.AddrPortFrom(c.local, c.port) }

// PerFlowSourcePort reports whether Send honours its srcPort argument.
func (c *Conn) PerFlowSourcePort() bool { return c.tx != nil }

// Close closes both sockets; blocked Reads and Sends return net.ErrClosed.
func (c *Conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		err = c.rx.Close()
		if c.tx != nil {
			err = errors.Join(err, c.tx.Close())
		}
		if c.pool != nil {
			err = errors.Join(err, c.pool.close())
		}
	})
	return err
}
