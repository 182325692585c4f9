package tap

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vxswitch/vxswitch/internal/nstest"
)

var (
	addr4 = netip.MustParsePrefix("10.99.0.1/24")
	addr6 = netip.MustParsePrefix("2001:db8:99::1/64")
)

// open opens a TAP and closes it when the test ends.
func open(t *testing.T, cfg Config) *TAP {
	t.Helper()
	tp, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { tp.Close() })
	return tp
}

func testConfig(path string) Config {
	return Config{
		Name:      "web",
		Netns:     path,
		IfName:    "eth1",
		MTU:       1450,
		Addresses: []netip.Prefix{addr4, addr6},
	}
}

// readUntil reads frames until match accepts one, failing the test after
// timeout. Frames the kernel sends on its own (router solicitations, MLD
// reports) are skipped.
func readUntil(t *testing.T, tp *TAP, timeout time.Duration, match func([]byte) bool) {
	t.Helper()
	if err := tp.file.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		t.Fatalf("set read deadline: %v", err)
	}
	defer tp.file.SetReadDeadline(time.Time{})
	const offset = 64
	bufs, sizes := [][]byte{make([]byte, offset+1518)}, []int{0}
	for {
		n, err := tp.Read(bufs, sizes, offset)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if n != 1 {
			t.Fatalf("Read = %d frames, want 1", n)
		}
		if match(bufs[0][offset : offset+sizes[0]]) {
			return
		}
	}
}

// readAsync starts a Read that blocks and reports its error.
func readAsync(tp *TAP) <-chan error {
	ch := make(chan error, 1)
	go func() {
		bufs, sizes := [][]byte{make([]byte, 2048)}, []int{0}
		for {
			if _, err := tp.Read(bufs, sizes, 0); err != nil {
				ch <- err
				return
			}
		}
	}()
	return ch
}

func addrList(t *testing.T, h *netlink.Handle, link netlink.Link) []netlink.Addr {
	t.Helper()
	var addrs []netlink.Addr
	var err error
	for range 5 {
		if addrs, err = h.AddrList(link, netlink.FAMILY_ALL); !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		t.Fatalf("list addresses: %v", err)
	}
	return addrs
}

func TestIntegrationOpenConfigures(t *testing.T) {
	requireRoot(t)
	path := newNetns(t)
	cfg := testConfig(path)
	cfg.MAC = net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}
	cfg.TxQueueLen = 4096
	tp := open(t, cfg)

	if tp.IfName() != "eth1" || tp.Netns() != path || tp.MTU() != 1450 || tp.MAC().String() != cfg.MAC.String() {
		t.Errorf("accessors = %s %s %d %s, want eth1 %s 1450 %s", tp.IfName(), tp.Netns(), tp.MTU(), tp.MAC(), path, cfg.MAC)
	}

	h := nlHandle(t, path)
	link, err := h.LinkByName("eth1")
	if err != nil {
		t.Fatalf("eth1 not in the namespace: %v", err)
	}
	a := link.Attrs()
	if link.Type() != "tuntap" {
		t.Errorf("link type = %s, want tuntap", link.Type())
	}
	if a.HardwareAddr.String() != cfg.MAC.String() {
		t.Errorf("MAC = %s, want %s", a.HardwareAddr, cfg.MAC)
	}
	if a.MTU != 1450 {
		t.Errorf("MTU = %d, want 1450", a.MTU)
	}
	if a.TxQLen != 4096 {
		t.Errorf("txqueuelen = %d, want 4096", a.TxQLen)
	}
	if a.Flags&net.FlagUp == 0 {
		t.Errorf("flags = %v, want up", a.Flags)
	}
	// A TAP has carrier while its file is open. Its operstate stays
	// "unknown": the tun driver never reports one, as `ip link` shows.
	if a.RawFlags&unix.IFF_LOWER_UP == 0 {
		t.Errorf("flags %#x: no LOWER_UP (carrier)", a.RawFlags)
	}
	if a.OperState != netlink.OperUp && a.OperState != netlink.OperUnknown {
		t.Errorf("operstate = %v, want up or unknown", a.OperState)
	}

	var got []netip.Prefix
	for _, ad := range addrList(t, h, link) {
		ip, _ := netip.AddrFromSlice(ad.IP)
		ones, _ := ad.Mask.Size()
		p := netip.PrefixFrom(ip.Unmap(), ones)
		if p.Addr().IsLinkLocalUnicast() {
			continue // the kernel's own fe80:: address
		}
		got = append(got, p)
		if p.Addr().Is6() && ad.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) != 0 {
			t.Errorf("%s flags %#x: still tentative, want usable at once (NODAD)", p, ad.Flags)
		}
	}
	slices.SortFunc(got, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	if diff := cmp.Diff([]string{addr4.String(), addr6.String()}, prefixStrings(got)); diff != "" {
		t.Errorf("addresses (-want +got):\n%s", diff)
	}

	// The link lives only in the container's namespace.
	root, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range root {
		if l.Attrs().HardwareAddr.String() == cfg.MAC.String() {
			t.Errorf("root namespace has link %s with the TAP's MAC", l.Attrs().Name)
		}
	}
}

