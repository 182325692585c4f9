package tap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"
	"github.com/vxswitch/vxswitch/internal/nstest"
	"golang.org/x/sys/unix"
)

// The multi-queue TAP's addresses and the test's peer on its segment, whose
// MAC is peerMAC.
var (
	mqAddr4 = netip.MustParsePrefix("192.0.2.1/24")
	mqPeer4 = netip.MustParseAddr("192.0.2.2")
	mqAddr6 = netip.MustParsePrefix("2001:db8:2::1/64")
	mqPeer6 = netip.MustParseAddr("2001:db8:2::2")
)

// mqPeerPort is the peer's port the container's UDP flows send to and its
// TCP probes ask for; nothing listens on it.
const mqPeerPort = 9

// openMQ opens a TAP with the given queues in a new namespace and gives the
// namespace permanent neighbor entries for the peer, so the container sends
// to it without resolving its address first.
func openMQ(t *testing.T, queues int, offload bool) (*nstest.NS, *TAP) {
	t.Helper()
	return openWithPeer(t, Config{Offload: offload, Queues: queues})
}

// openWithPeer is openMQ with the rest of cfg: it fills in name, interface,
// MTU and the mq addresses.
func openWithPeer(t *testing.T, cfg Config) (*nstest.NS, *TAP) {
	t.Helper()
	ns := nstest.New(t, nstest.Prefix()+"-tapq")
	cfg.Name, cfg.Netns, cfg.IfName, cfg.MTU = "web", ns.Path, "eth1", 1450
	cfg.Addresses = []netip.Prefix{mqAddr4, mqAddr6}
	tp := open(t, cfg)
	h := ns.Handle(t)
	defer h.Close()
	link, err := h.LinkByName("eth1")
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range []netip.Addr{mqPeer4, mqPeer6} {
		family := netlink.FAMILY_V4
		if ip.Is6() {
			family = netlink.FAMILY_V6
		}
		n := &netlink.Neigh{LinkIndex: link.Attrs().Index, Family: family, State: netlink.NUD_PERMANENT,
			IP: ip.AsSlice(), HardwareAddr: peerMAC}
		if err := h.NeighAdd(n); err != nil {
			t.Fatalf("add neighbor %s: %v", ip, err)
		}
	}
	return ns, tp
}

// checkQueues checks that tp has n queues and says so.
func checkQueues(t *testing.T, tp *TAP, n int, offload bool) {
	t.Helper()
	t.Logf("Mode() = %q", tp.Mode())
	if got := strings.HasPrefix(tp.Mode(), "vnet_hdr"); got != offload {
		t.Errorf("Mode() = %q with Offload %v", tp.Mode(), offload)
	}
	if !strings.HasSuffix(tp.Mode(), fmt.Sprintf(", %d queues", n)) {
		t.Errorf("Mode() = %q, want it to end in %q", tp.Mode(), fmt.Sprintf(", %d queues", n))
	}
	if tp.Queues() != n || len(tp.Readers()) != n {
		t.Fatalf("Queues() = %d, %d Readers, want %d", tp.Queues(), len(tp.Readers()), n)
	}
	for i, r := range tp.Readers() {
		if r.BatchSize() != tp.BatchSize() {
			t.Errorf("Readers()[%d].BatchSize() = %d, want %d", i, r.BatchSize(), tp.BatchSize())
		}
	}
}

// containerFlow is a UDP socket inside the test namespace sending to the
// peer's port: one flow.
type containerFlow struct {
	id    uint16
	conn  *net.UDPConn
	local netip.AddrPort
	peer  netip.AddrPort
}

