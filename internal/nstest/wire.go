package nstest

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Wire is a shared Ethernet segment: a Linux bridge alone in its own
// namespace, which hosts join with Attach. Unlike Veth it links any number
// of hosts, and no link of it ever exists in the caller's namespace.
type Wire struct {
	NS     *NS
	Bridge string

	mu    sync.Mutex
	ports int // guarded by mu; names the bridge ports w0, w1, ...
}

// NewWire creates the namespace NAME holding a bridge "br0" that is up, has
// no address and forwards at once (STP off). The namespace, and with it the
// bridge and every attached veth, is deleted when the test ends. A kernel
// without bridges skips the test.
func NewWire(t testing.TB, name string) *Wire {
	t.Helper()
	w := &Wire{NS: New(t, name), Bridge: "br0"}
	nl := w.NS.Handle(t)
	defer nl.Close()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: w.Bridge}}
	if err := nl.LinkAdd(br); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) {
			t.Skipf("kernel cannot create a bridge (%v): load the bridge module or run on a kernel that has it", err)
		}
		t.Fatalf("%s: add bridge %s: %v", name, w.Bridge, err)
	}
	if err := nl.LinkSetUp(br); err != nil {
		t.Fatalf("%s: %s up: %v", name, w.Bridge, err)
	}
	return w
}

// Attach plugs host into the wire: a veth whose bridge end lives in the
// wire's namespace and whose other end, ifName in host, gets addr and is
// brought up. The pair is created inside the wire's namespace with its peer
// placed straight into host's, so no name can clash with the caller's.
func (w *Wire) Attach(t testing.TB, host *NS, ifName string, addr netip.Prefix) {
	t.Helper()
	w.mu.Lock()
	port := fmt.Sprintf("w%d", w.ports)
	w.ports++
	w.mu.Unlock()

	hostNS, err := netns.GetFromPath(host.Path)
	if err != nil {
		t.Fatalf("open netns %s: %v", host.Path, err)
	}
	defer hostNS.Close()
	nl := w.NS.Handle(t)
	defer nl.Close()
	br, err := nl.LinkByName(w.Bridge)
	if err != nil {
		t.Fatalf("%s: find %s: %v", w.NS.Name, w.Bridge, err)
	}
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: port, MasterIndex: br.Attrs().Index},
		PeerName:      ifName,
		PeerNamespace: netlink.NsFd(hostNS),
	}
	if err := nl.LinkAdd(veth); err != nil {
		t.Fatalf("%s: add veth %s to %s/%s: %v", w.NS.Name, port, host.Name, ifName, err)
	}
	link, err := nl.LinkByName(port)
	if err == nil {
		err = nl.LinkSetUp(link)
	}
	if err != nil {
		t.Fatalf("%s: %s up: %v", w.NS.Name, port, err)
	}
	AddrUp(t, host, ifName, addr)
}
