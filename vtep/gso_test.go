package vtep

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// gsoModes are the send modes a GSO test runs in: per-flow source ports
// need a raw socket, so root.
func gsoModes(t *testing.T) []bool {
	if os.Geteuid() != 0 {
		t.Log("per-flow source ports need a raw socket (CAP_NET_RAW); testing fixed-source-port mode only (CI runs as root)")
		return []bool{true}
	}
	return []bool{false, true}
}

func modeName(fixed bool) string {
	if fixed {
		return "fixed-source-port"
	}
	return "per-flow"
}

func listenOpts(t *testing.T, addr string, port uint16, o Options) *Conn {
	t.Helper()
	o.Local, o.Port = netip.MustParseAddr(addr), port
	c, err := Listen(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// gsoPair listens on 127.0.0.1, in the source-port mode fixed says, and
// on 127.0.0.2, both on one free port; w is a's Writer.
func gsoPair(t *testing.T, fixed bool) (a, b *Conn, w *Writer) {
	t.Helper()
	port := freePort(t)
	a = listenOpts(t, "127.0.0.1", port, Options{FixedSourcePort: fixed})
	b = listenOpts(t, "127.0.0.2", port, Options{})
	return a, b, a.NewSender().(*Writer)
}

// datagram builds headroom, a VXLAN header for vni and size-HeaderLen
// bytes of inner payload that start with marker.
func datagram(vni uint32, size int, marker string) []byte {
	b := make([]byte, UDPHeaderLen+size)
	PutHeader(b[UDPHeaderLen:], vni)
	copy(b[UDPHeaderLen+HeaderLen:], marker)
	for i := UDPHeaderLen + HeaderLen + len(marker); i < len(b); i++ {
		b[i] = byte(i)
	}
	return b
}

// receiveAll reads until want datagrams arrived and returns them as copies
// with their senders.
func receiveAll(t *testing.T, c *Conn, r Receiver, want int) ([][]byte, []netip.AddrPort) {
	t.Helper()
	var got [][]byte
	var from []netip.AddrPort
	for len(got) < want {
		timer := time.AfterFunc(5*time.Second, func() { c.Close() })
		msgs, err := r.Read()
		timer.Stop()
		if err != nil {
			t.Fatalf("after %d of %d datagrams: %v", len(got), want, err)
		}
		for _, m := range msgs {
			got = append(got, bytes.Clone(m.Buf[:m.N]))
			from = append(from, m.Addr)
		}
	}
	return got, from
}

// flushAll flushes w, failing the test if anything was refused.
func flushAll(t *testing.T, w *Writer) {
	t.Helper()
	if failed, err := w.Flush(); failed != 0 || err != nil {
		t.Fatalf("Flush: %d failed, %v", failed, err)
	}
}

// receiveSent reads len(sent) datagrams through r and checks that they are
// sent's, whole and in order (each after its UDPHeaderLen bytes of
// headroom); it returns their senders.
func receiveSent(t *testing.T, c *Conn, r Receiver, sent [][]byte) []netip.AddrPort {
	t.Helper()
	got, from := receiveAll(t, c, r, len(sent))
	for i := range sent {
		if want := sent[i][UDPHeaderLen:]; !bytes.Equal(got[i], want) {
			t.Fatalf("datagram %d from %v: got %d bytes %.24q, want %d bytes %.24q",
				i, from[i], len(got[i]), got[i][min(HeaderLen, len(got[i])):], len(want), want[HeaderLen:])
		}
	}
	return from
}

// TestGSORun sends a run of equal datagrams and a shorter last one from one
// source port: they leave as one GSO message and arrive as the datagrams
// they were, in order, from that port, whether the receiver takes the run
// whole (UDP GRO) or the kernel cuts it first.
func TestGSORun(t *testing.T) {
	for _, fixed := range gsoModes(t) {
		for _, gro := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/gro=%v", modeName(fixed), gro), func(t *testing.T) {
				port := freePort(t)
				a := listenOpts(t, "127.0.0.1", port, Options{FixedSourcePort: fixed})
				b := listenOpts(t, "127.0.0.2", port, Options{NoGRO: !gro})
				if !strings.Contains(a.Mode(), "UDP GSO on") {
					t.Skipf("no UDP GSO here: %s", a.Mode())
				}
				w := a.NewSender().(*Writer)
				var sent [][]byte
				for i := 0; i < 20; i++ {
					sent = append(sent, datagram(4097, 1400, fmt.Sprintf("segment %02d", i)))
				}
				sent = append(sent, datagram(4097, 300, "last, shorter"))
				for _, d := range sent {
					if err := w.Queue(d, UDPHeaderLen, 50001, b.LocalAddr().Addr()); err != nil {
						t.Fatal(err)
					}
				}
				flushAll(t, w)
				if n := a.Offloads().GSOMessages; n != 1 {
					t.Errorf("%d GSO messages, want the 21 datagrams sent as 1", n)
				}
				r := b.NewReceiver(8, 65536)
				wantPort := uint16(50001)
				if fixed {
					wantPort = port
				}
				for i, from := range receiveSent(t, b, r, sent) {
					if from.Port() != wantPort {
						t.Fatalf("datagram %d from %v, want source port %d", i, from, wantPort)
					}
				}
				if st := a.Offloads(); st.GSODatagrams != uint64(len(sent)) {
					t.Errorf("sender's Offloads() = %+v, want %d datagrams in GSO runs", st, len(sent))
				}
				st := b.Offloads()
				if gro && (st.GRORuns == 0 || st.GRODatagrams < 2*st.GRORuns || st.GRODatagrams > uint64(len(sent))) {
					t.Errorf("receiver with UDP GRO: Offloads() = %+v, want runs whole, of 2 to %d datagrams", st, len(sent))
				}
				if !gro && st.GRORuns != 0 {
					t.Errorf("receiver without UDP GRO reports %d runs", st.GRORuns)
				}
				if !fixed {
					if open, failed := a.GSOSockets(); open != 1 || failed != 0 {
						t.Errorf("GSOSockets = %d open, %d failed; want 1, 0", open, failed)
					}
				}
			})
		}
	}
}

