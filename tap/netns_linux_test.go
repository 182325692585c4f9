package tap

import (
	"errors"
	"os/exec"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"github.com/vxswitch/vxswitch/internal/nstest"
	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) { nstest.RequireRoot(t) }

// newNetns creates a uniquely named network namespace, deleted when the
// test ends, and returns its path.
func newNetns(t *testing.T) string { return nstest.New(t, nstest.Prefix()+"-tap").Path }

// nlHandle returns a netlink handle for the namespace at path, closed when the
// test ends. The handle's socket pins the namespace, so tests that need the
// namespace to die close it themselves.
func nlHandle(t *testing.T, path string) *netlink.Handle {
	t.Helper()
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatalf("open netns %s: %v", path, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("netlink handle in %s: %v", path, err)
	}
	t.Cleanup(h.Close)
	return h
}

// startInNewNetns starts `sleep` in a fresh unnamed namespace, like a
// container runtime would, so that only the process keeps the namespace
// alive. The process is killed when the test ends.
func startInNewNetns(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("get current netns: %v", err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("create netns: %v", err)
	}
	// The child inherits the namespace of the thread that forks it.
	startErr := cmd.Start()
	ns.Close()
	if err := netns.Set(orig); err != nil {
		t.Fatalf("restore netns: %v", err) // the thread stays locked and dies
	}
	runtime.UnlockOSThread()
	if startErr != nil {
		t.Fatalf("start sleep: %v", startErr)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// linkNames lists the links in the namespace h works in.
func linkNames(t *testing.T, h *netlink.Handle) []string {
	t.Helper()
	var links []netlink.Link
	var err error
	for range 5 {
		if links, err = h.LinkList(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		t.Fatalf("list links: %v", err)
	}
	var names []string
	for _, l := range links {
		names = append(names, l.Attrs().Name)
	}
	return names
}