// containerFlows opens n UDP sockets in ns, alternately IPv4 and IPv6, each
// on its own port; they are closed when the test ends.
func containerFlows(t *testing.T, ns *nstest.NS, n int) []containerFlow {
	t.Helper()
	var flows []containerFlow
	t.Cleanup(func() {
		for _, f := range flows {
			f.conn.Close()
		}
	})
	err := ns.Do(func() error {
		for i := range n {
			network, local, peer := "udp4", mqAddr4.Addr(), mqPeer4
			if i%2 == 1 {
				network, local, peer = "udp6", mqAddr6.Addr(), mqPeer6
			}
			c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
			if err != nil {
				return err
			}
			flows = append(flows, containerFlow{id: uint16(i), conn: c,
				local: c.LocalAddr().(*net.UDPAddr).AddrPort(), peer: netip.AddrPortFrom(peer, mqPeerPort)})
		}
		return nil
	})
	if err != nil {
		t.Fatalf("open UDP sockets in %s: %v", ns.Name, err)
	}
	return flows
}

// send sends datagram seq of the flow: "vxmq", flow id, sequence number.
func (f containerFlow) send(t *testing.T, seq uint32) {
	t.Helper()
	var p [10]byte
	copy(p[:], "vxmq")
	binary.BigEndian.PutUint16(p[4:], f.id)
	binary.BigEndian.PutUint32(p[6:], seq)
	if _, err := f.conn.WriteToUDPAddrPort(p[:], f.peer); err != nil {
		t.Fatalf("flow %d: send %d: %v", f.id, seq, err)
	}
}

// parseFlowFrame returns the flow id and sequence number of a datagram a
// containerFlow sent; ok is false for every other frame (the kernel's own
// router solicitations and MLD reports, for one).
func parseFlowFrame(f []byte) (flow uint16, seq uint32, ok bool) {
	p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if udp == nil || udp.DstPort != mqPeerPort || len(udp.Payload) != 10 || string(udp.Payload[:4]) != "vxmq" {
		return 0, 0, false
	}
	return binary.BigEndian.Uint16(udp.Payload[4:]), binary.BigEndian.Uint32(udp.Payload[6:]), true
}

// flowRecord is one datagram of a containerFlow as a queue's reader read it.
type flowRecord struct {
	queue int
	flow  uint16
	seq   uint32
}

// readQueues runs one goroutine per Reader of tp. Each sends the
// containerFlow datagrams it reads to recs, in the order it reads them, and
// its final error to errs.
func readQueues(tp *TAP) (recs <-chan flowRecord, errs <-chan error) {
	readers := tp.Readers()
	rc := make(chan flowRecord, 4096) // more than any test sends
	ec := make(chan error, len(readers))
	for i, r := range readers {
		go func() {
			const offset = 64
			bufs, sizes := make([][]byte, r.BatchSize()), make([]int, r.BatchSize())
			for j := range bufs {
				bufs[j] = make([]byte, offset+1518)
			}
			for {
				n, err := r.Read(bufs, sizes, offset)
				if err != nil {
					ec <- err
					return
				}
				for j := range n {
					if flow, seq, ok := parseFlowFrame(bufs[j][offset : offset+sizes[j]]); ok {
						rc <- flowRecord{queue: i, flow: flow, seq: seq}
					}
				}
			}
		}()
	}
	return rc, ec
}

// collect receives n records, failing the test if they do not come within
// timeout.
func collect(t *testing.T, recs <-chan flowRecord, n int, timeout time.Duration) []flowRecord {
	t.Helper()
	var got []flowRecord
	deadline := time.After(timeout)
	for len(got) < n {
		select {
		case r := <-recs:
			got = append(got, r)
		case <-deadline:
			t.Fatalf("read %d of %d datagrams in %v", len(got), n, timeout)
		}
	}
	return got
}