// TestGSORunsKeepOrder interleaves flows and sizes: each run is cut where
// the source port, the destination or the size changes, and everything
// arrives in the order it was queued.
func TestGSORunsKeepOrder(t *testing.T) {
	for _, fixed := range gsoModes(t) {
		t.Run(modeName(fixed), func(t *testing.T) {
			a, b, w := gsoPair(t, fixed)
			rng := rand.New(rand.NewPCG(7, 8))
			var sent [][]byte
			for i := 0; i < 3*writeBatch; i++ { // more than a batch: Queue flushes too
				size := []int{200, 1000, 1000, 1000}[rng.IntN(4)]
				sport := uint16(50010 + rng.IntN(2))
				d := datagram(7, size, fmt.Sprintf("#%03d", i))
				sent = append(sent, d)
				if err := w.Queue(d, UDPHeaderLen, sport, b.LocalAddr().Addr()); err != nil {
					t.Fatal(err)
				}
			}
			flushAll(t, w)
			receiveSent(t, b, b.NewReceiver(16, 65536), sent)
			if strings.Contains(a.Mode(), "UDP GSO on") && a.Offloads().GSOMessages == 0 {
				t.Error("no run went out as GSO")
			}
		})
	}
}

// TestGSOPortTaken: when the flow's source port is bound by someone else,
// no GSO socket can be opened for it, and its runs go out datagram by
// datagram through the raw socket, from that port all the same.
func TestGSOPortTaken(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("per-flow source ports need a raw socket (CAP_NET_RAW); run as root (CI does)")
	}
	port := freePort(t)
	a := listenOpts(t, "127.0.0.1", port, Options{})
	b := listenOpts(t, "127.0.0.2", port, Options{})
	other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	taken := uint16(other.LocalAddr().(*net.UDPAddr).Port)
	w := a.NewSender().(*Writer)
	var sent [][]byte
	for i := 0; i < 5; i++ {
		sent = append(sent, datagram(9, 800, fmt.Sprint(i)))
		if err := w.Queue(sent[i], UDPHeaderLen, taken, b.LocalAddr().Addr()); err != nil {
			t.Fatal(err)
		}
	}
	flushAll(t, w)
	for i, from := range receiveSent(t, b, b.NewReceiver(8, 65536), sent) {
		if from.Port() != taken {
			t.Fatalf("datagram %d from %v, want source port %d", i, from, taken)
		}
	}
	if a.Offloads().GSOMessages != 0 {
		t.Errorf("%d GSO messages through a port someone else holds", a.Offloads().GSOMessages)
	}
	if open, failed := a.GSOSockets(); open != 0 || failed != 1 {
		t.Errorf("GSOSockets = %d open, %d failed; want 0, 1", open, failed)
	}
}

