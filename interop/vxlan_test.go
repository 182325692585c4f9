package interop

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/vxswitch/vxswitch/internal/nstest"
)

// csumMode is what the kernel vxlan device is told about UDP checksums
// over IPv4.
type csumMode uint8

const (
	// csumDefault leaves IFLA_VXLAN_UDP_CSUM out: the kernel's default.
	csumDefault csumMode = iota
	csumOn               // udpcsum
	csumOff              // noudpcsum
)

// vxlanDevice is the kernel vxlan device of host B.
type vxlanDevice struct {
	Name              string
	MTU               int
	VNI               uint32
	Local             netip.Addr
	Remote            netip.Addr // invalid: none, the FDB alone steers
	Learning          bool
	UDPCSum           csumMode
	PortLow, PortHigh uint16 // 0, 0: the kernel's default range
}

// addVXLAN creates d in ns, skipping the test if the kernel has no vxlan.
//
// It builds the RTM_NEWLINK itself instead of calling
// netlink.LinkAdd(&netlink.Vxlan{...}): the library sends
// IFLA_VXLAN_UDP_CSUM only when UDPCSum is true, and a kernel given no
// attribute sends checksums, so noudpcsum cannot be said through it. Here
// every attribute is sent only when chosen, as `ip link add ... type vxlan`
// does.
func addVXLAN(t *testing.T, ns *nstest.NS, d vxlanDevice) netlink.Link {
	t.Helper()
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(d.Name)))
	req.AddData(nl.NewRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(d.MTU))))
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("vxlan"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	data.AddRtAttr(nl.IFLA_VXLAN_ID, nl.Uint32Attr(d.VNI))
	if d.Local.Is4() {
		data.AddRtAttr(nl.IFLA_VXLAN_LOCAL, d.Local.AsSlice())
	} else {
		data.AddRtAttr(nl.IFLA_VXLAN_LOCAL6, d.Local.AsSlice())
	}
	switch {
	case d.Remote.Is4():
		data.AddRtAttr(nl.IFLA_VXLAN_GROUP, d.Remote.AsSlice()) // a unicast "group" is the remote
	case d.Remote.Is6():
		data.AddRtAttr(nl.IFLA_VXLAN_GROUP6, d.Remote.AsSlice())
	}
	data.AddRtAttr(nl.IFLA_VXLAN_PORT, binary.BigEndian.AppendUint16(nil, vxlanPort))
	data.AddRtAttr(nl.IFLA_VXLAN_LEARNING, nl.Uint8Attr(boolByte(d.Learning)))
	if d.UDPCSum != csumDefault {
		data.AddRtAttr(nl.IFLA_VXLAN_UDP_CSUM, nl.Uint8Attr(boolByte(d.UDPCSum == csumOn)))
	}
	if d.PortLow != 0 || d.PortHigh != 0 {
		r := binary.BigEndian.AppendUint16(nil, d.PortLow) // struct ifla_vxlan_port_range
		data.AddRtAttr(nl.IFLA_VXLAN_PORT_RANGE, binary.BigEndian.AppendUint16(r, d.PortHigh))
	}
	req.AddData(info)

	err := ns.Do(func() error {
		_, err := req.Execute(unix.NETLINK_ROUTE, 0)
		return err
	})
	if err != nil {
		if nstest.Unsupported(err) {
			t.Skipf("kernel cannot create a vxlan link (%v): load the vxlan module or run on a kernel that has it", err)
		}
		t.Fatalf("%s: add vxlan %s: %v", ns.Name, d.Name, err)
	}
	h := ns.Handle(t)
	defer h.Close()
	link, err := h.LinkByName(d.Name)
	if err != nil {
		t.Fatalf("%s: find %s after adding it: %v", ns.Name, d.Name, err)
	}
	return link
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}
