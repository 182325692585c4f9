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
// underlay MTU, so checksums can be verified; only TCP super-packets from
// the kernel are cut. UDP GSO packets are split into the datagrams they
// carry first.
const snapLen = 2048

// virtioNetHdrLen is struct virtio_net_hdr, which PACKET_VNET_HDR puts in
// front of every frame: it tells a GSO packet and its segment size.
const (
	virtioNetHdrLen   = 10
	virtioGSOUDPL4    = 5 // VIRTIO_NET_HDR_GSO_UDP_L4
	maxCapturedPacket = 65536 + 14
)

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
	// gso: cut out of a UDP GSO packet.
	gso bool
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
		// vxswitch sends runs of datagrams as one UDP GSO packet, which
		// a veth passes on whole: the capture needs the segment size to
		// see the datagrams the wire would.
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
			return fmt.Errorf("set PACKET_VNET_HDR: %w", err)
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
	buf := make([]byte, virtioNetHdrLen+maxCapturedPacket)
	oob := make([]byte, unix.CmsgSpace(sizeofAuxdata))
	var (
		fr   []frame
		rerr error
	)
	recv := func(fd uintptr) bool {
		fr, rerr = recvFrame(int(fd), buf, oob)
		return !errors.Is(rerr, unix.EAGAIN)
	}
	for {
		err := c.rc.Read(recv)
		if err == nil && rerr == nil {
			c.frames = append(c.frames, fr...)
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
				c.frames = append(c.frames, fr...)
			}
		})
		return
	}
}

// recvFrame receives one frame without blocking: a UDP GSO packet as the
// datagrams it carries, anything else as one frame.
func recvFrame(fd int, buf, oob []byte) ([]frame, error) {
	for {
		n, oobn, _, from, err := unix.Recvmsg(fd, buf, oob, unix.MSG_TRUNC|unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n < virtioNetHdrLen {
			return nil, fmt.Errorf("%d bytes, shorter than the virtio header", n)
		}
		vh, pkt := buf[:virtioNetHdrLen], buf[virtioNetHdrLen:min(n, len(buf))]
		var f frame
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
		if vh[1] == virtioGSOUDPL4 {
			return splitUDPGSO(f, pkt, int(binary.LittleEndian.Uint16(vh[4:6])))
		}
		f.wireLen = n - virtioNetHdrLen
		f.data = append([]byte(nil), pkt[:min(len(pkt), snapLen)]...)
		return []frame{f}, nil
	}
}

// splitUDPGSO cuts a UDP GSO packet into the datagrams segmentation makes
// of it: the headers copied, the payload cut every size bytes, the IP and
// UDP lengths (and the IPv4 header checksum) set for each. Their UDP
// checksums are computed when segmented, so the capture leaves them
// unverified (csumNotReady), as for any packet whose checksum is offloaded.
func splitUDPGSO(f frame, pkt []byte, size int) ([]frame, error) {
	const ethLen = 14
	if len(pkt) < ethLen+1 || size <= 0 {
		return nil, fmt.Errorf("UDP GSO packet of %d bytes, segment size %d", len(pkt), size)
	}
	var ipLen int
	v4 := pkt[ethLen]>>4 == 4
	if v4 {
		ipLen = int(pkt[ethLen]&0xf) * 4
	} else {
		ipLen = 40
	}
	hdrLen := ethLen + ipLen + 8
	if len(pkt) <= hdrLen {
		return nil, fmt.Errorf("UDP GSO packet of %d bytes has no payload", len(pkt))
	}
	var out []frame
	for off := hdrLen; off < len(pkt); off += size {
		end := min(off+size, len(pkt))
		seg := append(append([]byte(nil), pkt[:hdrLen]...), pkt[off:end]...)
		ip := seg[ethLen:]
		udpLen := 8 + end - off
		if v4 {
			binary.BigEndian.PutUint16(ip[2:4], uint16(ipLen+udpLen))
			ip[10], ip[11] = 0, 0
			binary.BigEndian.PutUint16(ip[10:12], ^ipSum(ip[:ipLen]))
		} else {
			binary.BigEndian.PutUint16(ip[4:6], uint16(udpLen))
		}
		binary.BigEndian.PutUint16(ip[ipLen+4:ipLen+6], uint16(udpLen))
		g := f
		g.csumNotReady, g.gso = true, true
		g.wireLen = len(seg)
		g.data = seg[:min(len(seg), snapLen)]
		out = append(out, g)
	}
	return out, nil
}

// ipSum is the ones' complement sum of an IPv4 header.
func ipSum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
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
