package tap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"
)

// openUSO opens a TAP with offloads and UDP segmentation offload in a new
// namespace, skipping when the kernel refuses it (before Linux 6.2).
func openUSO(t *testing.T) (*TAP, func(func() error) error) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace and a TAP")
	}
	ns, tp := openWithPeer(t, Config{Offload: true, USO: true, Queues: 1})
	t.Logf("Mode() = %q", tp.Mode())
	if strings.Contains(tp.Mode(), "uso refused") {
		t.Skipf("this kernel has no UDP segmentation offload on TAPs: %s", tp.Mode())
	}
	if !strings.HasPrefix(tp.Mode(), "vnet_hdr (tso4, tso6, uso, csum)") {
		t.Fatalf("Mode() = %q, want UDP segmentation offload named", tp.Mode())
	}
	return tp, ns.Do
}

// peerDatagram is the datagram the peer sends to the container's port
// dst: IPv4 ID id, payload p.
func peerDatagram(t *testing.T, tp *TAP, dst netip.AddrPort, id uint16, p []byte) []byte {
	t.Helper()
	src := mqPeer4
	if dst.Addr().Is6() {
		src = mqPeer6
	}
	e := udpEnds{srcMAC: peerMAC, dstMAC: tp.MAC(), src: netip.AddrPortFrom(src, mqPeerPort), dst: dst}
	return udpFrameOf(t, e, id, p)
}

// listenIn opens a UDP socket on addr inside the namespace.
func listenIn(t *testing.T, do func(func() error) error, addr netip.Addr) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := do(func() (err error) {
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
		return err
	})
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// payloadN is the payload of datagram i of a test: its number, then
// filler, size bytes in all.
func payloadN(i, size int) []byte {
	p := bytes.Repeat([]byte{byte(i)}, size)
	p[0] = byte(i >> 8)
	return p
}

// TestIntegrationUSOWrite writes datagrams of one flow through
// WriteCoalesce: they go to the kernel as UDP GSO writes of groMaxUDP
// datagrams and the rest, and the container's socket receives each of
// them, in order, as sent.
func TestIntegrationUSOWrite(t *testing.T) {
	tp, do := openUSO(t)
	for _, addr := range []netip.Addr{mqAddr4.Addr(), mqAddr6.Addr()} {
		c := listenIn(t, do, addr)
		dst := c.LocalAddr().(*net.UDPAddr).AddrPort()
		w0, s0 := tp.Coalesced()
		const n, size = 40, 100
		for i := range n {
			p := payloadN(i, size)
			if i == n-1 {
				p = p[:30]
			}
			if _, err := tp.WriteCoalesce(peerDatagram(t, tp, dst, uint16(1000+i), p)); err != nil {
				t.Fatalf("%s: WriteCoalesce %d: %v", addr, i, err)
			}
		}
		if err := tp.Flush(); err != nil {
			t.Fatalf("%s: Flush: %v", addr, err)
		}
		if w, s := tp.Coalesced(); w-w0 != (n+groMaxUDP-1)/groMaxUDP || s-s0 != n {
			t.Errorf("%s: Coalesced() went up by %d writes, %d segments; want %d, %d", addr, w-w0, s-s0, (n+groMaxUDP-1)/groMaxUDP, n)
		}
		buf := make([]byte, 2000)
		for i := range n {
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			k, _, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("%s: datagram %d of %d: %v", addr, i, n, err)
			}
			want := payloadN(i, size)
			if i == n-1 {
				want = want[:30]
			}
			if !bytes.Equal(buf[:k], want) {
				t.Fatalf("%s: datagram %d: got %d bytes starting %x, want %d starting %x", addr, i, k, buf[:min(k, 4)], len(want), want[:4])
			}
		}
	}
}

// TestIntegrationUSOWriteAllocs: merging and writing a run of datagrams
// allocates nothing.
func TestIntegrationUSOWriteAllocs(t *testing.T) {
	tp, do := openUSO(t)
	c := listenIn(t, do, mqAddr4.Addr())
	dst := c.LocalAddr().(*net.UDPAddr).AddrPort()
	frames := make([][]byte, 16)
	for i := range frames {
		frames[i] = peerDatagram(t, tp, dst, uint16(i), payloadN(i, 64))
	}
	id := uint16(0)
	allocs := testing.AllocsPerRun(50, func() {
		for _, f := range frames {
			binary.BigEndian.PutUint16(f[14+4:], id) // IDs go on counting up
			f[14+10], f[14+11] = 0, 0
			binary.BigEndian.PutUint16(f[14+10:], ^foldSum(f[14:14+20]))
			id++
			if _, err := tp.WriteCoalesce(f); err != nil {
				t.Fatal(err)
			}
		}
		if err := tp.Flush(); err != nil {
			t.Fatal(err)
		}
	})
	if w, _ := tp.Coalesced(); w < 50 {
		t.Fatalf("Coalesced() = %d writes, want a merged write per run", w)
	}
	if allocs != 0 {
		t.Errorf("%.1f allocations per run of %d datagrams, want 0", allocs, len(frames))
	}
}

