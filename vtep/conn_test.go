package vtep

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
)

// freePort finds a UDP port free on both loopback addresses the tests use.
func freePort(t *testing.T) uint16 {
	t.Helper()
	for i := 0; i < 20; i++ {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := uint16(c.LocalAddr().(*net.UDPAddr).Port)
		c.Close()
		c2, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: int(port)})
		if err == nil {
			c2.Close()
			return port
		}
	}
	t.Fatal("no free UDP port on 127.0.0.1 and 127.0.0.2")
	return 0
}

func listenPair(t *testing.T, fixed bool) (a, b *Conn) {
	t.Helper()
	port := freePort(t)
	var err error
	a, err = Listen(Options{Local: netip.MustParseAddr("127.0.0.1"), Port: port, FixedSourcePort: fixed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err = Listen(Options{Local: netip.MustParseAddr("127.0.0.2"), Port: port, FixedSourcePort: fixed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}

func readOne(t *testing.T, r Receiver, c *Conn) Message {
	t.Helper()
	timer := time.AfterFunc(5*time.Second, func() { c.Close() })
	defer timer.Stop()
	msgs, err := r.Read()
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(msgs) == 0 {
		t.Fatal("Read returned no messages")
	}
	return msgs[0]
}

func TestConnSendReceive(t *testing.T) {
	for _, fixed := range []bool{false, true} {
		name := "per-flow"
		if fixed {
			name = "fixed-source-port"
		}
		t.Run(name, func(t *testing.T) {
			if !fixed && os.Geteuid() != 0 {
				t.Skip("per-flow source ports need a raw socket (CAP_NET_RAW); run as root (CI does)")
			}
			a, b := listenPair(t, fixed)
			if got := a.PerFlowSourcePort(); got == fixed {
				t.Fatalf("PerFlowSourcePort = %v with FixedSourcePort %v (mode %q)", got, fixed, a.Mode())
			}
			w := a.NewSender()
			r := b.NewReceiver(8, 2048)
			frame := []byte("\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00payload")
			buf := make([]byte, 16+len(frame))
			copy(buf[16:], frame)
			PutHeader(buf[8:16], 4097)
			if err := w.Send(buf, 8, 50000, b.LocalAddr().Addr()); err != nil {
				t.Fatal(err)
			}
			m := readOne(t, r, b)
			got := m.Buf[:m.N]
			vni, err := Parse(got, true)
			if err != nil || vni != 4097 {
				t.Fatalf("received % x: vni %d, err %v", got, vni, err)
			}
			if string(got[HeaderLen:]) != string(frame) {
				t.Errorf("inner frame = %q, want %q", got[HeaderLen:], frame)
			}
			wantPort := uint16(50000)
			if fixed {
				wantPort = a.LocalAddr().Port()
			}
			if m.Addr != netip.AddrPortFrom(a.LocalAddr().Addr(), wantPort) {
				t.Errorf("source = %v, want 127.0.0.1:%d", m.Addr, wantPort)
			}
		})
	}
}

func TestConnBatchRead(t *testing.T) {
	a, b := listenPair(t, true)
	w := a.NewSender()
	for i := 0; i < 5; i++ {
		buf := make([]byte, 8+HeaderLen+1)
		PutHeader(buf[8:], uint32(i))
		buf[len(buf)-1] = byte(i)
		if err := w.Send(buf, 8, 0, b.LocalAddr().Addr()); err != nil {
			t.Fatal(err)
		}
	}
	r := b.NewReceiver(8, 64)
	got := 0
	for got < 5 {
		timer := time.AfterFunc(5*time.Second, func() { b.Close() })
		msgs, err := r.Read()
		timer.Stop()
		if err != nil {
			t.Fatalf("after %d datagrams: %v", got, err)
		}
		for _, m := range msgs {
			if vni, _ := Parse(m.Buf[:m.N], true); vni != uint32(got) {
				t.Errorf("datagram %d has VNI %d", got, vni)
			}
			got++
		}
	}
}

func TestConnCloseUnblocksRead(t *testing.T) {
	_, b := listenPair(t, true)
	r := b.NewReceiver(4, 64)
	errc := make(chan error, 1)
	go func() { _, err := r.Read(); errc <- err }()
	time.Sleep(50 * time.Millisecond)
	b.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read still blocked 5s after Close")
	}
}

func TestSendErrors(t *testing.T) {
	a, _ := listenPair(t, false)
	w := a.NewSender()
	buf := make([]byte, 32)
	if err := w.Send(buf, 8, 1, netip.MustParseAddr("::1")); err == nil {
		t.Error("Send to an IPv6 address over an IPv4 underlay succeeded")
	}
	if a.PerFlowSourcePort() {
		if err := w.Send(buf, 4, 1, netip.MustParseAddr("127.0.0.2")); err == nil {
			t.Error("Send with 4 bytes of headroom succeeded in raw mode")
		}
	}
}

func TestConnIPv6(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("per-flow source ports need a raw socket (CAP_NET_RAW); run as root (CI does)")
	}
	port := freePort(t)
	a, err := Listen(Options{Local: netip.MustParseAddr("::1"), Port: port})
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer a.Close()
	// A plain UDP socket receives, so the test checks our UDP header and
	// the kernel-computed checksum (a bad one would be dropped).
	rc, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback, Port: int(freePort(t))})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	a.port = uint16(rc.LocalAddr().(*net.UDPAddr).Port) // send to the receiver's port
	buf := make([]byte, 16+20)
	PutHeader(buf[8:16], 7)
	copy(buf[16:], "ipv6 underlay frame!")
	if err := a.NewSender().Send(buf, 8, 51234, netip.MustParseAddr("::1")); err != nil {
		t.Fatal(err)
	}
	rc.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, 100)
	n, from, err := rc.ReadFromUDPAddrPort(got)
	if err != nil {
		t.Fatalf("no datagram over IPv6 (checksum wrong?): %v", err)
	}
	if from.Port() != 51234 || string(got[HeaderLen:n]) != "ipv6 underlay frame!" {
		t.Errorf("got %q from %v", got[:n], from)
	}
}

