package hostile

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/internal/daemon"
	"github.com/vxswitch/vxswitch/internal/nstest"
	"github.com/vxswitch/vxswitch/internal/vxtest"
	vswitch "github.com/vxswitch/vxswitch/switch"
)

// The lab's networks: blue and red, each with one container per host.
const (
	vniBlue = 100
	vniRed  = 200
	maxMACs = 1024
)

// ctr is a container: a namespace whose eth1 is a TAP port of its host's
// vxswitch.
type ctr struct {
	name    string
	ns      *nstest.NS
	network string
	ip      netip.Addr
	mac     net.HardwareAddr
}

// host is a namespace on the underlay wire running a vxswitch in-process.
type host struct {
	ns   *nstest.NS
	addr netip.Addr
	d    *daemon.Daemon
}

// lab is two hosts on one wire, h1 (192.0.2.1) and h2 (192.0.2.2), each
// running vxswitch with networks blue (VNI 100) and red (VNI 200), max_macs
// 1024 and every container in the neighbor tables; containers c1 (blue) and
// c3 (red) on h1, c2 (blue) and c4 (red) on h2; and x, a third namespace on
// the wire (192.0.2.66) that no vxswitch knows.
type lab struct {
	wire           *nstest.Wire
	h1, h2         *host
	x              *nstest.NS
	c1, c2, c3, c4 *ctr
}

func newLab(t *testing.T) *lab {
	t.Helper()
	nstest.RequireRoot(t)
	pre := nstest.Prefix()
	l := &lab{wire: nstest.NewWire(t, pre+"-w")}
	l.wire.NS.QuietIPv6(t)
	mkHost := func(name string, last byte) *host {
		h := &host{ns: nstest.New(t, pre+"-"+name), addr: netip.AddrFrom4([4]byte{192, 0, 2, last})}
		h.ns.QuietIPv6(t)
		l.wire.Attach(t, h.ns, "u0", netip.PrefixFrom(h.addr, 24))
		return h
	}
	l.h1, l.h2 = mkHost("h1", 1), mkHost("h2", 2)
	l.x = mkHost("x", 66).ns
	mkCtr := func(name, network string, last byte) *ctr {
		c := &ctr{name: name, ns: nstest.New(t, pre+"-"+name), network: network}
		c.ns.QuietIPv6(t)
		subnet := byte(1)
		if network == "red" {
			subnet = 2
		}
		c.ip = netip.AddrFrom4([4]byte{10, 0, subnet, last})
		c.mac = net.HardwareAddr{0x02, 0x00, 10, 0, subnet, last}
		return c
	}
	l.c1, l.c2 = mkCtr("c1", "blue", 1), mkCtr("c2", "blue", 2)
	l.c3, l.c4 = mkCtr("c3", "red", 3), mkCtr("c4", "red", 4)
	all := []*ctr{l.c1, l.c2, l.c3, l.c4}
	l.h1.d = vxtest.Start(t, l.h1.ns, "h1", l.yaml(l.h1, l.h2, all, l.c1, l.c3))
	l.h2.d = vxtest.Start(t, l.h2.ns, "h2", l.yaml(l.h2, l.h1, all, l.c2, l.c4))
	return l
}

func (l *lab) yaml(h, other *host, all []*ctr, local ...*ctr) string {
	var b strings.Builder
	fmt.Fprintf(&b, "underlay: {local: %s, port: 4789, mtu: 1500}\nnetworks:\n", h.addr)
	for _, n := range []struct {
		name string
		vni  int
	}{{"blue", vniBlue}, {"red", vniRed}} {
		fmt.Fprintf(&b, "  - name: %s\n    vni: %d\n    flood: [%s]\n    max_macs: %d\n    neighbors:\n", n.name, n.vni, other.addr, maxMACs)
		for _, c := range all {
			if c.network == n.name {
				fmt.Fprintf(&b, "      - {ip: %s, mac: %q}\n", c.ip, c.mac)
			}
		}
	}
	b.WriteString("ports:\n")
	for _, c := range local {
		fmt.Fprintf(&b, "  - {name: %s-eth1, network: %s, netns: %s, ifname: eth1, mac: %q, addresses: [%s/24]}\n",
			c.name, c.network, c.ns.Path, c.mac, c.ip)
	}
	return b.String()
}

// stats returns one network's counters on h, or the unmatched scope for "".
func (h *host) stats(network string) vswitch.NetworkStats {
	nets, unmatched := h.d.Switch.Stats()
	if network == "" {
		return vswitch.NetworkStats{Name: "unmatched", Stats: unmatched}
	}
	for _, n := range nets {
		if n.Name == network {
			return n
		}
	}
	panic("no network " + network)
}

// learned counts the learned rows of network's MAC table on h.
func (h *host) learned(network string) int {
	n := 0
	for _, e := range h.d.Switch.FDB(network) {
		if e.Type == fdb.Learned {
			n++
		}
	}
	return n
}

// portRx returns how many frames h's port has read from its container.
func (h *host) portRx(port string) uint64 {
	for _, p := range h.d.Switch.Ports() {
		if p.Name == port {
			return p.IO.RxFrames
		}
	}
	return 0
}

// transfer sends size random bytes over TCP from one container to a
// listener in another and checks they arrive intact within the deadline.
func transfer(from, to *ctr, port int, size int, within time.Duration) error {
	addr := netip.AddrPortFrom(to.ip, uint16(port)).String()
	var ln net.Listener
	if err := to.ns.Do(func() (err error) { ln, err = net.Listen("tcp4", addr); return err }); err != nil {
		return fmt.Errorf("listen %s in %s: %w", addr, to.name, err)
	}
	defer ln.Close()
	type result struct {
		n   int64
		sum []byte
		err error
	}
	got := make(chan result, 1)
	deadline := time.Now().Add(within)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(deadline)
		h := sha256.New()
		n, err := io.Copy(h, c)
		got <- result{n, h.Sum(nil), err}
	}()
	data := make([]byte, size)
	rand.Read(data)
	var c net.Conn
	if err := from.ns.Do(func() (err error) { c, err = net.DialTimeout("tcp4", addr, within); return err }); err != nil {
		return fmt.Errorf("dial %s from %s: %w", addr, from.name, err)
	}
	c.SetDeadline(deadline)
	_, err := c.Write(data)
	c.Close()
	if err != nil {
		return fmt.Errorf("%s → %s: send: %w", from.name, to.name, err)
	}
	r := <-got
	sum := sha256.Sum256(data)
	switch {
	case r.err != nil:
		return fmt.Errorf("%s → %s: receive: %w", from.name, to.name, r.err)
	case r.n != int64(size) || !bytes.Equal(r.sum, sum[:]):
		return fmt.Errorf("%s → %s: received %d bytes, sent %d (or content differs)", from.name, to.name, r.n, size)
	}
	return nil
}
