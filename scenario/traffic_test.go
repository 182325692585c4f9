package scenario

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Timeouts. arrive bounds a datagram that must get through, including the
// ARP exchange the kernel may need first (its first retry is after 1 s), on
// a busy machine under the race detector. quiet is how long a datagram that
// must not arrive is waited for: every path here is a few hops in one
// kernel, so anything forwarded shows up in well under that.
const (
	arrive = 5 * time.Second
	quiet  = 300 * time.Millisecond
)

// udpSock is a UDP socket inside a container, bound to its address. It sends
// with DF set (IP_MTU_DISCOVER = IP_PMTUDISC_DO), so a datagram leaves as
// exactly one frame or not at all: the kernel never fragments it.
type udpSock struct {
	ct   *container
	conn *net.UDPConn
}

// openUDP opens a socket on ct's address and port, closed when the test
// ends.
func (ct *container) openUDP(t *testing.T, port uint16) *udpSock {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO)
		})
		return errors.Join(err, serr)
	}}
	addr := netip.AddrPortFrom(ct.ip, port)
	var conn *net.UDPConn
	err := ct.ns.Do(func() error {
		pc, err := lc.ListenPacket(context.Background(), "udp4", addr.String())
		if err != nil {
			return err
		}
		conn = pc.(*net.UDPConn)
		return nil
	})
	if err != nil {
		t.Fatalf("%s: listen udp %s: %v", ct.name, addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &udpSock{ct: ct, conn: conn}
}

// Close closes the socket now, e.g. so it no longer pins its namespace.
func (s *udpSock) Close() { s.conn.Close() }

func (s *udpSock) addr() netip.AddrPort { return s.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (s *udpSock) String() string { return fmt.Sprintf("%s %s", s.ct.name, s.addr()) }

// sendErr sends payload to to's address.
func (s *udpSock) sendErr(to netip.AddrPort, payload []byte) error {
	_, err := s.conn.WriteToUDPAddrPort(payload, to)
	return err
}

// send sends payload to the socket to, failing the test if the kernel
// refuses.
func (s *udpSock) send(t *testing.T, to *udpSock, payload []byte) {
	t.Helper()
	if err := s.sendErr(to.addr(), payload); err != nil {
		t.Fatalf("send %d bytes from %s to %s: %v", len(payload), s, to, err)
	}
}

// recv returns the next datagram, or false if none arrives within.
func (s *udpSock) recv(t *testing.T, within time.Duration) ([]byte, bool) {
	t.Helper()
	buf := make([]byte, 65536)
	s.conn.SetReadDeadline(time.Now().Add(within))
	n, _, err := s.conn.ReadFromUDPAddrPort(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, false
	}
	if err != nil {
		t.Fatalf("%s: read: %v", s, err)
	}
	return buf[:n], true
}

// expect fails unless the next datagram is payload, whole, within arrive.
func (s *udpSock) expect(t *testing.T, payload []byte) {
	t.Helper()
	got, ok := s.recv(t, arrive)
	switch {
	case !ok:
		t.Fatalf("%s: no datagram within %v, want %d bytes %.40q", s, arrive, len(payload), payload)
	case !bytes.Equal(got, payload):
		t.Fatalf("%s: got %d bytes %.40q, want %d bytes %.40q", s, len(got), got, len(payload), payload)
	}
}

// expectNone fails if any datagram arrives within quiet.
func (s *udpSock) expectNone(t *testing.T) {
	t.Helper()
	if got, ok := s.recv(t, quiet); ok {
		t.Fatalf("%s: got %d bytes %.40q, want nothing", s, len(got), got)
	}
}

// exchange sends a datagram from a to b and one back, each of which must
// arrive.
func exchange(t *testing.T, a, b *udpSock, tag string) {
	t.Helper()
	a.send(t, b, []byte(tag+" >"))
	b.expect(t, []byte(tag+" >"))
	b.send(t, a, []byte(tag+" <"))
	a.expect(t, []byte(tag+" <"))
}

// burstWindow is how many datagrams a burst has in flight: few enough that
// no queue on the way (TAP, socket) overflows on a slow machine.
const burstWindow = 16

// burst sends n datagrams from a to b and checks each arrives, in order.
func burst(t *testing.T, a, b *udpSock, n int, tag string) {
	t.Helper()
	for sent := 0; sent < n; {
		w := min(burstWindow, n-sent)
		for i := range w {
			a.send(t, b, fmt.Appendf(nil, "%s %d", tag, sent+i))
		}
		for i := range w {
			b.expect(t, fmt.Appendf(nil, "%s %d", tag, sent+i))
		}
		sent += w
	}
}

// transferTCP sends size random bytes over TCP from one container to a
// listener on another's address and port, and fails unless they all arrive
// intact within the timeout.
func transferTCP(t *testing.T, from, to *container, port uint16, size int, timeout time.Duration) {
	t.Helper()
	addr := netip.AddrPortFrom(to.ip, port).String()
	var ln net.Listener
	if err := to.ns.Do(func() (err error) { ln, err = net.Listen("tcp4", addr); return err }); err != nil {
		t.Fatalf("%s: listen tcp %s: %v", to.name, addr, err)
	}
	defer ln.Close()
	type result struct {
		n   int64
		sum [sha256.Size]byte
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		c.SetDeadline(time.Now().Add(timeout))
		h := sha256.New()
		n, err := io.Copy(h, c)
		// Closed before reporting, so the closing handshake is not left
		// to run into the caller's next step.
		c.Close()
		r := result{n: n, err: err}
		h.Sum(r.sum[:0])
		got <- r
	}()

	data := make([]byte, size)
	rand.Read(data)
	var c net.Conn
	if err := from.ns.Do(func() (err error) { c, err = net.DialTimeout("tcp4", addr, arrive); return err }); err != nil {
		t.Fatalf("%s: dial %s: %v", from.name, addr, err)
	}
	c.SetDeadline(time.Now().Add(timeout))
	_, err := c.Write(data)
	c.Close()
	if err != nil {
		t.Fatalf("%s: send %d bytes to %s: %v", from.name, size, addr, err)
	}
	r := <-got
	if r.err != nil {
		t.Fatalf("%s: receive from %s: %v", to.name, from.name, r.err)
	}
	if r.n != int64(size) || r.sum != sha256.Sum256(data) {
		t.Fatalf("%s received %d bytes (sha256 %x), %s sent %d (sha256 %x)", to.name, r.n, r.sum, from.name, size, sha256.Sum256(data))
	}
}
