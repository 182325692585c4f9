package fuzzpeer

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vxswitch/vxswitch/vtep"
)

// ErrTarget is wrapped by every refusal of ParseTarget.
var ErrTarget = errors.New("fuzz-peer target must be one literal unicast IP address (loopback allowed), optionally with a port")

// ParseTarget parses the peer to fuzz: a literal IPv4 or IPv6 address,
// optionally with a port ("192.0.2.2", "192.0.2.2:8472", "[2001:db8::2]:4789",
// "2001:db8::2"); the port defaults to 4789. It refuses anything that could
// reach more than one host or a host the user did not name: host names
// (resolution could pick anything), prefixes and ranges, the unspecified
// address, multicast, the IPv4 limited broadcast, and the broadcast address
// of any IPv4 subnet configured on this host.
func ParseTarget(s string) (netip.AddrPort, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.AddrPort{}, fmt.Errorf("%w: empty", ErrTarget)
	}
	if strings.ContainsAny(s, "/,*") || strings.Count(s, "-") > 0 {
		return netip.AddrPort{}, fmt.Errorf("%w: %q looks like a prefix, list or range", ErrTarget, s)
	}
	var ap netip.AddrPort
	if a, err := netip.ParseAddr(s); err == nil {
		ap = netip.AddrPortFrom(a, vtep.DefaultPort)
	} else {
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("%w: %q is not an IP address (host names are not resolved)", ErrTarget, s)
		}
		a, err := netip.ParseAddr(host)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("%w: %q is not an IP address (host names are not resolved)", ErrTarget, host)
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil || p == 0 {
			return netip.AddrPort{}, fmt.Errorf("%w: bad port %q", ErrTarget, port)
		}
		ap = netip.AddrPortFrom(a, uint16(p))
	}
	if err := checkUnicast(ap.Addr()); err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// checkUnicast refuses addresses that name no single host.
func checkUnicast(a netip.Addr) error {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return fmt.Errorf("%w: no address", ErrTarget)
	case a.IsUnspecified():
		return fmt.Errorf("%w: %v is the unspecified address", ErrTarget, a)
	case a.IsMulticast():
		return fmt.Errorf("%w: %v is multicast", ErrTarget, a)
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("%w: %v is the limited broadcast address", ErrTarget, a)
	}
	if a.Is4() {
		for _, p := range localPrefixes() {
			if p.Addr().Is4() && p.Bits() < 31 && a == broadcastOf(p) {
				return fmt.Errorf("%w: %v is the broadcast address of %v, configured here", ErrTarget, a, p)
			}
		}
	}
	return nil
}

// localPrefixes lists this host's (this network namespace's) addresses.
var localPrefixes = func() []netip.Prefix {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if p, err := netip.ParsePrefix(n.String()); err == nil {
				out = append(out, p)
			}
		}
	}
	return out
}

func broadcastOf(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(b)
}
