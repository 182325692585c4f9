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
//
// A TAP has one queue, or with Config.Queues several: one tun file each.
// The kernel puts each frame the container sends on one of them, all frames
// of one flow on the same one; Read reads the first, and Readers returns a
// reader for each. Writes go through the queue txQueue picks for the frame.
type TAP struct {
	file   *os.File // queues[0].file
	queues []*queue
	// flowQueue, with several queues, holds for each flow hash slot the
	// queue (plus one) its frames were last read from; see txQueue.
	flowQueue []atomic.Uint32
	closed    atomic.Bool
	// vnet is set when the TAP carries virtio headers (offloads on); it
	// holds the writers' state, each queue its reader's.
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
// so it vanishes, and the error names the step. With cfg.Queues > 1 every
// queue is attached before the move: TUNSETIFF finds the link by name in
// the namespace the tun file was opened in, ours.
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

	t := &TAP{ifName: cfg.IfName, netns: cfg.Netns, mac: mac, mtu: cfg.MTU}
	tmp, err := t.create(&cfg)
	if err != nil {
		return nil, err
	}
	if err := t.configure(h, ns, tmp, &cfg); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// create creates the TAP in our namespace under a temporary name, which it
// returns, and sets t's queues, vnet state and mode. It tries virtio
// headers and offloads first if cfg.Offload asks for them, then plain; each
// with cfg.Queues queues and, if the kernel refuses multi-queue or a
// further queue, then with one. Each try uses a fresh name. Open fails only
// when not even a plain TAP with one queue can be created.
func (t *TAP) create(cfg *Config) (string, error) {
	n := max(cfg.Queues, 1)
	var mqErr error // why the kernel refused n queues
	// try opens n queues, or one if the kernel refuses n.
	try := func(vnet bool) (string, []*os.File, error) {
		tmp := newTempName()
		files, err := openTun(tmp, n, vnet)
		if err == nil || n == 1 {
			return tmp, files, err
		}
		tmp = newTempName()
		files, err1 := openTun(tmp, 1, vnet)
		if err1 == nil {
			mqErr = err
		}
		return tmp, files, err1
	}
	var tmp string
	var files []*os.File
	t.mode = "plain"
	if cfg.Offload {
		var err error
		if tmp, files, err = try(true); err == nil {
			t.vnet = newVnetState()
			t.mode = "vnet_hdr (tso4, tso6, csum)"
			if cfg.USO {
				if err := askUSO(files[0]); err == nil {
					t.vnet.uso = true
					t.mode = "vnet_hdr (tso4, tso6, uso, csum)"
				} else {
					t.mode = "vnet_hdr (tso4, tso6, csum; uso refused: " + err.Error() + ")"
				}
			}
		} else {
			t.mode = "plain (offloads refused: " + err.Error() + ")"
		}
	}
	if files == nil {
		var err error
		if tmp, files, err = try(false); err != nil {
			return "", cfg.errorf(err, "create tap %s", tmp)
		}
	}
	t.queues = make([]*queue, len(files))
	if len(files) > 1 {
		t.flowQueue = make([]atomic.Uint32, flowSlots)
	}
	for i, f := range files {
		q := &queue{t: t, file: f, index: uint32(i), readOp: "read"}
		if i > 0 {
			q.readOp = fmt.Sprintf("read queue %d", i+1)
		}
		raw, err := f.SyscallConn()
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return "", cfg.errorf(err, "create tap %s", tmp)
		}
		q.raw, q.tryRead, q.writeFn = raw, q.tryReadFn, q.writeOnce
		if t.vnet != nil {
			q.rbuf = make([]byte, vnetHdrLen+65536)
		}
		t.queues[i] = q
	}
	t.file = files[0]
	if len(files) == 1 {
		t.mode += ", 1 queue"
	} else {
		t.mode += fmt.Sprintf(", %d queues", len(files))
	}
	if mqErr != nil {
		t.mode += " (multi-queue refused: " + mqErr.Error() + ")"
	}
	return tmp, nil
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
	if cfg.TxQueueLen != 0 {
		if err := h.LinkSetTxQLen(link, cfg.TxQueueLen); err != nil {
			return cfg.errorf(err, "set txqueuelen %d", cfg.TxQueueLen)
		}
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
// unless it fails. It reads the first queue: it and Readers()[0] are the
// same reader.
func (t *TAP) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	return t.queues[0].Read(bufs, sizes, offset)
}

// Readers returns one Reader per queue, the first being Read's. Each has
// its own read state and buffers; run one goroutine per Reader. Together
// they see every frame the container sends, each once. The kernel puts the
// frames of one flow on one queue, so they come from one Reader, in order;
// a flow moves to another queue only when the tun driver learns from
// Write that the flow belongs there (see txQueue).
func (t *TAP) Readers() []Reader {
	r := make([]Reader, len(t.queues))
	for i, q := range t.queues {
		r[i] = q
	}
	return r
}

// Queues returns how many queues the TAP has: Config.Queues, or 1 if that
// was 0 or the kernel refused more.
func (t *TAP) Queues() int { return len(t.queues) }

// Write writes one frame, through the queue txQueue picks for its flow.
// Safe for concurrent use: each write(2) on a queue is one frame.
func (t *TAP) Write(frame []byte) (int, error) {
	q := t.txQueue(frame)
	if t.vnet != nil {
		return t.writeVnet(q, frame)
	}
	n, err := q.writePlain(frame)
	if err != nil {
		return n, t.ioError("write", err)
	}
	return n, nil
}

// ioError maps err from a tun file to ErrClosed, an error wrapping ErrGone,
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

// Close closes every queue's tun file, which deletes the link once the
// last is closed, and makes each blocked Read return ErrClosed. Only the
// first call does anything.
func (t *TAP) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	var errs []error
	for _, q := range t.queues {
		if err := q.file.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
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

// Mode says whether the TAP uses offloads and how many queues it has, and
// why not what Config asked for, for the start-up log line; for example
// "vnet_hdr (tso4, tso6, csum), 4 queues" or "plain, 1 queue".
func (t *TAP) Mode() string { return t.mode }

// BatchSize is how many buffers Read, or a Reader's Read, can fill at
// once: one in plain mode, enough for the segments of a 64 KiB super-frame
// with offloads.
func (t *TAP) BatchSize() int {
	if t.vnet != nil {
		return 64
	}
	return 1
}

// Coalesced returns how many merged super-frames WriteCoalesce has written
// and how many segments they held; zero without offloads.
func (t *TAP) Coalesced() (writes, segments uint64) {
	if t.vnet == nil {
		return 0, 0
	}
	return t.vnet.gsoWrites.Load(), t.vnet.gsoSegs.Load()
}

// BadOffload counts super-frames dropped because their offload header did
// not match their bytes.
func (t *TAP) BadOffload() uint64 { return t.badOffload.Load() }

// Netns returns the path of the interface's namespace.
func (t *TAP) Netns() string { return t.netns }
