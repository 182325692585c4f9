package tap

import (
	"crypto/rand"
	"net"
)

// RandomMAC returns a random locally administered (bit 1 of the first byte
// set) unicast (bit 0 clear) Ethernet address, as IEEE 802 reserves for
// addresses not assigned by a manufacturer.
func RandomMAC() net.HardwareAddr {
	mac := make(net.HardwareAddr, 6)
	rand.Read(mac) // never fails on Linux; see crypto/rand.Read
	mac[0] = mac[0]&^0x01 | 0x02
	return mac
}
