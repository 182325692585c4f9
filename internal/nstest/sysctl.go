package nstest

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// Sysctl writes value to the network sysctl key (dotted, as sysctl(8)
// names it, e.g. "net.ipv6.conf.default.disable_ipv6"; so no interface
// name with a dot) inside ns.
func (ns *NS) Sysctl(t testing.TB, key, value string) {
	t.Helper()
	if err := ns.writeSysctl(key, value); err != nil {
		t.Fatalf("%s: sysctl %s=%s: %v", ns.Name, key, value, err)
	}
}

// writeSysctl writes through Do: files under /proc/sys/net belong to the
// namespace of the thread that opens them.
func (ns *NS) writeSysctl(key, value string) error {
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	return ns.Do(func() error { return os.WriteFile(path, []byte(value), 0) })
}

// QuietIPv6 turns IPv6 off in ns for links that exist now and links that
// arrive later, so the kernel sends no router solicitations, MLD reports or
// DAD probes that would show up in a test's frame counters. A kernel
// without IPv6 is quiet already.
func (ns *NS) QuietIPv6(t testing.TB) {
	t.Helper()
	for _, key := range []string{"net.ipv6.conf.default.disable_ipv6", "net.ipv6.conf.all.disable_ipv6"} {
		if err := ns.writeSysctl(key, "1"); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s: sysctl %s=1: %v", ns.Name, key, err)
		}
	}
}