// checkFlows checks that the records hold datagrams 0 to perFlow-1 of each
// of flows flows exactly once, each flow's all from one queue and in order,
// and returns which queue each flow came from.
func checkFlows(t *testing.T, recs []flowRecord, flows, perFlow int) map[uint16]int {
	t.Helper()
	queueOf := make(map[uint16]int)
	next := make(map[uint16]uint32)
	for _, r := range recs {
		if int(r.flow) >= flows {
			t.Errorf("datagram of unknown flow %d", r.flow)
			continue
		}
		if q, ok := queueOf[r.flow]; ok && q != r.queue {
			t.Errorf("flow %d: datagram %d on queue %d, earlier ones on queue %d", r.flow, r.seq, r.queue, q)
		}
		queueOf[r.flow] = r.queue
		if r.seq != next[r.flow] {
			t.Errorf("flow %d: datagram %d read after %d (duplicate, lost or reordered)", r.flow, r.seq, int(next[r.flow])-1)
		}
		next[r.flow] = r.seq + 1
	}
	for f := range uint16(flows) {
		if next[f] != uint32(perFlow) {
			t.Errorf("flow %d: read %d datagrams in order, want %d", f, next[f], perFlow)
		}
	}
	return queueOf
}

// closeReaders closes tp and checks that each of n readers returns
// ErrClosed.
func closeReaders(t *testing.T, tp *TAP, errs <-chan error, n int) {
	t.Helper()
	if err := tp.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i := range n {
		select {
		case err := <-errs:
			if err != ErrClosed {
				t.Errorf("reader returned %v after Close, want ErrClosed", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("%d of %d readers still blocked 2s after Close", n-i, n)
		}
	}
}

func distinct(m map[uint16]int) int {
	var qs []int
	for _, q := range m {
		if !slices.Contains(qs, q) {
			qs = append(qs, q)
		}
	}
	return len(qs)
}

// TestIntegrationMultiQueueFlows has the container send interleaved UDP
// flows out of a four-queue TAP, read by one goroutine per queue: every
// datagram is read exactly once, each flow's all from one queue and in
// order (the kernel picks the queue by flow hash), and the flows use more
// than one queue.
func TestIntegrationMultiQueueFlows(t *testing.T) {
	requireRoot(t)
	for _, offload := range []bool{false, true} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) {
			const queues, nflows, perFlow = 4, 16, 20 // 320 frames fit one queue's 500
			ns, tp := openMQ(t, queues, offload)
			checkQueues(t, tp, queues, offload)
			flows := containerFlows(t, ns, nflows)
			recs, errs := readQueues(tp)
			for seq := range uint32(perFlow) {
				for _, f := range flows {
					f.send(t, seq)
				}
			}
			queueOf := checkFlows(t, collect(t, recs, nflows*perFlow, 10*time.Second), nflows, perFlow)
			t.Logf("flow → queue: %v", queueOf)
			if distinct(queueOf) < 2 {
				t.Errorf("all %d flows on one queue: %v", nflows, queueOf)
			}
			closeReaders(t, tp, errs, queues)
		})
	}
}

// udpToContainer builds the datagram the peer would send to f's socket:
// the reverse direction of f.
func udpToContainer(t *testing.T, tp *TAP, f containerFlow) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: peerMAC, DstMAC: tp.MAC()}
	udp := &layers.UDP{SrcPort: mqPeerPort, DstPort: layers.UDPPort(f.local.Port())}
	var ip gopacket.SerializableLayer
	if f.peer.Addr().Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP,
			SrcIP: f.peer.Addr().AsSlice(), DstIP: f.local.Addr().AsSlice()}
		udp.SetNetworkLayerForChecksum(ip4)
		ip = ip4
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP,
			SrcIP: f.peer.Addr().AsSlice(), DstIP: f.local.Addr().AsSlice()}
		udp.SetNetworkLayerForChecksum(ip6)
		ip = ip6
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload("reply")); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// queueIndexOf returns q's position in tp's queues.
func queueIndexOf(tp *TAP, q *queue) int { return slices.Index(tp.queues, q) }

