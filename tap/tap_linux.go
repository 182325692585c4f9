package tap

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/songgao/water"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// TAP is a TAP device that Open created in this process's network namespace
// and moved into a container's namespace.
//
// The tun file pins the namespace it was opened in, not the one the link
// lives in, so a container's namespace can still die; the kernel then deletes
// the link and Read returns an error wrapping ErrGone. No goroutine runs in
// the container's namespace after Open returns.
type TAP struct {
	file   *os.File // the /dev/net/tun queue, non-blocking, in Go's poller
	closed atomic.Bool
	// vnet is set when the TAP carries virtio headers (offloads on).
	vnet       *vnetState
	badOffload atomic.Uint64
	// superMu guards the buffers a plain TAP segments super-frames into.
	superMu    sync.Mutex
	superBufs  [][]byte
	superSizes []int
	mode       string

	ifName string
	netns  string
	mac    net.HardwareAddr
	mtu    int
}

var _ Device = (*TAP)(nil)

// newTempName names the TAP while it is still in our own namespace, where
// cfg.IfName may be taken. A variable so tests can see which names were used.
var newTempName = func() string {
	var b [4]byte
	rand.Read(b[:])
	return "vxs" + hex.EncodeToString(b[:]) // 11 bytes, within IFNAMSIZ
}

// Open creates a TAP device in the caller's network namespace under a
// temporary name, moves it into the namespace at cfg.Netns and there renames
// it to cfg.IfName, sets its MAC, MTU and addresses and brings it up. It
// returns once the addresses answer. If any step fails the device is closed,
// so it vanishes, and the error names the step.
func Open(cfg Config) (*TAP, error) {
	if err := cfg.validate(); err != nil {
		return nil, cfg.errorf(err, "invalid config")
	}
	mac := cfg.MAC
	if mac == nil {
		mac = RandomMAC()
	}
	mac = append(net.HardwareAddr(nil), mac...) // the caller may reuse cfg.MAC

	ns, err := netns.GetFromPath(cfg.Netns)
	if err != nil {
		return nil, cfg.errorf(err, "open netns")
	}
	defer ns.Close()
	// The handle's socket is created inside the namespace (netlink locks an
	// OS thread and switches it there briefly); every request after that is
	// made from our own thread.
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, cfg.errorf(err, "netlink handle in netns")
	}
	defer h.Close()

	tmp := newTempName()
	t := &TAP{ifName: cfg.IfName, netns: cfg.Netns, mac: mac, mtu: cfg.MTU, mode: "plain"}
	if cfg.Offload {
		file, vnet, err := openVnet(tmp)
		if err == nil {
			t.file, t.vnet, t.mode = file, vnet, "vnet_hdr (tso4, tso6, csum)"
		} else {
			t.mode = "plain (offloads refused: " + err.Error() + ")"
		}
	}
	if t.file == nil {
		ifce, err := water.New(water.Config{
			DeviceType:             water.TAP,
			PlatformSpecificParams: water.PlatformSpecificParams{Name: tmp},
		})
		if err != nil {
			return nil, cfg.errorf(err, "create tap %s", tmp)
		}
		file, ok := ifce.ReadWriteCloser.(*os.File)
		if !ok {
			ifce.Close()
			return nil, cfg.errorf(errors.New("water did not return an *os.File"), "create tap %s", tmp)
		}
		t.file = file
	}
	if err := t.configure(h, ns, tmp, &cfg); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// configure moves the link named tmp into ns and sets it up there through h.
func (t *TAP) configure(h *netlink.Handle, ns netns.NsHandle, tmp string, cfg *Config) error {
	link, err := netlink.LinkByName(tmp)
	if err != nil {
		return cfg.errorf(err, "find tap %s", tmp)
	}
	if err := netlink.LinkSetNsFd(link, int(ns)); err != nil {
		return cfg.errorf(err, "move %s into netns", tmp)
	}
	// Look the link up again: its index may change on the move.
	if link, err = h.LinkByName(tmp); err != nil {
		return cfg.errorf(err, "find %s in netns", tmp)
	}
	// Rename before up: the kernel refuses to rename a running link.
	if err := h.LinkSetName(link, cfg.IfName); err != nil {
		return cfg.errorf(err, "rename %s to %s", tmp, cfg.IfName)
	}
	if err := h.LinkSetHardwareAddr(link, t.mac); err != nil {
		return cfg.errorf(err, "set mac %s", t.mac)
	}
	if cfg.MTU != 0 {
		if err := h.LinkSetMTU(link, cfg.MTU); err != nil {
			return cfg.errorf(err, "set mtu %d", cfg.MTU)
		}
	} else {
		t.mtu = link.Attrs().MTU
	}
	return bringUp(h, ns, link, cfg)
}