func prefixStrings(ps []netip.Prefix) []string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return s
}

func TestIntegrationRandomMAC(t *testing.T) {
	requireRoot(t)
	path := newNetns(t)
	cfg := testConfig(path)
	cfg.MTU = 0 // kernel default
	tp := open(t, cfg)
	if !isLocalUnicast(tp.MAC()) {
		t.Errorf("MAC %s: want locally administered unicast", tp.MAC())
	}
	if tp.MTU() != 1500 {
		t.Errorf("MTU() = %d, want the default 1500", tp.MTU())
	}
	link, err := nlHandle(t, path).LinkByName("eth1")
	if err != nil {
		t.Fatal(err)
	}
	if got := link.Attrs().HardwareAddr.String(); got != tp.MAC().String() {
		t.Errorf("link MAC = %s, MAC() = %s", got, tp.MAC())
	}
	if got := link.Attrs().TxQLen; got != 1000 {
		t.Errorf("txqueuelen = %d, want the kernel's default 1000 (TxQueueLen 0)", got)
	}
}

// TestIntegrationFrames has the kernel in the namespace answer neighbor
// solicitations and ARP requests written into the TAP: frames pass both ways,
// and the IPv6 address answers as soon as Open returns.
func TestIntegrationFrames(t *testing.T) {
	requireRoot(t)
	for _, offload := range []bool{false, true} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) { testFrames(t, offload) })
	}
}

func testFrames(t *testing.T, offload bool) {
	cfg := testConfig(newNetns(t))
	cfg.Offload = offload
	tp := open(t, cfg)
	if got := strings.HasPrefix(tp.Mode(), "vnet_hdr"); got != offload {
		t.Fatalf("Mode() = %q with Offload %v", tp.Mode(), offload)
	}
	if want := map[bool]int{false: 1, true: 64}[offload]; tp.BatchSize() != want {
		t.Errorf("BatchSize() = %d, want %d", tp.BatchSize(), want)
	}

	// ND first, straight after Open: the kernel joins the address's
	// solicited-node group asynchronously, and before Open waited for that,
	// about half of these solicitations went unanswered.
	t.Run("ND", func(t *testing.T) {
		ns, err := neighborSolicitation(addr6.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tp.Write(ns); err != nil {
			t.Fatalf("Write: %v", err)
		}
		readUntil(t, tp, 5*time.Second, func(f []byte) bool { return isNeighborAdvertisement(f, addr6.Addr(), tp.MAC()) })
	})
	t.Run("ARP", func(t *testing.T) {
		if _, err := tp.Write(arpRequest(addr4.Addr())); err != nil {
			t.Fatalf("Write: %v", err)
		}
		readUntil(t, tp, 5*time.Second, func(f []byte) bool { return isARPReply(f, addr4.Addr(), tp.MAC()) })
	})
}

func TestIntegrationReadWriteAllocs(t *testing.T) {
	requireRoot(t)
	for _, offload := range []bool{false, true} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) { testReadWriteAllocs(t, offload) })
	}
}