// TestIntegrationMultiQueueWriteSteers checks why Write picks a queue per
// flow: after the peer's side of a flow is written into the TAP, the kernel
// sends the container's side of it out on the queue it was written on.
func TestIntegrationMultiQueueWriteSteers(t *testing.T) {
	requireRoot(t)
	for _, offload := range []bool{false, true} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) {
			const queues, nflows, perFlow = 4, 16, 5
			ns, tp := openMQ(t, queues, offload)
			flows := containerFlows(t, ns, nflows)
			want := make(map[uint16]int)
			for _, f := range flows {
				frame := udpToContainer(t, tp, f)
				want[f.id] = queueIndexOf(tp, tp.txQueue(frame))
				if _, err := tp.Write(frame); err != nil {
					t.Fatalf("Write: %v", err)
				}
			}
			if distinct(want) < 2 {
				t.Errorf("Write put all %d flows on one queue: %v", nflows, want)
			}
			recs, errs := readQueues(tp)
			for seq := range uint32(perFlow) {
				for _, f := range flows {
					f.send(t, seq)
				}
			}
			got := checkFlows(t, collect(t, recs, nflows*perFlow, 10*time.Second), nflows, perFlow)
			for _, f := range flows {
				if got[f.id] != want[f.id] {
					t.Errorf("flow %d (%s): written on queue %d, the container's side read from queue %d", f.id, f.local, want[f.id], got[f.id])
				}
			}
			closeReaders(t, tp, errs, queues)
		})
	}
}

// TestIntegrationMultiQueueClose checks that Close unblocks a blocked Read
// on every queue and deletes the link.
func TestIntegrationMultiQueueClose(t *testing.T) {
	requireRoot(t)
	for _, offload := range []bool{false, true} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) {
			const queues = 4
			ns, tp := openMQ(t, queues, offload)
			h := nlHandle(t, ns.Path)
			_, errs := readQueues(tp)
			time.Sleep(50 * time.Millisecond) // let the Reads block
			closeReaders(t, tp, errs, queues)
			if !nstest.Poll(2*time.Second, func() bool { _, err := h.LinkByName("eth1"); return err != nil }) {
				t.Error("eth1 still in the namespace after Close")
			}
			for i, r := range tp.Readers() {
				if _, err := r.Read([][]byte{make([]byte, 2048)}, []int{0}, 0); err != ErrClosed {
					t.Errorf("queue %d: Read after Close = %v, want ErrClosed", i, err)
				}
			}
			if _, err := tp.Write(arpRequest(mqAddr4.Addr())); err != ErrClosed {
				t.Errorf("Write after Close = %v, want ErrClosed", err)
			}
			if err := tp.Close(); err != nil {
				t.Errorf("second Close = %v, want nil", err)
			}
		})
	}
}

