package hostile

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/vxswitch/vxswitch/internal/nstest"
	"github.com/vxswitch/vxswitch/vtep"
)

// packetSocket is an AF_PACKET socket bound to one interface inside a
// namespace: it sends raw Ethernet frames and records every frame the
// interface receives.
type packetSocket struct {
	fd      int
	ifindex int

	mu      sync.Mutex
	frames  [][]byte // guarded by mu
	closing atomic.Bool
	done    chan struct{}
}

// openPacket opens a packet socket on ifname in ns. It is closed when the
// test ends. With listen set, a goroutine records incoming frames.
func openPacket(t *testing.T, ns *nstest.NS, ifname string, listen bool) *packetSocket {
	t.Helper()
	p := &packetSocket{fd: -1, done: make(chan struct{})}
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		p.ifindex = ifi.Index
		proto := 0 // send only: no frames queued
		if listen {
			proto = int(htons(unix.ETH_P_ALL))
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		p.fd = fd
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: ifi.Index}); err != nil {
			return fmt.Errorf("bind packet socket to %s: %w", ifname, err)
		}
		if listen {
			// Only what arrives, not what this host sends.
			tv := unix.Timeval{Usec: 100_000}
			return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		}
		return nil
	})
	if err != nil {
		if p.fd >= 0 {
			unix.Close(p.fd)
		}
		t.Fatalf("%s: packet socket on %s: %v", ns.Name, ifname, err)
	}
	if !listen {
		close(p.done)
	} else {
		go p.record()
	}
	t.Cleanup(p.close)
	return p
}

func (p *packetSocket) record() {
	defer close(p.done)
	buf := make([]byte, 65536)
	for {
		n, from, err := unix.Recvfrom(p.fd, buf, 0)
		if p.closing.Load() {
			return
		}
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		p.mu.Lock()
		p.frames = append(p.frames, append([]byte(nil), buf[:n]...))
		p.mu.Unlock()
	}
}

// close stops the recorder, which notices within its receive timeout, and
// only then closes the fd: closed earlier, its number could be reused by
// another socket that the recorder would then read from.
func (p *packetSocket) close() {
	p.closing.Store(true)
	<-p.done
	unix.Close(p.fd)
}

// send writes one frame out of the interface.
func (p *packetSocket) send(frame []byte) error {
	return unix.Sendto(p.fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: p.ifindex, Halen: 6})
}

// received returns a copy of every frame recorded so far.
func (p *packetSocket) received() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]byte(nil), p.frames...)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// udpIn opens a UDP socket bound to addr inside ns.
func udpIn(t *testing.T, ns *nstest.NS, addr netip.AddrPort) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := ns.Do(func() (err error) {
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
		return err
	})
	if err != nil {
		t.Fatalf("%s: listen udp %v: %v", ns.Name, addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// serialize builds a frame from layers, lengths and checksums computed.
func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	type checksummer interface {
		SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
	}
	for _, l := range ls {
		if n, ok := l.(gopacket.NetworkLayer); ok {
			for _, m := range ls {
				if c, ok := m.(checksummer); ok {
					c.SetNetworkLayerForChecksum(n)
				}
			}
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// arpFrame is an Ethernet/ARP frame.
func arpFrame(t testing.TB, dst net.HardwareAddr, op uint16, sha net.HardwareAddr, spa netip.Addr, tha net.HardwareAddr, tpa netip.Addr) []byte {
	if tha == nil {
		tha = make(net.HardwareAddr, 6)
	}
	return serialize(t,
		&layers.Ethernet{SrcMAC: sha, DstMAC: dst, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: op, SourceHwAddress: sha, SourceProtAddress: spa.AsSlice(), DstHwAddress: tha, DstProtAddress: tpa.AsSlice()})
}

// nsFrame is an Ethernet/IPv6 neighbor solicitation for target from src
// (link-layer address sll), to the target's solicited-node group.
func nsFrame(t testing.TB, sll net.HardwareAddr, src, target netip.Addr) []byte {
	tb := target.As16()
	group := netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 1, 12: 0xff, 13: tb[13], 14: tb[14], 15: tb[15]})
	gb := group.As16()
	dst := net.HardwareAddr{0x33, 0x33, gb[12], gb[13], gb[14], gb[15]}
	return serialize(t,
		&layers.Ethernet{SrcMAC: sll, DstMAC: dst, EthernetType: layers.EthernetTypeIPv6},
		&layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: 255, SrcIP: src.AsSlice(), DstIP: group.AsSlice()},
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)},
		&layers.ICMPv6NeighborSolicitation{TargetAddress: target.AsSlice(),
			Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: sll}}})
}

// encap puts a VXLAN header for vni in front of frame.
func encap(vni uint32, frame []byte) []byte {
	b := make([]byte, vtep.HeaderLen+len(frame))
	vtep.PutHeader(b, vni)
	copy(b[vtep.HeaderLen:], frame)
	return b
}

// vmRSS reads this process's resident set size from /proc/self/status.
func vmRSS(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kb int64
		if _, err := fmt.Sscanf(line, "VmRSS: %d kB", &kb); err == nil {
			return kb * 1024
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}