// TestIntegrationUSORead: a container socket sending with UDP_SEGMENT
// hands the TAP one super-frame, which Read cuts into the datagrams the
// wire would carry.
func TestIntegrationUSORead(t *testing.T) {
	tp, do := openUSO(t)
	c := listenIn(t, do, mqAddr4.Addr())
	const segSize, n = 200, 12
	msg := make([]byte, 0, segSize*n)
	for i := range n {
		msg = append(msg, payloadN(i, segSize)...)
	}
	msg = msg[:len(msg)-50] // the last one shorter
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT, segSize) })
	if serr != nil {
		t.Fatalf("UDP_SEGMENT: %v", serr)
	}
	if _, err := c.WriteToUDPAddrPort(msg, netip.AddrPortFrom(mqPeer4, mqPeerPort)); err != nil {
		t.Fatalf("send %d bytes with UDP_SEGMENT %d: %v", len(msg), segSize, err)
	}
	bufs, sizes := bufsOf(64)
	var got [][]byte
	deadline := time.Now().Add(3 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		tp.file.SetReadDeadline(deadline)
		k, err := tp.Read(bufs, sizes, 0)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			t.Fatalf("Read: %v", err)
		}
		for i := range k {
			f := bufs[i][:sizes[i]]
			p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
			if udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP); udp != nil && udp.DstPort == mqPeerPort {
				if !udpChecksumOK(f, false) {
					t.Errorf("datagram %d: bad checksum", len(got))
				}
				got = append(got, append([]byte(nil), udp.Payload...))
			}
		}
	}
	tp.file.SetReadDeadline(time.Time{})
	if len(got) != n {
		t.Fatalf("read %d datagrams of the flow, want %d", len(got), n)
	}
	for i, p := range got {
		want := msg[i*segSize : min((i+1)*segSize, len(msg))]
		if !bytes.Equal(p, want) {
			t.Fatalf("datagram %d: %d bytes, want %d as sent", i, len(p), len(want))
		}
	}
}

// TestIntegrationUSORefused: where the kernel refuses UDP segmentation
// offload the TAP keeps its others, says so, and writes datagrams one by
// one.
func TestIntegrationUSORefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace and a TAP")
	}
	orig := setOffload
	setOffload = func(fd int, flags int) error {
		if flags&0x20 != 0 {
			return unix.EINVAL
		}
		return orig(fd, flags)
	}
	t.Cleanup(func() { setOffload = orig })
	ns, tp := openWithPeer(t, Config{Offload: true, USO: true, Queues: 1})
	if want := "vnet_hdr (tso4, tso6, csum; uso refused: invalid argument)"; !strings.HasPrefix(tp.Mode(), want) {
		t.Fatalf("Mode() = %q, want it to start %q", tp.Mode(), want)
	}
	c := listenIn(t, ns.Do, mqAddr4.Addr())
	dst := c.LocalAddr().(*net.UDPAddr).AddrPort()
	for i := range 5 {
		if _, err := tp.WriteCoalesce(peerDatagram(t, tp, dst, uint16(i), payloadN(i, 64))); err != nil {
			t.Fatal(err)
		}
	}
	if err := tp.Flush(); err != nil {
		t.Fatal(err)
	}
	if w, s := tp.Coalesced(); w != 0 || s != 0 {
		t.Errorf("Coalesced() = %d, %d without USO; want 0, 0", w, s)
	}
	buf := make([]byte, 2000)
	for i := range 5 {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		k, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil || !bytes.Equal(buf[:k], payloadN(i, 64)) {
			t.Fatalf("datagram %d: %x, %v", i, buf[:k], err)
		}
	}
}

// TestIntegrationUSOWriteYields: a merged UDP write gives up the CPU once,
// after the writers' lock is released, whether Flush or the next frame
// ends the run; a single datagram and a merged TCP write do not.
func TestIntegrationUSOWriteYields(t *testing.T) {
	tp, do := openUSO(t)
	yields, locked := 0, 0
	old := yieldCPU
	yieldCPU = func() {
		yields++
		if !tp.vnet.wmu.TryLock() {
			locked++
			return
		}
		tp.vnet.wmu.Unlock()
	}
	t.Cleanup(func() { yieldCPU = old })

	c := listenIn(t, do, mqAddr4.Addr())
	dst := c.LocalAddr().(*net.UDPAddr).AddrPort()
	id := uint16(0)
	udp := func() []byte {
		id++
		return peerDatagram(t, tp, dst, id, payloadN(int(id), 64))
	}
	tcp := segmentsOf(t, false, bytes.Repeat([]byte{7}, 4000), 1000, "")
	write := func(frames ...[]byte) {
		t.Helper()
		for i, f := range frames {
			if _, err := tp.WriteCoalesce(f); err != nil {
				t.Fatalf("WriteCoalesce %d: %v", i, err)
			}
		}
	}
	flush := func() {
		t.Helper()
		if err := tp.Flush(); err != nil {
			t.Fatalf("Flush: %v", err)
		}
	}
	check := func(what string, want int) {
		t.Helper()
		if yields != want {
			t.Errorf("%s: %d yields in all, want %d", what, yields, want)
		}
	}

	write(udp(), udp(), udp())
	check("a run of 3 datagrams, held", 0)
	flush()
	check("the run flushed", 1)
	flush()
	check("an empty flush", 1)

	write(udp())
	flush()
	check("a single datagram", 1)

	w0, _ := tp.Coalesced()
	write(tcp...)
	flush()
	if w, _ := tp.Coalesced(); w != w0+1 {
		t.Fatalf("%d TCP segments made %d merged writes, want 1", len(tcp), w-w0)
	}
	check("a merged TCP write", 1)

	write(udp(), udp(), tcp[0])
	check("a run of datagrams ended by a TCP segment", 2)
	flush()
	check("the TCP segment flushed", 2)

	if locked != 0 {
		t.Errorf("%d of %d yields came with the writers' lock held", locked, yields)
	}
}