// TestIntegrationMultiQueueGone deletes a multi-queue TAP out from under a
// blocked Read on every queue: each returns an error wrapping ErrGone.
func TestIntegrationMultiQueueGone(t *testing.T) {
	requireRoot(t)
	kills := []struct {
		name string
		kill func(t *testing.T, ns *nstest.NS)
	}{
		{name: "netns deleted", kill: func(t *testing.T, ns *nstest.NS) { ns.Delete(t) }},
		{name: "link deleted", kill: func(t *testing.T, ns *nstest.NS) {
			h := ns.Handle(t)
			defer h.Close()
			l, err := h.LinkByName("eth1")
			if err != nil {
				t.Fatal(err)
			}
			if err := h.LinkDel(l); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, offload := range []bool{false, true} {
		for _, k := range kills {
			t.Run(fmt.Sprintf("%s/offload=%v", k.name, offload), func(t *testing.T) {
				const queues = 4
				ns, tp := openMQ(t, queues, offload)
				_, errs := readQueues(tp)
				time.Sleep(50 * time.Millisecond)
				start := time.Now()
				k.kill(t, ns)
				for i := range queues {
					select {
					case err := <-errs:
						t.Logf("reader returned after %v: %v", time.Since(start).Round(time.Millisecond), err)
						if !errors.Is(err, ErrGone) || !errors.Is(err, syscall.EBADFD) {
							t.Errorf("reader returned %v, want an error wrapping ErrGone and EBADFD", err)
						}
						if !strings.Contains(err.Error(), `"eth1"`) {
							t.Errorf("error %q does not name the interface", err)
						}
					case <-time.After(10 * time.Second):
						t.Fatalf("%d of %d readers still blocked 10s after the TAP was deleted", queues-i, queues)
					}
				}
				// Every queue's writes fail alike, whichever a flow picks.
				for _, f := range []containerFlow{
					{local: netip.AddrPortFrom(mqAddr4.Addr(), 1000), peer: netip.AddrPortFrom(mqPeer4, mqPeerPort)},
					{local: netip.AddrPortFrom(mqAddr6.Addr(), 1001), peer: netip.AddrPortFrom(mqPeer6, mqPeerPort)},
				} {
					if _, err := tp.Write(udpToContainer(t, tp, f)); !errors.Is(err, ErrGone) {
						t.Errorf("Write = %v, want an error wrapping ErrGone", err)
					}
				}
				if err := tp.Close(); err != nil {
					t.Errorf("Close after gone = %v", err)
				}
			})
		}
	}
}

// tcpProbe builds a TCP SYN with sequence number seq from the peer's port
// sport to the TAP's port mqPeerPort, where nothing listens: the container
// answers with a reset acknowledging seq+1.
func tcpProbe(t *testing.T, tp *TAP, sport uint16, seq uint32) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: peerMAC, DstMAC: tp.MAC(), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP,
		SrcIP: mqPeer4.AsSlice(), DstIP: mqAddr4.Addr().AsSlice()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: mqPeerPort, Seq: seq, SYN: true, Window: 1024}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// isProbeReset reports, without allocating, whether f is the container's
// reset answering tcpProbe(sport, 1000).
func isProbeReset(f []byte, sport uint16) bool {
	ack, ok := resetAck(f, sport)
	return ok && ack == 1001
}

// resetAck returns the acknowledgment number of f if it is a reset the
// container sent to the peer's port sport from mqPeerPort.
func resetAck(f []byte, sport uint16) (uint32, bool) {
	if len(f) < ethHeaderLen+ipv4MinHeaderLen+tcpMinHeaderLen || binary.BigEndian.Uint16(f[12:14]) != etherTypeIPv4 {
		return 0, false
	}
	ip := f[ethHeaderLen:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[9] != protoTCP || len(ip) < ihl+tcpMinHeaderLen ||
		netip.AddrFrom4([4]byte(ip[12:16])) != mqAddr4.Addr() || netip.AddrFrom4([4]byte(ip[16:20])) != mqPeer4 {
		return 0, false
	}
	tcp := ip[ihl:]
	if binary.BigEndian.Uint16(tcp[0:2]) != mqPeerPort || binary.BigEndian.Uint16(tcp[2:4]) != sport || tcp[13]&0x04 == 0 {
		return 0, false
	}
	return binary.BigEndian.Uint32(tcp[8:12]), true
}

// probeForQueue returns a tcpProbe that Write sends through queue i.
func probeForQueue(t *testing.T, tp *TAP, i int) (probe []byte, sport uint16) {
	t.Helper()
	for sport = 30000; sport < 31000; sport++ {
		probe = tcpProbe(t, tp, sport, 1000)
		if queueIndexOf(tp, tp.txQueue(probe)) == i {
			return probe, sport
		}
	}
	t.Fatalf("no port in 30000-30999 whose probe goes through queue %d", i)
	return nil, 0
}

// exchange writes probe and reads r (queue q of tp) until the container's
// reset to it comes, within timeout; it allocates nothing once bufs exist.
func exchange(tp *TAP, q *queue, r Reader, probe []byte, sport uint16, bufs [][]byte, sizes []int) error {
	const offset = 64
	if _, err := tp.Write(probe); err != nil {
		return err
	}
	for {
		n, err := r.Read(bufs, sizes, offset)
		if err != nil {
			return err
		}
		for j := range n {
			if isProbeReset(bufs[j][offset:offset+sizes[j]], sport) {
				return nil
			}
		}
	}
}

// TestIntegrationMultiQueueAllocs checks that Write and a Read on every
// queue allocate nothing. Each round writes a TCP probe through queue i,
// which makes the kernel put the container's reset on queue i too, which
// also shows that a flow's replies follow the queue it is written on.
func TestIntegrationMultiQueueAllocs(t *testing.T) {
	requireRoot(t)
	for _, offload := range []bool{false, true} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) {
			const queues = 4
			_, tp := openMQ(t, queues, offload)
			readers := tp.Readers()
			bufs, sizes := make([][]byte, tp.BatchSize()), make([]int, tp.BatchSize())
			for j := range bufs {
				bufs[j] = make([]byte, 64+1518)
			}
			for i, r := range readers {
				q := tp.queues[i]
				probe, sport := probeForQueue(t, tp, i)
				// The kernel records the flow's queue once the first
				// probe has been through the container's stack, so the
				// reset to that one goes by the kernel's hash, wherever;
				// the resets to later probes come on queue i.
				if _, err := tp.Write(probe); err != nil {
					t.Fatal(err)
				}
				if err := q.file.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
					t.Fatal(err)
				}
				var err error
				allocs := testing.AllocsPerRun(50, func() {
					if err == nil {
						err = exchange(tp, q, r, probe, sport, bufs, sizes)
					}
				})
				q.file.SetReadDeadline(time.Time{})
				if err != nil {
					t.Fatalf("queue %d: probe from port %d: %v", i, sport, err)
				}
				t.Logf("queue %d: Write + Read: %v allocs per run", i, allocs)
				if allocs != 0 {
					t.Errorf("queue %d: Write + Read: %v allocs per run, want 0", i, allocs)
				}
			}
		})
	}
}

