package nstest

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// AddLink creates link inside ns and returns it as the kernel reports it,
// index filled in. When the kernel lacks the link type (no vxlan or bridge
// module), the test is skipped instead: that is the environment, not a
// failure. The link goes away with the namespace.
func AddLink(t testing.TB, ns *NS, link netlink.Link) netlink.Link {
	t.Helper()
	nl := ns.Handle(t)
	defer nl.Close()
	name, typ := link.Attrs().Name, link.Type()
	if err := nl.LinkAdd(link); err != nil {
		if Unsupported(err) {
			t.Skipf("kernel cannot create a %s link (%v): load the %s module or run on a kernel that has it", typ, err, typ)
		}
		t.Fatalf("%s: add %s link %s: %v", ns.Name, typ, name, err)
	}
	got, err := nl.LinkByName(name)
	if err != nil {
		t.Fatalf("%s: find %s after adding it: %v", ns.Name, name, err)
	}
	return got
}

// Unsupported reports whether err is the kernel saying it does not support
// an operation or link type.
func Unsupported(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || strings.Contains(err.Error(), "not supported")
}

// ReadSysctl reads /proc/sys/KEY (dotted, like net.ipv4.ip_local_port_range) as
// seen from inside ns: network sysctls are per namespace.
func (ns *NS) ReadSysctl(key string) (string, error) {
	var val string
	err := ns.Do(func() error {
		b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
		val = strings.TrimSpace(string(b))
		return err
	})
	return val, err
}