// bringUp adds cfg's addresses to link and sets it up, returning once its
// IPv6 addresses answer (see ipv6Watch).
func bringUp(h *netlink.Handle, ns netns.NsHandle, link netlink.Link, cfg *Config) error {
	var v6 []netip.Addr
	for _, p := range cfg.Addresses {
		if p.Addr().Is6() {
			v6 = append(v6, p.Addr())
		}
	}
	var watch *ipv6Watch
	if len(v6) > 0 {
		var err error
		if watch, err = watchIPv6Addrs(ns); err != nil {
			return cfg.errorf(err, "watch IPv6 addresses")
		}
		defer watch.Close()
	}
	for _, p := range cfg.Addresses {
		if err := h.AddrAdd(link, nlAddr(p)); err != nil {
			return cfg.errorf(err, "add address %s", p)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		return cfg.errorf(err, "set up")
	}
	if watch != nil {
		if err := watch.wait(link.Attrs().Index, v6, ipv6ReadyTimeout); err != nil {
			return cfg.errorf(err, "wait for IPv6 addresses %v", v6)
		}
	}
	return nil
}

// nlAddr converts p for netlink. IPv6 addresses get IFA_F_NODAD: the port is
// usable as soon as Open returns, and the switch, not DAD, owns duplicates.
func nlAddr(p netip.Prefix) *netlink.Addr {
	a := &netlink.Addr{IPNet: &net.IPNet{
		IP:   p.Addr().AsSlice(),
		Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
	}}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}

// Read reads one frame into bufs[0][offset:] in plain mode. With offloads
// one read may yield a TCP super-frame: Read then returns its segments, up
// to len(bufs) of them (give it BatchSize buffers). It allocates nothing
// unless it fails.
func (t *TAP) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	if t.vnet != nil {
		return t.readVnet(bufs, sizes, offset)
	}
	n, err := t.file.Read(bufs[0][offset:])
	if err != nil {
		return 0, t.ioError("read", err)
	}
	sizes[0] = n
	return 1, nil
}

// Write writes one frame. Concurrent Writes are serialised by the os.File.
func (t *TAP) Write(frame []byte) (int, error) {
	if t.vnet != nil {
		return t.writeVnet(frame)
	}
	n, err := t.file.Write(frame)
	if err != nil {
		return n, t.ioError("write", err)
	}
	return n, nil
}

// ioError maps err from the tun file to ErrClosed, an error wrapping ErrGone,
// or a plain wrapped error.
func (t *TAP) ioError(op string, err error) error {
	if t.closed.Load() || errors.Is(err, os.ErrClosed) {
		return ErrClosed
	}
	// The kernel detaches the file from a deleted link and answers EBADFD.
	// EIO is not a death: it means the link is down.
	if errors.Is(err, syscall.EBADFD) {
		return fmt.Errorf("%s tap %q in netns %s: %w: %w", op, t.ifName, t.netns, ErrGone, err)
	}
	return fmt.Errorf("%s tap %q in netns %s: %w", op, t.ifName, t.netns, err)
}

// Close closes the tun file, which deletes the link and makes a blocked Read
// return ErrClosed. Only the first call does anything.
func (t *TAP) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	if err := t.file.Close(); err != nil {
		return fmt.Errorf("close tap %q in netns %s: %w", t.ifName, t.netns, err)
	}
	return nil
}

// MAC returns a copy of the interface's Ethernet address.
func (t *TAP) MAC() net.HardwareAddr { return append(net.HardwareAddr(nil), t.mac...) }

// MTU returns the interface's MTU as configured by Open.
func (t *TAP) MTU() int { return t.mtu }

// IfName returns the interface's name inside its namespace.
func (t *TAP) IfName() string { return t.ifName }

// Mode says whether the TAP uses offloads, for the start-up log line.
func (t *TAP) Mode() string { return t.mode }

// BatchSize is how many buffers Read can fill at once: one in plain mode,
// enough for the segments of a 64 KiB super-frame with offloads.
func (t *TAP) BatchSize() int {
	if t.vnet != nil {
		return 64
	}
	return 1
}

// BadOffload counts super-frames dropped because their offload header did
// not match their bytes.
func (t *TAP) BadOffload() uint64 { return t.badOffload.Load() }

// Netns returns the path of the interface's namespace.
func (t *TAP) Netns() string { return t.netns }
