package tap

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vxswitch/vxswitch/internal/syscalltest"
)

// TestIntegrationFramePathSkipsRuntimeEntry: the frame path's reads
// (waiting in the poller, then what else is queued), writes, merged writes
// and the yield after them, and the segments of a TCP super-frame written
// one by one to a plain TAP, enter the kernel without the runtime's
// system-call entry, which wakes the runtime's monitor thread after every
// idle spell. Closing the TAP goes through that entry and shows that the
// check sees it.
func TestIntegrationFramePathSkipsRuntimeEntry(t *testing.T) {
	t.Run("offload", func(t *testing.T) {
		tp, do := openUSO(t)
		checkFramePath(t, tp, do)
		if w, _ := tp.Coalesced(); w == 0 {
			t.Error("no merged write while traced")
		}
	})
	t.Run("plain", func(t *testing.T) {
		requireRoot(t)
		ns, tp := openWithPeer(t, Config{Queues: 1})
		checkFramePath(t, tp, ns.Do)
	})
}

func checkFramePath(t *testing.T, tp *TAP, do func(func() error) error) {
	const pkg = "github.com/vxswitch/vxswitch/tap"
	c := listenIn(t, do, mqAddr4.Addr())
	dst := c.LocalAddr().(*net.UDPAddr).AddrPort()
	peer := netip.AddrPortFrom(mqPeer4, mqPeerPort)
	const n = 4
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = peerDatagram(t, tp, dst, uint16(i), payloadN(i, 64))
	}
	single := peerDatagram(t, tp, dst, n, payloadN(n, 64))
	super := tcpSegment(t, tp, 40000, 1000, 5000, 3000) // to a closed port: the container answers with a reset
	bufs, sizes := bufsOf(64)
	var werr, serr, rerr error
	var read int
	got := syscalltest.Entered(t, pkg, func() {
		for _, f := range frames {
			if _, err := tp.WriteCoalesce(f); err != nil {
				werr = err
			}
		}
		if err := tp.Flush(); err != nil {
			werr = err
		}
		if _, err := tp.Write(single); err != nil {
			werr = err
		}
		if ok, err := tp.WriteTCPSuper(super); !ok || err != nil {
			werr = fmt.Errorf("WriteTCPSuper = %v, %v", ok, err)
		}
		go func() { // once Read waits in the poller
			time.Sleep(20 * time.Millisecond)
			for i := 0; i < n; i++ {
				if _, err := c.WriteToUDPAddrPort(payloadN(i, 64), peer); err != nil {
					serr = err
				}
			}
		}()
		deadline := time.Now().Add(5 * time.Second)
		tp.file.SetReadDeadline(deadline)
		for read < n && rerr == nil {
			var k int
			k, rerr = tp.Read(bufs, sizes, 0)
			for i := range k {
				p := gopacket.NewPacket(bufs[i][:sizes[i]], layers.LayerTypeEthernet, gopacket.Default)
				if udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP); udp != nil && udp.DstPort == mqPeerPort {
					read++
				}
			}
		}
	})
	if werr != nil || serr != nil || rerr != nil {
		t.Fatalf("write: %v; container's send: %v; Read, after %d of %d datagrams: %v", werr, serr, read, n, rerr)
	}
	buf := make([]byte, 128)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := 0; i < n+1; i++ { // the written datagrams arrived
		if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
			t.Fatalf("container received %d of %d datagrams written: %v", i, n+1, err)
		}
	}
	if len(got) != 0 {
		t.Errorf("the frame path went into the kernel through the runtime's entry, %d calls:\n%s", len(got), strings.Join(got, "\n"))
	}
	if got := syscalltest.Entered(t, pkg, func() { tp.Close() }); len(got) == 0 {
		t.Error("control: Close's close(2) goes through the runtime, but the check did not see it")
	}
}