// TestIntegrationMultiQueueFallback has the kernel refuse multi-queue (by
// failing TUNSETIFF where it asks for IFF_MULTI_QUEUE): the TAP opens with
// one queue, Mode says why, frames pass and no TAP is left behind.
func TestIntegrationMultiQueueFallback(t *testing.T) {
	requireRoot(t)
	var temps []string
	origName := newTempName
	newTempName = func() string { n := origName(); temps = append(temps, n); return n }
	t.Cleanup(func() { newTempName = origName })

	tests := []struct {
		name    string
		refuse  func(call int) error // call counts TUNSETIFFs with IFF_MULTI_QUEUE from 1
		wantErr string
	}{
		{name: "IFF_MULTI_QUEUE refused", refuse: func(int) error { return unix.EINVAL },
			wantErr: "IFF_MULTI_QUEUE: invalid argument"},
		{name: "third queue refused", refuse: func(call int) error {
			if call == 3 {
				return unix.E2BIG
			}
			return nil
		}, wantErr: "attach queue 3 of 4: TUNSETIFF with "},
	}
	for _, offload := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/offload=%v", tt.name, offload), func(t *testing.T) {
				calls := 0
				orig := tunSetIff
				tunSetIff = func(fd int, ifr *unix.Ifreq) error {
					if ifr.Uint16()&unix.IFF_MULTI_QUEUE != 0 {
						calls++
						if err := tt.refuse(calls); err != nil {
							return err
						}
					}
					return orig(fd, ifr)
				}
				t.Cleanup(func() { tunSetIff = orig })
				temps = nil

				ns, tp := openMQ(t, 4, offload)
				t.Logf("Mode() = %q", tp.Mode())
				if got := strings.HasPrefix(tp.Mode(), "vnet_hdr"); got != offload {
					t.Errorf("Mode() = %q with Offload %v", tp.Mode(), offload)
				}
				if want := ", 1 queue (multi-queue refused: "; !strings.Contains(tp.Mode(), want) || !strings.Contains(tp.Mode(), tt.wantErr) ||
					!strings.Contains(tp.Mode(), tt.refuse(3).Error()) {
					t.Errorf("Mode() = %q, want %q and %q", tp.Mode(), want, tt.wantErr)
				}
				if tp.Queues() != 1 || len(tp.Readers()) != 1 {
					t.Fatalf("Queues() = %d, %d Readers, want 1", tp.Queues(), len(tp.Readers()))
				}
				probe := tcpProbe(t, tp, 30000, 1000)
				bufs, sizes := make([][]byte, tp.BatchSize()), make([]int, tp.BatchSize())
				for j := range bufs {
					bufs[j] = make([]byte, 64+1518)
				}
				tp.file.SetReadDeadline(time.Now().Add(5 * time.Second))
				if err := exchange(tp, tp.queues[0], tp.Readers()[0], probe, 30000, bufs, sizes); err != nil {
					t.Fatalf("probe: %v", err)
				}
				tp.file.SetReadDeadline(time.Time{})

				// The refused tries' TAPs are gone; the one that opened
				// was renamed.
				h := nlHandle(t, ns.Path)
				for _, name := range temps {
					if _, err := netlink.LinkByName(name); err == nil {
						t.Errorf("temporary TAP %s left in the root namespace", name)
					}
					if _, err := h.LinkByName(name); err == nil {
						t.Errorf("temporary TAP %s left in the namespace", name)
					}
				}
			})
		}
	}

	// One queue never asks for multi-queue, with or without offloads.
	for _, offload := range []bool{false, true} {
		for _, queues := range []int{0, 1} {
			t.Run(fmt.Sprintf("queues=%d/offload=%v", queues, offload), func(t *testing.T) {
				asked := false
				orig := tunSetIff
				tunSetIff = func(fd int, ifr *unix.Ifreq) error {
					asked = asked || ifr.Uint16()&unix.IFF_MULTI_QUEUE != 0
					return orig(fd, ifr)
				}
				t.Cleanup(func() { tunSetIff = orig })
				_, tp := openMQ(t, queues, offload)
				want := map[bool]string{false: "plain, 1 queue", true: "vnet_hdr (tso4, tso6, csum), 1 queue"}[offload]
				if tp.Mode() != want || tp.Queues() != 1 || asked {
					t.Errorf("Mode() = %q, Queues() = %d, asked for IFF_MULTI_QUEUE %v; want %q, 1, false", tp.Mode(), tp.Queues(), asked, want)
				}
			})
		}
	}
}

