package vswitch

import (
	"encoding/binary"

	"github.com/vxswitch/vxswitch/fdb"
)

// Ethernet header layout (IEEE 802.3).
const (
	ethHeaderLen  = 14
	vlanTagLen    = 4
	etherTypeARP  = 0x0806
	etherTypeVLAN = 0x8100
	etherTypeQinQ = 0x88a8
)

// ethernet is a zero-copy view of an Ethernet frame; callers check
// len >= ethHeaderLen first.
type ethernet []byte

func (e ethernet) dst() (m fdb.MAC)  { copy(m[:], e[0:6]); return }
func (e ethernet) src() (m fdb.MAC)  { copy(m[:], e[6:12]); return }
func (e ethernet) etherType() uint16 { return binary.BigEndian.Uint16(e[12:14]) }

// tagged reports an 802.1Q or 802.1ad tag, which allows the frame 4 more
// bytes than the MTU.
func (e ethernet) tagged() bool {
	t := e.etherType()
	return t == etherTypeVLAN || t == etherTypeQinQ
}

// maxFrame is the largest frame a link with this MTU carries.
func maxFrame(mtu int, e ethernet) int {
	if e.tagged() {
		return mtu + ethHeaderLen + vlanTagLen
	}
	return mtu + ethHeaderLen
}
