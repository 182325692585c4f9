// Package hostile holds integration tests that aim hostile traffic at
// running vxswitch instances in network namespaces (MAC floods, malformed
// and spoofed VXLAN from the underlay, ARP spoofing) and check that the
// switch keeps its bounds, counts every drop under its reason and keeps
// forwarding legitimate traffic. It also records datagrams from the Linux
// kernel's vxlan driver, the real traffic the fuzz corpora start from.
package hostile