// tcpSegment builds a TCP segment from the peer's port sport to the TAP's
// port mqPeerPort carrying n payload bytes: ACK set, acknowledging ack.
func tcpSegment(t *testing.T, tp *TAP, sport uint16, seq, ack uint32, n int) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: peerMAC, DstMAC: tp.MAC(), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolTCP,
		SrcIP: mqPeer4.AsSlice(), DstIP: mqAddr4.Addr().AsSlice()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: mqPeerPort, Seq: seq, Ack: ack, ACK: true, Window: 1024}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, tcp, gopacket.Payload(make([]byte, n))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// awaitReset reads queue i of tp until the container's reset to sport
// acknowledging ack comes, failing the test after 5 s.
func awaitReset(t *testing.T, tp *TAP, i int, sport uint16, ack uint32) {
	t.Helper()
	q, r := tp.queues[i], tp.Readers()[i]
	if err := q.file.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	defer q.file.SetReadDeadline(time.Time{})
	bufs, sizes := make([][]byte, r.BatchSize()), make([]int, r.BatchSize())
	for j := range bufs {
		bufs[j] = make([]byte, 64+1518)
	}
	for {
		n, err := r.Read(bufs, sizes, 64)
		if err != nil {
			t.Fatalf("queue %d: waiting for the reset acknowledging %d to port %d: %v", i, ack, sport, err)
		}
		for j := range n {
			if got, ok := resetAck(bufs[j][64:64+sizes[j]], sport); ok && got == ack {
				return
			}
		}
	}
}

