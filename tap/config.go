package tap

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Config describes one TAP port to open.
type Config struct {
	Name   string // port name, for errors and logs
	Netns  string // namespace path: /run/netns/NAME or /proc/PID/ns/net
	IfName string // interface name inside the namespace
	// MAC is the interface's address; nil means a random locally
	// administered unicast address (RandomMAC).
	MAC net.HardwareAddr
	// MTU is the interface MTU; 0 keeps the kernel default (1500).
	MTU int
	// Offload opens the TAP with virtio headers and asks for checksum and
	// TCP segmentation offload; where the kernel refuses, the TAP opens
	// plain and Mode says why.
	Offload bool
	// USO, with Offload, also asks for UDP segmentation offload (Linux
	// 6.2 and later), so that datagrams of one flow written together go
	// to the kernel as one write. Where the kernel refuses, the TAP keeps
	// its other offloads and Mode says why.
	USO bool
	// Addresses are added to the interface, IPv4 and IPv6 alike. IPv6
	// addresses skip duplicate address detection so they are usable at once.
	Addresses []netip.Prefix
	// Queues is how many queues the TAP has: 0 or 1 opens one, as without
	// the field; N > 1 creates it with IFF_MULTI_QUEUE and attaches N queue
	// files, each read by its own goroutine (see TAP.Readers). Where the
	// kernel refuses multi-queue or a further queue, the TAP opens with one
	// queue and Mode says why.
	Queues int
	// TxQueueLen is the interface's txqueuelen: how many frames each queue
	// holds for vxswitch to read. The kernel drops what the container sends
	// past it (a TAP has no backpressure), so it is the burst a container
	// can send while its reader waits for a CPU. 0 keeps the kernel's
	// default (1000); at most MaxTxQueueLen.
	TxQueueLen int
}

// MaxTxQueueLen bounds Config.TxQueueLen: the kernel gives each queue a
// ring of that many pointers.
const MaxTxQueueLen = 1 << 16

// MaxQueues is MAX_TAP_QUEUES in the kernel's drivers/net/tun.c: a
// multi-queue TAP has room for that many queues and no more.
const MaxQueues = 256

// ifNameSize is IFNAMSIZ from <net/if.h>; names hold at most 15 bytes.
const ifNameSize = 16

// validate rejects what the kernel would reject later, so that a bad config
// fails before any device exists.
func (c *Config) validate() error {
	if c.Netns == "" {
		return fmt.Errorf("no netns path")
	}
	if err := validIfName(c.IfName); err != nil {
		return err
	}
	if c.MAC != nil {
		if len(c.MAC) != 6 {
			return fmt.Errorf("mac %s: not a 6-byte Ethernet address", c.MAC)
		}
		if c.MAC[0]&1 != 0 {
			return fmt.Errorf("mac %s: multicast address", c.MAC)
		}
		if [6]byte(c.MAC) == [6]byte{} {
			return fmt.Errorf("mac %s: zero address", c.MAC)
		}
	}
	if c.MTU < 0 {
		return fmt.Errorf("mtu %d: negative", c.MTU)
	}
	if c.Queues < 0 || c.Queues > MaxQueues {
		return fmt.Errorf("queues %d: not between 0 and %d", c.Queues, MaxQueues)
	}
	if c.TxQueueLen < 0 || c.TxQueueLen > MaxTxQueueLen {
		return fmt.Errorf("txqueuelen %d: not between 0 and %d", c.TxQueueLen, MaxTxQueueLen)
	}
	for _, p := range c.Addresses {
		if !p.IsValid() {
			return fmt.Errorf("address %s: invalid prefix", p)
		}
		if p.Addr().Is4In6() {
			return fmt.Errorf("address %s: IPv4-mapped IPv6 address", p)
		}
	}
	return nil
}

// validIfName follows dev_valid_name in the kernel's net/core/dev.c.
func validIfName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("no ifname")
	case len(name) >= ifNameSize:
		return fmt.Errorf("ifname %q: longer than %d bytes", name, ifNameSize-1)
	case name == "." || name == "..":
		return fmt.Errorf("ifname %q: not a valid name", name)
	case strings.ContainsAny(name, "/: \t\n\v\f\r"):
		return fmt.Errorf("ifname %q: contains '/', ':' or whitespace", name)
	}
	return nil
}

// errorf wraps err with what Open was doing and for which port, e.g.
// `open tap "eth1" in netns /run/netns/c1: set mtu 1450: invalid argument`.
func (c *Config) errorf(err error, format string, args ...any) error {
	port := ""
	if c.Name != "" && c.Name != c.IfName {
		port = fmt.Sprintf(" (port %q)", c.Name)
	}
	return fmt.Errorf("open tap %q%s in netns %s: %s: %w", c.IfName, port, c.Netns, fmt.Sprintf(format, args...), err)
}
