package interop

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vxswitch/vxswitch/internal/nstest"
)

// Generous limits: a busy two-core machine running the race detector is
// slow, but a working overlay never comes close to them.
const (
	dialTimeout = 20 * time.Second
	ioTimeout   = 60 * time.Second
)

// listen opens a TCP listener on addr (port 0: any) inside ns, closed when
// the test ends.
func listen(t *testing.T, ns *nstest.NS, addr netip.AddrPort) net.Listener {
	t.Helper()
	var ln net.Listener
	err := ns.Do(func() (err error) {
		ln, err = net.Listen(tcpNetwork(addr.Addr()), addr.String())
		return err
	})
	if err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, ns.Name, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dial connects from inside ns to addr.
func dial(ns *nstest.NS, addr netip.AddrPort) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() (err error) {
		c, err = net.DialTimeout(tcpNetwork(addr.Addr()), addr.String(), dialTimeout)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s from %s: %w", addr, ns.Name, err)
	}
	return c, nil
}

func tcpNetwork(a netip.Addr) string {
	if a.Is4() {
		return "tcp4"
	}
	return "tcp6"
}

func listenerAddr(ln net.Listener) netip.AddrPort {
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// stream is what one connection carried: its length and SHA-256.
type stream struct {
	n   int64
	sum [sha256.Size]byte
}

// transfer sends size random bytes over each of conns parallel TCP
// connections from container from to dst in container to, and checks that
// every stream arrives whole (length and SHA-256).
func transfer(t *testing.T, from, to *nstest.NS, dst netip.Addr, conns, size int) {
	t.Helper()
	start := time.Now()
	ln := listen(t, to, netip.AddrPortFrom(dst, 0))
	defer ln.Close()
	addr := listenerAddr(ln)

	got := make(chan stream, conns)
	errs := make(chan error, 2*conns+1)
	go func() {
		for range conns {
			c, err := ln.Accept()
			if err != nil {
				errs <- fmt.Errorf("accept on %s: %w", addr, err)
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(ioTimeout))
				h := sha256.New()
				n, err := io.Copy(h, c)
				if err != nil {
					errs <- fmt.Errorf("receive on %s after %d bytes: %w", addr, n, err)
					return
				}
				var s stream
				s.n = n
				h.Sum(s.sum[:0])
				got <- s
			}()
		}
	}()

	want := make(map[[sha256.Size]byte]bool, conns)
	for range conns {
		data := make([]byte, size)
		rand.Read(data)
		want[sha256.Sum256(data)] = true
		go func() {
			c, err := dial(from, addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(ioTimeout))
			if _, err := c.Write(data); err != nil {
				errs <- fmt.Errorf("send to %s: %w", addr, err)
			}
		}()
	}

	timeout := time.After(ioTimeout + dialTimeout)
	for range conns {
		select {
		case s := <-got:
			if s.n != int64(size) || !want[s.sum] {
				t.Fatalf("%s → %s: a stream arrived as %d bytes with sha256 %x; sent %d-byte streams %x", from.Name, addr, s.n, s.sum, size, keys(want))
			}
			delete(want, s.sum)
		case err := <-errs:
			t.Fatalf("%s → %s: %v", from.Name, addr, err)
		case <-timeout:
			t.Fatalf("%s → %s: %d of %d streams not received within %v", from.Name, addr, len(want), conns, ioTimeout+dialTimeout)
		}
	}
	mb := float64(conns*size) / (1 << 20)
	t.Logf("%s → %s: %d×%d bytes intact in %v (%.0f MB/s)", from.Name, addr, conns, size,
		time.Since(start).Round(time.Millisecond), mb/time.Since(start).Seconds())
}

func keys(m map[[sha256.Size]byte]bool) [][sha256.Size]byte {
	var out [][sha256.Size]byte
	for k := range m {
		out = append(out, k)
	}
	return out
}

// exchange is the ping of these tests: from dials dst in to, sends a line,
// and expects an echo server there to send it back.
func exchange(t *testing.T, from, to *nstest.NS, dst netip.Addr) {
	t.Helper()
	ln := listen(t, to, netip.AddrPortFrom(dst, 0))
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return // the dial fails too, and says why
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(ioTimeout))
		io.Copy(c, c)
	}()
	addr := listenerAddr(ln)
	c, err := dial(from, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	msg := []byte(fmt.Sprintf("hello %s from %s\n", addr, from.Name))
	if _, err := c.Write(msg); err != nil {
		t.Fatalf("send to %s: %v", addr, err)
	}
	c.(*net.TCPConn).CloseWrite()
	echo, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read echo from %s: %v", addr, err)
	}
	if !bytes.Equal(echo, msg) {
		t.Fatalf("echo from %s = %q, want %q", addr, echo, msg)
	}
}