// TestIntegrationMultiQueueCoalesceSteers checks that WriteCoalesce with
// Flush and WriteTCPSuper, like Write, go through the queue of the frame's
// flow. The kernel picks the queue of what the container sends while it
// handles a written frame before it records that frame's queue, so each
// write under test is followed by a SYN probe of the same flow, whose reset
// comes on the queue the write under test used.
func TestIntegrationMultiQueueCoalesceSteers(t *testing.T) {
	requireRoot(t)
	for _, offload := range []bool{false, true} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) {
			const queues = 4
			_, tp := openMQ(t, queues, offload)
			for i := range queues {
				probe, sport := probeForQueue(t, tp, i)
				if _, err := tp.Write(probe); err != nil {
					t.Fatal(err)
				}
				for k := range uint32(4) {
					if _, err := tp.WriteCoalesce(tcpSegment(t, tp, sport, 1000+k*100, 5000, 100)); err != nil {
						t.Fatalf("WriteCoalesce: %v", err)
					}
				}
				if err := tp.Flush(); err != nil {
					t.Fatalf("Flush: %v", err)
				}
				if _, err := tp.Write(tcpProbe(t, tp, sport, 2000)); err != nil {
					t.Fatal(err)
				}
				awaitReset(t, tp, i, sport, 2001)
				ok, err := tp.WriteTCPSuper(tcpSegment(t, tp, sport, 3000, 6000, 3000))
				if !ok || err != nil {
					t.Fatalf("WriteTCPSuper = %v, %v; want true, nil", ok, err)
				}
				if _, err := tp.Write(tcpProbe(t, tp, sport, 4000)); err != nil {
					t.Fatal(err)
				}
				awaitReset(t, tp, i, sport, 4001)
			}
		})
	}
}

// TestIntegrationMultiQueueContainerFlowsStay: a flow the container starts
// comes on the queue the kernel picks, and writing its other direction
// must not move it: the write goes through the queue the flow was read
// from, so the kernel's record of the flow agrees with its own pick, and
// the container's later frames of the flow come on the same queue, never
// overtaking frames still unread on the first.
func TestIntegrationMultiQueueContainerFlowsStay(t *testing.T) {
	requireRoot(t)
	for _, offload := range []bool{false, true} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) {
			const queues, nflows, later = 4, 16, 4
			ns, tp := openMQ(t, queues, offload)
			flows := containerFlows(t, ns, nflows)
			recs, errs := readQueues(tp)
			for _, f := range flows {
				f.send(t, 0)
			}
			first := checkFlows(t, collect(t, recs, nflows, 10*time.Second), nflows, 1)
			if distinct(first) < 2 {
				t.Logf("the kernel put all %d flows on one queue: %v", nflows, first)
			}
			// Flows whose hashes share a slot of flowQueue share a write
			// queue (a documented limit); they are left out.
			slotOf := make(map[uint16]uint32)
			bySlot := make(map[uint32]int)
			for _, f := range flows {
				slotOf[f.id] = flowHash(udpToContainer(t, tp, f)) & (flowSlots - 1)
				bySlot[slotOf[f.id]]++
			}
			shared := func(id uint16) bool { return bySlot[slotOf[id]] > 1 }
			for _, f := range flows {
				frame := udpToContainer(t, tp, f)
				if q := queueIndexOf(tp, tp.txQueue(frame)); q != first[f.id] && !shared(f.id) {
					t.Errorf("flow %d: read from queue %d, its reply written through queue %d", f.id, first[f.id], q)
				}
				if _, err := tp.Write(frame); err != nil {
					t.Fatalf("Write: %v", err)
				}
			}
			for seq := uint32(1); seq <= later; seq++ {
				for _, f := range flows {
					f.send(t, seq)
				}
			}
			for _, r := range collect(t, recs, nflows*later, 10*time.Second) {
				if r.queue != first[r.flow] && !shared(r.flow) {
					t.Errorf("flow %d: datagram %d on queue %d after the reply, datagram 0 on queue %d", r.flow, r.seq, r.queue, first[r.flow])
				}
			}
			closeReaders(t, tp, errs, queues)
		})
	}
}
