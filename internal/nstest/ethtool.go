package nstest

import (
	"fmt"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtoolValue is struct ethtool_value from <linux/ethtool.h>.
type ethtoolValue struct {
	cmd  uint32
	data uint32
}

// ifreqData is struct ifreq with ifr_data set, padded to its 40 bytes.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24 - unsafe.Sizeof(unsafe.Pointer(nil))]byte
}

// TxChecksumOff turns transmit checksum offload off on link name in ns, as
// `ethtool -K name tx off` does (and with it TSO, which needs it), so the
// kernel finishes every checksum before a frame leaves the link.
//
// A veth hands frames to its peer with checksums still partial
// (CHECKSUM_PARTIAL: the kernel trusts its own packets). A kernel VTEP that
// encapsulates such a frame leaves the inner checksum partial too, and a
// userspace VTEP on the other end of the veth, which sees only bytes,
// would pass the unfinished checksum on. A physical NIC computes it on the
// way out; with offload off on the sending end, a veth underlay behaves
// like that wire.
func TxChecksumOff(t testing.TB, ns *NS, name string) {
	t.Helper()
	if len(name) >= unix.IFNAMSIZ {
		t.Fatalf("interface name %q too long", name)
	}
	err := ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("socket: %w", err)
		}
		defer unix.Close(fd)
		v := ethtoolValue{cmd: unix.ETHTOOL_STXCSUM, data: 0}
		var ifr ifreqData
		copy(ifr.name[:], name)
		ifr.data = unsafe.Pointer(&v)
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
		runtime.KeepAlive(&v)
		if errno != 0 {
			return fmt.Errorf("ioctl(SIOCETHTOOL, ETHTOOL_STXCSUM): %w", errno)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: tx checksum offload off on %s: %v", ns.Name, name, err)
	}
}