func testReadWriteAllocs(t *testing.T, offload bool) {
	cfg := testConfig(newNetns(t))
	cfg.Offload = offload
	tp := open(t, cfg)
	req := arpRequest(addr4.Addr())
	const offset = 64
	bufs, sizes := [][]byte{make([]byte, offset+1518)}, []int{0}
	mac := tp.MAC()
	var err error
	allocs := testing.AllocsPerRun(100, func() {
		if _, err = tp.Write(req); err != nil {
			return
		}
		for {
			if _, err = tp.Read(bufs, sizes, offset); err != nil {
				return
			}
			if isARPReply(bufs[0][offset:offset+sizes[0]], addr4.Addr(), mac) {
				return
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Write + Read: %v allocs per run", allocs)
	if allocs != 0 {
		t.Errorf("Write + Read: %v allocs per run, want 0", allocs)
	}
}

func TestIntegrationClose(t *testing.T) {
	requireRoot(t)
	path := newNetns(t)
	tp := open(t, testConfig(path))
	h := nlHandle(t, path)
	if _, err := h.LinkByName("eth1"); err != nil {
		t.Fatal(err)
	}

	read := readAsync(tp)
	time.Sleep(50 * time.Millisecond) // let the Read block
	if err := tp.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-read:
		if err != ErrClosed {
			t.Errorf("blocked Read = %v, want ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
	if !nstest.Poll(2*time.Second, func() bool { _, err := h.LinkByName("eth1"); return err != nil }) {
		t.Error("eth1 still in the namespace after Close")
	}
	if err := tp.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if _, err := tp.Write(arpRequest(addr4.Addr())); err != ErrClosed {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
	if _, err := tp.Read([][]byte{make([]byte, 100)}, []int{0}, 0); err != ErrClosed {
		t.Errorf("Read after Close = %v, want ErrClosed", err)
	}
}

// TestIntegrationGone deletes the TAP out from under a blocked Read in the
// ways a container can: its namespace dies, or it deletes the link.
func TestIntegrationGone(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name string
		kill func(t *testing.T, path string) // path names the namespace
	}{
		{name: "named netns deleted", kill: func(t *testing.T, path string) {
			if err := netns.DeleteNamed(filepath.Base(path)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "link deleted", kill: func(t *testing.T, path string) {
			h := nlHandle(t, path)
			l, err := h.LinkByName("eth1")
			if err != nil {
				t.Fatal(err)
			}
			if err := h.LinkDel(l); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := newNetns(t)
			tp := open(t, testConfig(path))
			read := readAsync(tp)
			time.Sleep(50 * time.Millisecond)
			start := time.Now()
			tt.kill(t, path)
			checkGone(t, tp, read, start)
		})
	}
}

func checkGone(t *testing.T, tp *TAP, read <-chan error, start time.Time) {
	t.Helper()
	select {
	case err := <-read:
		t.Logf("Read returned after %v: %v", time.Since(start).Round(time.Millisecond), err)
		if !errors.Is(err, ErrGone) || !errors.Is(err, syscall.EBADFD) {
			t.Errorf("Read = %v, want an error wrapping ErrGone and EBADFD", err)
		}
		if !strings.Contains(err.Error(), `"eth1"`) {
			t.Errorf("Read error %q does not name the interface", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read still blocked 10s after the TAP was deleted")
	}
	if _, err := tp.Write(arpRequest(addr4.Addr())); !errors.Is(err, ErrGone) {
		t.Errorf("Write = %v, want an error wrapping ErrGone", err)
	}
	if err := tp.Close(); err != nil {
		t.Errorf("Close after gone = %v", err)
	}
}

// TestIntegrationPidNetns opens a TAP in a namespace known only by a
// process's /proc/PID/ns/net, as for a container, then kills the process.
func TestIntegrationPidNetns(t *testing.T) {
	requireRoot(t)
	cmd := startInNewNetns(t)
	cfg := testConfig("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/ns/net")
	tp := open(t, cfg)

	h := nlHandle(t, cfg.Netns)
	if _, err := h.LinkByName("eth1"); err != nil {
		t.Fatalf("eth1 not in the process's namespace: %v", err)
	}
	h.Close() // its socket would keep the namespace alive

	if _, err := tp.Write(arpRequest(addr4.Addr())); err != nil {
		t.Fatalf("Write: %v", err)
	}
	readUntil(t, tp, 5*time.Second, func(f []byte) bool { return isARPReply(f, addr4.Addr(), tp.MAC()) })

	read := readAsync(tp)
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	cmd.Process.Kill()
	cmd.Wait()
	checkGone(t, tp, read, start)
}

// TestIntegrationLinkDown checks that a link the container set down is not
// mistaken for a dead one: writes fail with EIO, not ErrGone.
func TestIntegrationLinkDown(t *testing.T) {
	requireRoot(t)
	path := newNetns(t)
	tp := open(t, testConfig(path))
	h := nlHandle(t, path)
	link, err := h.LinkByName("eth1")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetDown(link); err != nil {
		t.Fatal(err)
	}
	_, err = tp.Write(arpRequest(addr4.Addr()))
	t.Logf("Write on a down link: %v", err)
	if errors.Is(err, ErrGone) || errors.Is(err, ErrClosed) {
		t.Errorf("Write on a down link = %v, want a per-frame error", err)
	}
	if err := h.LinkSetUp(link); err != nil {
		t.Fatal(err)
	}
	// IPv4 addresses survive down and up, so the kernel answers ARP again.
	if _, err := tp.Write(arpRequest(addr4.Addr())); err != nil {
		t.Fatalf("Write after up: %v", err)
	}
	readUntil(t, tp, 5*time.Second, func(f []byte) bool { return isARPReply(f, addr4.Addr(), tp.MAC()) })
}

// TestIntegrationOpenFails checks that a failed Open names the port and the
// step and leaves no TAP behind in either namespace.
func TestIntegrationOpenFails(t *testing.T) {
	requireRoot(t)
	var temps []string
	orig := newTempName
	newTempName = func() string { n := orig(); temps = append(temps, n); return n }
	t.Cleanup(func() { newTempName = orig })

	tests := []struct {
		name    string
		setup   func(t *testing.T, path string) // before Open
		modify  func(c *Config)
		wantErr string
		wantIs  error
	}{
		{name: "no such netns", modify: func(c *Config) { c.Netns = "/run/netns/vxst-does-not-exist" },
			wantErr: "open netns", wantIs: os.ErrNotExist},
		{name: "ifname taken", setup: func(t *testing.T, path string) {
			open(t, Config{Netns: path, IfName: "eth1"})
		}, wantErr: "rename vxs", wantIs: syscall.EEXIST},
		{name: "mtu too large", modify: func(c *Config) { c.MTU = 70000 }, wantErr: "set mtu 70000", wantIs: syscall.EINVAL},
		{name: "mtu too small", modify: func(c *Config) { c.MTU = 10 }, wantErr: "set mtu 10", wantIs: syscall.EINVAL},
		{name: "duplicate address", modify: func(c *Config) { c.Addresses = []netip.Prefix{addr4, addr4} },
			wantErr: "add address " + addr4.String(), wantIs: syscall.EEXIST},
		{name: "invalid config", modify: func(c *Config) { c.IfName = "much-too-long-name" }, wantErr: "invalid config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := newNetns(t)
			if tt.setup != nil {
				tt.setup(t, path)
			}
			h := nlHandle(t, path)
			before := linkNames(t, h)
			cfg := testConfig(path)
			if tt.modify != nil {
				tt.modify(&cfg)
			}
			temps = nil

			tp, err := Open(cfg)
			if err == nil {
				tp.Close()
				t.Fatal("Open succeeded, want an error")
			}
			t.Logf("Open: %v", err)
			wantPrefix := `open tap "` + cfg.IfName + `" (port "web") in netns ` + cfg.Netns + ": "
			if !strings.HasPrefix(err.Error(), wantPrefix) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q, want prefix %q and %q", err, wantPrefix, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q does not wrap %v", err, tt.wantIs)
			}

			if diff := cmp.Diff(before, linkNames(t, h)); diff != "" {
				t.Errorf("links in the namespace changed (-before +after):\n%s", diff)
			}
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

// TestIntegrationConcurrentWrite writes from several goroutines at once, as
// the switch does from its per-VNI and underlay goroutines; every request is
// one frame, so the kernel answers each.
func TestIntegrationConcurrentWrite(t *testing.T) {
	requireRoot(t)
	tp := open(t, testConfig(newNetns(t)))
	const writers, each = 4, 50
	req := arpRequest(addr4.Addr())
	errs := make(chan error, writers)
	for range writers {
		go func() {
			for range each {
				if _, err := tp.Write(req); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	replies := 0
	readUntil(t, tp, 5*time.Second, func(f []byte) bool {
		if isARPReply(f, addr4.Addr(), tp.MAC()) {
			replies++
		}
		return replies == writers*each
	})
}

// TestIntegrationTxQueueLenHoldsBurst: a burst the container sends while
// nobody reads the TAP is kept whole up to TxQueueLen frames; with the
// kernel's default of 1000 the same burst loses frames.
func TestIntegrationTxQueueLenHoldsBurst(t *testing.T) {
	requireRoot(t)
	const burst = 3000
	for _, qlen := range []int{0, 4096} {
		t.Run(fmt.Sprintf("txqueuelen %d", qlen), func(t *testing.T) {
			ns, tp := openWithPeer(t, Config{Queues: 1, TxQueueLen: qlen})
			dst := netip.AddrPortFrom(mqPeer4, 9)
			err := ns.Do(func() error {
				c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
				if err != nil {
					return err
				}
				defer c.Close()
				for i := range burst {
					if _, err := c.Write(make([]byte, 64)); err != nil {
						return fmt.Errorf("datagram %d: %w", i, err)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("send the burst: %v", err)
			}
			got := 0
			bufs, sizes := [][]byte{make([]byte, 2048)}, []int{0}
			for {
				tp.file.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				if _, err := tp.Read(bufs, sizes, 0); err != nil {
					if !errors.Is(err, os.ErrDeadlineExceeded) {
						t.Fatalf("Read: %v", err)
					}
					break
				}
				// UDP to port 9: one of the burst (not the kernel's own
				// router solicitations and reports).
				p := gopacket.NewPacket(bufs[0][:sizes[0]], layers.LayerTypeEthernet, gopacket.Default)
				if udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP); udp != nil && uint16(udp.DstPort) == dst.Port() {
					got++
				}
			}
			t.Logf("%d of %d frames read", got, burst)
			switch {
			case qlen == 0 && got >= burst:
				t.Errorf("the kernel's default queue held all %d frames: the burst tests nothing", burst)
			case qlen != 0 && got != burst:
				t.Errorf("read %d of %d frames, want all: the queue holds %d", got, burst, qlen)
			}
		})
	}
}