func TestConnAllocs(t *testing.T) {
	a, b := listenPair(t, os.Geteuid() != 0)
	w := a.NewSender()
	r := b.NewReceiver(1, 64)
	buf := make([]byte, 16+20)
	PutHeader(buf[8:16], 7)
	dst := b.LocalAddr().Addr()
	allocs := testing.AllocsPerRun(200, func() {
		if err := w.Send(buf, 8, 50000, dst); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Read(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Send+Read allocate %v per datagram", allocs)
	}
}

// TestWriterBatch queues datagrams, one of them too large for UDP, and
// flushes them in one sendmmsg: the others arrive in order, the refused one
// is counted.
func TestWriterBatch(t *testing.T) {
	a, b := listenPair(t, os.Geteuid() != 0)
	w := a.NewSender().(*Writer)
	dst := b.LocalAddr().Addr()
	small := func(i byte) []byte {
		buf := make([]byte, 16+HeaderLen+1)
		PutHeader(buf[8:16], 42)
		buf[len(buf)-1] = i
		return buf
	}
	huge := make([]byte, 16+70000)
	PutHeader(huge[8:16], 42)
	for i, buf := range [][]byte{small(0), huge, small(1), small(2)} {
		if err := w.Queue(buf, 16-HeaderLen, uint16(50000+i), dst); err != nil {
			t.Fatal(err)
		}
	}
	if w.Queued() != 4 {
		t.Fatalf("Queued() = %d, want 4", w.Queued())
	}
	failed, err := w.Flush()
	if failed != 1 || err == nil {
		t.Fatalf("Flush() = %d, %v; want the oversized datagram refused", failed, err)
	}
	if w.Queued() != 0 {
		t.Errorf("Queued() after Flush = %d", w.Queued())
	}
	r := b.NewReceiver(8, 128)
	var got []byte
	for len(got) < 3 {
		timer := time.AfterFunc(5*time.Second, func() { b.Close() })
		msgs, err := r.Read()
		timer.Stop()
		if err != nil {
			t.Fatalf("after %d datagrams: %v", len(got), err)
		}
		for _, m := range msgs {
			got = append(got, m.Buf[m.N-1])
		}
	}
	if string(got) != "\x00\x01\x02" {
		t.Errorf("received markers % x, want 00 01 02 in order", got)
	}
}

func TestWriterQueueFullFlushes(t *testing.T) {
	a, b := listenPair(t, true)
	w := a.NewSender().(*Writer)
	buf := make([]byte, 16+HeaderLen)
	PutHeader(buf[8:16], 1)
	for i := 0; i < writeBatch+3; i++ {
		if err := w.Queue(buf, 8, 0, b.LocalAddr().Addr()); err != nil {
			t.Fatal(err)
		}
	}
	if w.Queued() != 3 {
		t.Errorf("after %d queued, %d wait: a full batch should have been flushed", writeBatch+3, w.Queued())
	}
	if failed, err := w.Flush(); failed != 0 || err != nil {
		t.Fatalf("Flush: %d, %v", failed, err)
	}
	r := b.NewReceiver(writeBatch, 64)
	n := 0
	for n < writeBatch+3 {
		timer := time.AfterFunc(5*time.Second, func() { b.Close() })
		msgs, err := r.Read()
		timer.Stop()
		if err != nil {
			t.Fatalf("after %d datagrams: %v", n, err)
		}
		n += len(msgs)
	}
}

func TestConnReceiveBuffer(t *testing.T) {
	a, _ := listenPair(t, true)
	got := a.ReceiveBuffer()
	if os.Geteuid() == 0 {
		// Root may exceed net.core.rmem_max; the kernel reports double.
		if got < socketBuffer {
			t.Errorf("receive buffer %d bytes as root, want at least %d", got, socketBuffer)
		}
	} else if got <= 0 {
		t.Errorf("receive buffer %d bytes", got)
	}
}
