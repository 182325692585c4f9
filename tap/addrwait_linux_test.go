package tap

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// ifaddrMsg builds the payload of an RTM_NEWADDR message: struct ifaddrmsg
// and, if addr is valid, an IFA_ADDRESS attribute.
func ifaddrMsg(ifindex uint32, addr netip.Addr) []byte {
	b := make([]byte, unix.SizeofIfAddrmsg)
	b[0] = unix.AF_INET6
	b[1] = 64
	binary.NativeEndian.PutUint32(b[4:8], ifindex)
	if addr.IsValid() {
		a := addr.AsSlice()
		attr := make([]byte, 4+len(a))
		binary.NativeEndian.PutUint16(attr[0:2], uint16(len(attr)))
		binary.NativeEndian.PutUint16(attr[2:4], unix.IFA_ADDRESS)
		copy(attr[4:], a)
		b = append(b, attr...)
	}
	return b
}

func TestAnnouncedAddr(t *testing.T) {
	a := netip.MustParseAddr("2001:db8::1")
	tests := []struct {
		name   string
		typ    uint16
		data   []byte
		want   netip.Addr
		wantOK bool
	}{
		{name: "our link", typ: unix.RTM_NEWADDR, data: ifaddrMsg(7, a), want: a, wantOK: true},
		{name: "other link", typ: unix.RTM_NEWADDR, data: ifaddrMsg(8, a)},
		{name: "deleted", typ: unix.RTM_DELADDR, data: ifaddrMsg(7, a)},
		{name: "no address attribute", typ: unix.RTM_NEWADDR, data: ifaddrMsg(7, netip.Addr{})},
		{name: "short", typ: unix.RTM_NEWADDR, data: ifaddrMsg(7, a)[:5]},
		{name: "truncated attribute", typ: unix.RTM_NEWADDR, data: ifaddrMsg(7, a)[:unix.SizeofIfAddrmsg+6]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := announcedAddr(tt.typ, tt.data, 7)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("announcedAddr = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
