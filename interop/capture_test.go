package interop

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vxswitch/vxswitch/internal/nstest"
)

// snapLen is how much of each frame a capture keeps: a whole frame at the
// underlay MTU, so checksums can be verified; only GSO super-packets from
// the kernel are cut.
const snapLen = 2048

// sizeofAuxdata is struct tpacket_auxdata.
const sizeofAuxdata = 20

// frame is one captured frame.
type frame struct {
	data    []byte // the first snapLen bytes
	wireLen int    // the length before truncation
	// outgoing: sent by this host, not received.
	outgoing bool
	// csumNotReady: the transport checksum is left to the device
	// (CHECKSUM_PARTIAL), so data holds only the pseudo-header sum.
	csumNotReady bool
}

// capture records every frame an interface sends or receives, through an
// AF_PACKET socket opened in the interface's namespace: tests see the
// underlay as the wire sees it, without tcpdump.
type capture struct {
	name     string
	f        *os.File
	rc       syscall.RawConn
	stopping atomic.Bool
	done     chan struct{}
	stopOnce sync.Once
	// Written by the reader until done is closed.
	frames []frame
	err    error
	// Written by stop.
	drops uint32
}

// startCapture starts capturing on ifname in ns; the capture is stopped
// when the test ends if the test did not stop it.
func startCapture(t *testing.T, ns *nstest.NS, ifname string) *capture {
	t.Helper()
	nl := ns.Handle(t)
	link, err := nl.LinkByName(ifname)
	nl.Close()
	if err != nil {
		t.Fatalf("%s: find %s: %v", ns.Name, ifname, err)
	}
	c := &capture{name: ns.Name + "/" + ifname, done: make(chan struct{})}
	err = ns.Do(func() error {
		f, err := openPacketSocket(link.Attrs().Index)
		c.f = f
		return err
	})
	if err != nil {
		t.Fatalf("capture on %s: %v", c.name, err)
	}
	if c.rc, err = c.f.SyscallConn(); err != nil {
		c.f.Close()
		t.Fatalf("capture on %s: %v", c.name, err)
	}
	go c.routineRead()
	t.Cleanup(func() { c.stop() })
	return c
}

// openPacketSocket opens an AF_PACKET socket bound to one interface of the
// calling thread's namespace, non-blocking so that the runtime poller
// serves it and read deadlines work.
func openPacketSocket(ifindex int) (*os.File, error) {
	// Protocol 0 until bound: no frames from other interfaces slip in.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket(AF_PACKET): %w", err)
	}
	setup := func() error {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
			return fmt.Errorf("set PACKET_AUXDATA: %w", err)
		}
		// Room for a whole test's traffic should the reader fall behind.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20); err != nil {
			return fmt.Errorf("set SO_RCVBUFFORCE: %w", err)
		}
		sll := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
		if err := unix.Bind(fd, sll); err != nil {
			return fmt.Errorf("bind to ifindex %d: %w", ifindex, err)
		}
		return nil
	}
	if err := setup(); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "packet"), nil
}

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// routineRead reads frames until stop, then drains what is queued.
func (c *capture) routineRead() {
	defer close(c.done)
	buf := make([]byte, snapLen)
	oob := make([]byte, unix.CmsgSpace(sizeofAuxdata))
	var (
		fr   frame
		rerr error
	)
	recv := func(fd uintptr) bool {
		fr, rerr = recvFrame(int(fd), buf, oob)
		return !errors.Is(rerr, unix.EAGAIN)
	}
	for {
		err := c.rc.Read(recv)
		if err == nil && rerr == nil {
			c.frames = append(c.frames, fr)
			continue
		}
		if !c.stopping.Load() {
			c.err = fmt.Errorf("capture on %s: %w", c.name, errors.Join(err, rerr))
			return
		}
		// Stopping: the deadline woke us. Frames already queued still
		// belong to the capture.
		c.rc.Control(func(fd uintptr) {
			for {
				fr, err := recvFrame(int(fd), buf, oob)
				if err != nil {
					return
				}
				c.frames = append(c.frames, fr)
			}
		})
		return
	}
}

// recvFrame receives one frame without blocking.
func recvFrame(fd int, buf, oob []byte) (frame, error) {
	for {
		n, oobn, _, from, err := unix.Recvmsg(fd, buf, oob, unix.MSG_TRUNC|unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return frame{}, err
		}
		f := frame{wireLen: n, data: append([]byte(nil), buf[:min(n, len(buf))]...)}
		if sll, ok := from.(*unix.SockaddrLinklayer); ok {
			f.outgoing = sll.Pkttype == unix.PACKET_OUTGOING
		}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA && len(m.Data) >= 4 {
				status := binary.NativeEndian.Uint32(m.Data[:4]) // tpacket_auxdata.tp_status
				f.csumNotReady = status&unix.TP_STATUS_CSUMNOTREADY != 0
			}
		}
		return f, nil
	}
}

// Stop ends the capture and returns every frame seen. It fails the test if
// the socket dropped frames (then not every frame could be checked) or the
// reader failed.
func (c *capture) Stop(t *testing.T) []frame {
	t.Helper()
	c.stop()
	if c.err != nil {
		t.Fatal(c.err)
	}
	if c.drops > 0 {
		t.Fatalf("capture on %s dropped %d frames: not every datagram was checked", c.name, c.drops)
	}
	return c.frames
}

func (c *capture) stop() {
	c.stopOnce.Do(func() {
		c.stopping.Store(true)
		c.f.SetReadDeadline(time.Now())
		<-c.done
		c.rc.Control(func(fd uintptr) {
			if st, err := unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
				c.drops = st.Drops
			}
		})
		c.f.Close()
	})
}
