package scenario

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"
)

// rawSock is an AF_PACKET socket on a container's eth1: it sends whole
// Ethernet frames, with any source MAC, and sees the frames eth1 receives.
type rawSock struct {
	ct      *container
	fd      int
	ifindex int
	proto   uint16
}

// htons converts an EtherType to network byte order for AF_PACKET.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openRaw opens an AF_PACKET socket for EtherType proto bound to eth1 in
// ct's namespace, closed when the test ends.
func (ct *container) openRaw(t *testing.T, proto layers.EthernetType) *rawSock {
	t.Helper()
	r := &rawSock{ct: ct, fd: -1, proto: uint16(proto)}
	err := ct.ns.Do(func() error {
		ifi, err := net.InterfaceByName("eth1")
		if err != nil {
			return err
		}
		r.ifindex = ifi.Index
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(r.proto)))
		if err != nil {
			return err
		}
		r.fd = fd
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(r.proto), Ifindex: r.ifindex})
	})
	if r.fd >= 0 {
		t.Cleanup(func() { unix.Close(r.fd) })
	}
	if err != nil {
		t.Fatalf("%s: AF_PACKET socket on eth1: %v", ct.name, err)
	}
	// Recv polls with this timeout, so a deadline is never overshot by
	// more than it.
	tv := unix.NsecToTimeval(int64(20 * time.Millisecond))
	if err := unix.SetsockoptTimeval(r.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatalf("%s: SO_RCVTIMEO: %v", ct.name, err)
	}
	return r
}

// send transmits frame on eth1 as it is.
func (r *rawSock) send(t *testing.T, frame []byte) {
	t.Helper()
	to := &unix.SockaddrLinklayer{Protocol: htons(r.proto), Ifindex: r.ifindex, Halen: 6}
	copy(to.Addr[:], frame[0:6])
	if err := unix.Sendto(r.fd, frame, 0, to); err != nil {
		t.Fatalf("%s: send %d-byte frame on eth1: %v", r.ct.name, len(frame), err)
	}
}

// recv returns the first frame eth1 receives (not one it sends) for which
// match holds, or false if none does within.
func (r *rawSock) recv(t *testing.T, within time.Duration, match func(gopacket.Packet) bool) (gopacket.Packet, bool) {
	t.Helper()
	buf := make([]byte, 65536)
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		n, from, err := unix.Recvfrom(r.fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatalf("%s: receive on eth1: %v", r.ct.name, err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		p := gopacket.NewPacket(append([]byte(nil), buf[:n]...), layers.LayerTypeEthernet, gopacket.Default)
		if match(p) {
			return p, true
		}
	}
	return nil, false
}

// arpOf returns p's ARP layer, or nil.
func arpOf(p gopacket.Packet) *layers.ARP {
	a, _ := p.Layer(layers.LayerTypeARP).(*layers.ARP)
	return a
}

var broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// arpFrame builds an Ethernet/IPv4 ARP frame (RFC 826) from src to dst.
func arpFrame(t *testing.T, op uint16, src, dst net.HardwareAddr, senderMAC net.HardwareAddr, senderIP netip.Addr,
	targetMAC net.HardwareAddr, targetIP netip.Addr) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeARP}
	arp := &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: op,
		SourceHwAddress: senderMAC, SourceProtAddress: senderIP.AsSlice(),
		DstHwAddress: targetMAC, DstProtAddress: targetIP.AsSlice(),
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{}, eth, arp); err != nil {
		t.Fatalf("build ARP frame: %v", err)
	}
	return buf.Bytes()
}

// gratuitousARP is the announcement "ip is at mac", broadcast from mac: an
// ARP request for the sender's own address (RFC 5227 §3).
func gratuitousARP(t *testing.T, mac net.HardwareAddr, ip netip.Addr) []byte {
	return arpFrame(t, layers.ARPRequest, mac, broadcast, mac, ip, make(net.HardwareAddr, 6), ip)
}

// arpRequest is ct asking, by broadcast, who has target.
func arpRequest(t *testing.T, ct *container, target netip.Addr) []byte {
	return arpFrame(t, layers.ARPRequest, ct.mac, broadcast, ct.mac, ct.ip, make(net.HardwareAddr, 6), target)
}
