// Package nstest builds test topologies out of network namespaces: hosts and
// containers as uniquely named namespaces, veth links between them, all
// configured through netlink and deleted when the test ends.
package nstest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vxswitch/vxswitch/internal/nsrun"
)

// RequireRoot skips the test unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for TAP devices and network namespaces; run as root (CI does)")
	}
}

// NS is a named network namespace a test created.
type NS struct {
	Name string
	Path string
}

// Prefix returns a per-run prefix for namespace and link names, short enough
// that prefix + a few letters fit IFNAMSIZ.
func Prefix() string {
	var b [3]byte
	rand.Read(b[:])
	return "vx" + hex.EncodeToString(b[:])
}

// New creates the namespace /run/netns/NAME with lo up and deletes it when
// the test ends, even if it fails.
func New(t testing.TB, name string) *NS {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("get current netns: %v", err)
	}
	defer orig.Close()
	h, nsErr := netns.NewNamed(name) // switches this thread into it
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: the runtime discards it at goroutine
		// exit instead of reusing it in the wrong namespace.
		t.Fatalf("restore netns: %v", err)
	}
	runtime.UnlockOSThread()
	if nsErr != nil {
		os.Remove("/run/netns/" + name)
		t.Fatalf("create netns %s: %v", name, nsErr)
	}
	h.Close()
	ns := &NS{Name: name, Path: "/run/netns/" + name}
	t.Cleanup(func() { ns.Delete(t) })
	nl := ns.Handle(t)
	defer nl.Close()
	lo, err := nl.LinkByName("lo")
	if err == nil {
		err = nl.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatalf("netns %s: lo up: %v", name, err)
	}
	return ns
}

// Delete removes the namespace now; a later Delete does nothing.
func (ns *NS) Delete(t testing.TB) {
	if _, err := os.Stat(ns.Path); errors.Is(err, os.ErrNotExist) {
		return
	}
	if err := netns.DeleteNamed(ns.Name); err != nil {
		t.Errorf("delete netns %s: %v", ns.Name, err)
	}
}

// Handle returns a netlink handle inside the namespace. Close it: its
// socket keeps the namespace alive.
func (ns *NS) Handle(t testing.TB) *netlink.Handle {
	t.Helper()
	h, err := netns.GetFromPath(ns.Path)
	if err != nil {
		t.Fatalf("open netns %s: %v", ns.Path, err)
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("netlink in %s: %v", ns.Name, err)
	}
	return nl
}

// Do runs f on an OS thread inside the namespace. Sockets f creates belong
// to the namespace and may be used from any goroutine afterwards; processes
// f starts run inside it.
func (ns *NS) Do(f func() error) error {
	h, err := netns.GetFromPath(ns.Path)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", ns.Path, err)
	}
	defer h.Close()
	if err := nsrun.Do(h, f); err != nil {
		return fmt.Errorf("netns %s: %w", ns.Name, err)
	}
	return nil
}

// Veth joins a and b with a veth pair named ifA (in a) and ifB (in b),
// gives each end its address and brings both up. No route beyond the
// connected prefix is added.
func Veth(t testing.TB, a *NS, ifA string, addrA netip.Prefix, b *NS, ifB string, addrB netip.Prefix) {
	t.Helper()
	la := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: ifA}, PeerName: ifB}
	if err := netlink.LinkAdd(la); err != nil {
		t.Fatalf("add veth %s/%s: %v", ifA, ifB, err)
	}
	for _, end := range []struct {
		ns   *NS
		name string
		addr netip.Prefix
	}{{a, ifA, addrA}, {b, ifB, addrB}} {
		link, err := netlink.LinkByName(end.name)
		if err != nil {
			netlink.LinkDel(la)
			t.Fatalf("find %s: %v", end.name, err)
		}
		h, err := netns.GetFromPath(end.ns.Path)
		if err != nil {
			netlink.LinkDel(la)
			t.Fatalf("open netns %s: %v", end.ns.Path, err)
		}
		err = netlink.LinkSetNsFd(link, int(h))
		h.Close()
		if err != nil {
			netlink.LinkDel(la)
			t.Fatalf("move %s to %s: %v", end.name, end.ns.Name, err)
		}
		AddrUp(t, end.ns, end.name, end.addr)
	}
}

// AddrUp adds addr to link name in ns and brings it up.
func AddrUp(t testing.TB, ns *NS, name string, addr netip.Prefix) {
	t.Helper()
	nl := ns.Handle(t)
	defer nl.Close()
	link, err := nl.LinkByName(name)
	if err != nil {
		t.Fatalf("%s: find %s: %v", ns.Name, name, err)
	}
	if addr.IsValid() {
		a, err := netlink.ParseAddr(addr.String())
		if err != nil {
			t.Fatalf("parse %s: %v", addr, err)
		}
		if addr.Addr().Is6() {
			a.Flags = unix.IFA_F_NODAD
		}
		if err := nl.AddrAdd(link, a); err != nil {
			t.Fatalf("%s: add %s to %s: %v", ns.Name, addr, name, err)
		}
	}
	if err := nl.LinkSetUp(link); err != nil {
		t.Fatalf("%s: %s up: %v", ns.Name, name, err)
	}
}

// Poll calls cond until it holds or within has passed, and reports whether
// it held. It polls rather than sleeps once, so a fast machine is not
// slowed and a busy one is given time.
func Poll(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}
