package scenario

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/vxswitch/vxswitch/internal/daemon"
	"github.com/vxswitch/vxswitch/internal/nstest"
	"github.com/vxswitch/vxswitch/internal/vxtest"
)

// numHosts is how many hosts every scenario builds: enough that "only to
// h2" and "not to h3" can be told apart.
const numHosts = 3

// spec describes a topology: networks every host joins, flooding to every
// other host, and containers placed on hosts.
type spec struct {
	networks   []network
	containers []ctr
}

// network is one overlay network.
type network struct {
	name string
	vni  uint32
	// extra are YAML lines added to the network's entry, e.g. "ageing: 2s".
	extra []string
	// staticNeighbors lists every container of the network in its
	// neighbor table, so the ARP proxy can answer for all of them.
	staticNeighbors bool
}

// ctr is one container: a namespace with one TAP port, eth1.
type ctr struct {
	name    string
	host    int // 1-based
	network string
	ip      string // IPv4 address in a /24; the MAC is derived from it
	// mtu is the port's MTU in the YAML; 0 leaves the default (1450).
	mtu int
}

// cluster is a built topology: hosts on one wire, containers on hosts, a
// vxswitch per host.
type cluster struct {
	pre   string // this run's prefix of every namespace name
	wire  *nstest.Wire
	hosts []*host
	ctrs  map[string]*container
}

// host is one machine: a namespace on the wire running a vxswitch.
type host struct {
	name string // h1, h2, ...
	ns   *nstest.NS
	addr netip.Addr
	yaml string
	d    *daemon.Daemon
}

// container is a namespace whose eth1 is a TAP port of its host's vxswitch.
type container struct {
	name    string
	ns      *nstest.NS
	host    *host
	network string
	port    string // the port's name in the YAML
	mac     net.HardwareAddr
	ip      netip.Addr
	mtu     int
}

// hostAddr is host i's underlay address (1-based).
func hostAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}) }

// macFor derives a container's fixed MAC from its IPv4 address, so the
// same address in two networks gets the same MAC too.
func macFor(ip netip.Addr) net.HardwareAddr {
	b := ip.As4()
	return net.HardwareAddr{0x02, 0x00, b[0], b[1], b[2], b[3]}
}

// newCluster builds s: a wire, numHosts hosts on it, the containers, and a
// vxswitch on every host. Everything is deleted when the test ends. IPv6 is
// off in every namespace so the kernel adds no frames of its own to the
// counters the scenarios assert on.
func newCluster(t *testing.T, s spec) *cluster {
	t.Helper()
	nstest.RequireRoot(t)
	c := &cluster{pre: nstest.Prefix(), ctrs: map[string]*container{}}
	c.wire = nstest.NewWire(t, c.pre+"-wire")
	c.wire.NS.QuietIPv6(t)
	for i := 1; i <= numHosts; i++ {
		h := &host{name: fmt.Sprintf("h%d", i), addr: hostAddr(i)}
		h.ns = nstest.New(t, c.pre+"-"+h.name)
		h.ns.QuietIPv6(t)
		c.wire.Attach(t, h.ns, "u0", netip.PrefixFrom(h.addr, 24))
		c.hosts = append(c.hosts, h)
	}
	for _, cs := range s.containers {
		ip := netip.MustParseAddr(cs.ip)
		ct := &container{
			name: cs.name, host: c.hosts[cs.host-1], network: cs.network,
			port: cs.name + "-eth1", mac: macFor(ip), ip: ip, mtu: cs.mtu,
		}
		ct.ns = nstest.New(t, c.pre+"-"+cs.name)
		ct.ns.QuietIPv6(t)
		c.ctrs[cs.name] = ct
	}
	for _, h := range c.hosts {
		h.yaml = c.hostYAML(h, s)
		h.start(t)
	}
	// Runs after the test's own cleanups, before the switches close.
	t.Cleanup(func() { c.checkInvariants(t) })
	return c
}

// neverDropped are drop reasons no scenario provokes: each would mean
// corrupt or misaddressed underlay traffic, or a failing underlay.
var neverDropped = []string{
	"vxlan_runt", "vxlan_no_i_flag", "vxlan_reserved_bits", "unknown_vni",
	"unknown_peer", "runt", "bad_src_mac", "underlay_tx_error",
}

// checkInvariants checks what must hold on every host whatever the
// scenario: every frame a network received ended in exactly one counted
// outcome, no datagram missed every network, nothing failed to send to the
// underlay, and no reason in neverDropped was counted.
func (c *cluster) checkInvariants(t *testing.T) {
	t.Helper()
	for _, h := range c.hosts {
		h.settled()
		nets, unmatched := h.d.Switch.Stats()
		if unmatched.Received != 0 {
			t.Errorf("%s: %d datagrams matched no network: %+v", h.name, unmatched.Received, unmatched)
		}
		for _, n := range nets {
			s := n.Stats
			if out := s.Forwarded + s.Flooded + s.Proxied + s.Dropped(); out != s.Received {
				t.Errorf("%s: network %s received %d frames but counted %d outcomes: %+v", h.name, n.Name, s.Received, out, s)
			}
			for _, r := range neverDropped {
				if s.Drops[r] != 0 {
					t.Errorf("%s: network %s dropped %d frames as %s", h.name, n.Name, s.Drops[r], r)
				}
			}
		}
		for _, p := range h.d.Switch.Peers() {
			if p.IO.TxErrors != 0 {
				t.Errorf("%s: %d sends to %s failed", h.name, p.IO.TxErrors, p.Addr)
			}
		}
	}
}

// hostYAML is h's configuration: every network, flooding to every other
// host, and the ports of the containers on h.
func (c *cluster) hostYAML(h *host, s spec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "underlay: {local: %s, port: 4789, mtu: 1500}\nnetworks:\n", h.addr)
	for _, n := range s.networks {
		var flood []string
		for _, o := range c.hosts {
			if o != h {
				flood = append(flood, o.addr.String())
			}
		}
		fmt.Fprintf(&b, "  - name: %s\n    vni: %d\n    flood: [%s]\n", n.name, n.vni, strings.Join(flood, ", "))
		for _, line := range n.extra {
			fmt.Fprintf(&b, "    %s\n", line)
		}
		if n.staticNeighbors {
			b.WriteString("    neighbors:\n")
			for _, cs := range s.containers {
				if ct := c.ctrs[cs.name]; ct.network == n.name {
					fmt.Fprintf(&b, "      - {ip: %s, mac: %q}\n", ct.ip, ct.mac)
				}
			}
		}
	}
	var ports []string
	for _, cs := range s.containers {
		ct := c.ctrs[cs.name]
		if ct.host != h {
			continue
		}
		p := fmt.Sprintf("  - {name: %s, network: %s, netns: %s, ifname: eth1, mac: %q, addresses: [%s/24]",
			ct.port, ct.network, ct.ns.Path, ct.mac, ct.ip)
		if ct.mtu != 0 {
			p += fmt.Sprintf(", mtu: %d", ct.mtu)
		}
		ports = append(ports, p+"}\n")
	}
	if len(ports) > 0 {
		b.WriteString("ports:\n" + strings.Join(ports, ""))
	}
	return b.String()
}

// start runs h's vxswitch with h.yaml; it is closed when the test ends.
func (h *host) start(t *testing.T) {
	t.Helper()
	h.d = vxtest.Start(t, h.ns, h.name, h.yaml)
}

func (c *cluster) host(i int) *host           { return c.hosts[i-1] }
func (c *cluster) ctr(name string) *container { return c.ctrs[name] }