// TestGSOOffByOption: NoGSO and NoGRO are honoured and said.
func TestGSOOffByOption(t *testing.T) {
	port := freePort(t)
	a := listenOpts(t, "127.0.0.1", port, Options{FixedSourcePort: true, NoGSO: true, NoGRO: true})
	b := listenOpts(t, "127.0.0.2", port, Options{FixedSourcePort: true, NoGRO: true})
	for _, want := range []string{"UDP GSO off by option", "UDP GRO off by option"} {
		if !strings.Contains(a.Mode(), want) {
			t.Errorf("Mode() = %q, want it to say %q", a.Mode(), want)
		}
	}
	w := a.NewSender().(*Writer)
	for i := 0; i < 10; i++ {
		if err := w.Queue(datagram(1, 1000, "x"), UDPHeaderLen, 0, b.LocalAddr().Addr()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r := b.NewReceiver(16, 65536)
	receiveAll(t, b, r, 10)
	if a.Offloads().GSOMessages != 0 || b.Offloads().GRORuns != 0 {
		t.Errorf("%d GSO messages, %d GRO runs with both off", a.Offloads().GSOMessages, b.Offloads().GRORuns)
	}
}

// TestGSOAllocs: a run sent with GSO and received with GRO allocates
// nothing once the flow's socket is open.
func TestGSOAllocs(t *testing.T) {
	fixed := os.Geteuid() != 0
	port := freePort(t)
	a := listenOpts(t, "127.0.0.1", port, Options{FixedSourcePort: fixed})
	b := listenOpts(t, "127.0.0.2", port, Options{})
	w := a.NewSender().(*Writer)
	r := b.NewReceiver(8, 65536)
	bufs := make([][]byte, 10)
	for i := range bufs {
		bufs[i] = datagram(3, 1200, "run")
	}
	dst := b.LocalAddr().Addr()
	allocs := testing.AllocsPerRun(100, func() {
		for _, d := range bufs {
			if err := w.Queue(d, UDPHeaderLen, 50100, dst); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		for n := 0; n < len(bufs); {
			msgs, err := r.Read()
			if err != nil {
				t.Fatal(err)
			}
			n += len(msgs)
		}
	})
	if allocs != 0 {
		t.Errorf("a GSO run sent and received allocates %v", allocs)
	}
	if strings.Contains(a.Mode(), "UDP GSO on") && a.Offloads().GSOMessages == 0 {
		t.Error("the run never went out as GSO")
	}
}

// TestGROSize parses the segment size out of control messages, and gives 0
// for anything else, truncated or garbage included, without panicking.
func TestGROSize(t *testing.T) {
	oob := make([]byte, unix.CmsgSpace(4))
	h := (*unix.Cmsghdr)(unsafePointer(&oob[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_GRO
	h.SetLen(unix.CmsgLen(4))
	putInt32(oob[unix.CmsgLen(0):], 1458)
	if got := groSize(oob); got != 1458 {
		t.Errorf("groSize = %d, want 1458", got)
	}
	if got := groSize(oob[:unix.CmsgLen(2)]); got != 0 {
		t.Errorf("groSize(truncated) = %d, want 0", got)
	}
	other := bytes.Clone(oob)
	(*unix.Cmsghdr)(unsafePointer(&other[0])).Type = unix.UDP_SEGMENT
	if got := groSize(append(other, oob...)); got != 1458 {
		t.Errorf("groSize(other message, then GRO) = %d, want 1458", got)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 10000; i++ {
		b := make([]byte, rng.IntN(80))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		groSize(b)
	}
}

func unsafePointer(b *byte) unsafe.Pointer { return unsafe.Pointer(b) }

func putInt32(b []byte, v int32) { *(*int32)(unsafe.Pointer(&b[0])) = v }

// TestGSORefusedRunGoesOutOneByOne: when the kernel refuses a GSO send for
// a reason that concerns the datagrams or the socket (here EINVAL: GSO
// needs the UDP checksum, and SO_NO_CHECK turns it off), the run is sent
// datagram by datagram, nothing is lost, and GSO stays on for the next.
func TestGSORefusedRunGoesOutOneByOne(t *testing.T) {
	port := freePort(t)
	a := listenOpts(t, "127.0.0.1", port, Options{FixedSourcePort: true})
	b := listenOpts(t, "127.0.0.2", port, Options{})
	if !strings.Contains(a.Mode(), "UDP GSO on") {
		t.Skipf("no UDP GSO here: %s", a.Mode())
	}
	var serr error
	if err := a.rxRaw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_NO_CHECK, 1)
	}); err != nil || serr != nil {
		t.Fatalf("set SO_NO_CHECK: %v %v", err, serr)
	}
	w := a.NewSender().(*Writer)
	var sent [][]byte
	for i := 0; i < 10; i++ {
		sent = append(sent, datagram(5, 900, fmt.Sprint(i)))
		if err := w.Queue(sent[i], UDPHeaderLen, 0, b.LocalAddr().Addr()); err != nil {
			t.Fatal(err)
		}
	}
	flushAll(t, w)
	receiveSent(t, b, b.NewReceiver(16, 65536), sent)
	if a.Offloads().GSOMessages != 0 {
		t.Errorf("%d GSO messages, but the kernel refuses GSO without checksums", a.Offloads().GSOMessages)
	}
	if !a.gso.Load() {
		t.Error("a refusal for this socket's setting turned GSO off for good")
	}
}
