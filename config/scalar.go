package config

import (
	"math"
	"net"
	"net/netip"
	"regexp"
	"time"

	"gopkg.in/yaml.v3"
)

// Scalar decoders: each reports its own error and returns ok=false on failure.
// Nodes reaching them are resolved and not null.

func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		p.errorf(n.Line, path, "expected a string, got %s", describe(n))
		return "", false
	}
	return n.Value, true
}

// wholeNumber is what YAML resolves to !!float only because it overflows int64.
var wholeNumber = regexp.MustCompile(`^[-+]?[0-9][0-9_]*$`)

// integer decodes an integer in lo..hi.
func (p *parser) integer(n *yaml.Node, path string, lo, hi int64) (int64, bool) {
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!int":
			var v any
			if err := n.Decode(&v); err != nil {
				break
			}
			var i int64
			inInt64 := true
			switch v := v.(type) {
			case int:
				i = int64(v)
			case int64:
				i = v
			default: // uint64 beyond int64
				inInt64 = false
			}
			if !inInt64 || i < lo || i > hi {
				p.errorf(n.Line, path, "%s out of range %d..%d", short(n.Value), lo, hi)
				return 0, false
			}
			return i, true
		case "!!float":
			if wholeNumber.MatchString(n.Value) {
				p.errorf(n.Line, path, "%s out of range %d..%d", short(n.Value), lo, hi)
				return 0, false
			}
		}
	}
	p.errorf(n.Line, path, "expected an integer, got %s", describe(n))
	return 0, false
}

func (p *parser) boolean(n *yaml.Node, path string) (bool, bool) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		p.errorf(n.Line, path, "expected true or false, got %s", describe(n))
		return false, false
	}
	return b, true
}

// duration accepts a Go duration string (300s, 5m) or a whole number of seconds.
func (p *parser) duration(n *yaml.Node, path string) (time.Duration, bool) {
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!int":
			const limit = math.MaxInt64 / int64(time.Second)
			s, ok := p.integer(n, path, -limit, limit)
			return time.Duration(s) * time.Second, ok
		case "!!str":
			d, err := time.ParseDuration(n.Value)
			if err != nil {
				p.errorf(n.Line, path, "invalid duration %s: want a duration like 300s or 5m, or whole seconds", quote(n.Value))
				return 0, false
			}
			return d, true
		}
	}
	p.errorf(n.Line, path, "expected a duration like 300s or 5m, or whole seconds, got %s", describe(n))
	return 0, false
}

// addr decodes an IP address without zone, IPv4 in dotted form.
func (p *parser) addr(n *yaml.Node, path string) (netip.Addr, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		p.errorf(n.Line, path, "invalid IP address %s", quote(s))
	case a.Zone() != "":
		p.errorf(n.Line, path, "%s has an IPv6 zone; zones are not allowed", quote(s))
	case a.Is4In6():
		p.errorf(n.Line, path, "%s is an IPv4-mapped IPv6 address; write it as %s", a, a.Unmap())
	default:
		return a, true
	}
	return netip.Addr{}, false
}

// unicast decodes an address that can be a packet's source.
func (p *parser) unicast(n *yaml.Node, path string) (netip.Addr, bool) {
	a, ok := p.addr(n, path)
	if ok {
		if what := notUnicast(a); what != "" {
			p.errorf(n.Line, path, "%s is %s; want a unicast address", a, what)
			return netip.Addr{}, false
		}
	}
	return a, ok
}

func notUnicast(a netip.Addr) string {
	switch {
	case a.IsUnspecified():
		return "the unspecified address"
	case a.IsMulticast():
		return "a multicast address"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "the broadcast address"
	}
	return ""
}

// mac decodes a unicast 48-bit Ethernet address.
func (p *parser) mac(n *yaml.Node, path string) (net.HardwareAddr, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return nil, false
	}
	hw, err := net.ParseMAC(s)
	switch {
	case err != nil:
		p.errorf(n.Line, path, "invalid MAC address %s", quote(s))
	case len(hw) != 6:
		p.errorf(n.Line, path, "%s is not a 48-bit Ethernet MAC address", quote(s))
	case hw[0]&1 != 0:
		p.errorf(n.Line, path, "%s is a multicast MAC address (lowest bit of the first octet set); want unicast", hw)
	case [6]byte(hw) == [6]byte{}:
		p.errorf(n.Line, path, "%s is the all-zero MAC address; want unicast", hw)
	default:
		return hw, true
	}
	return nil, false
}

// prefix decodes an interface address with its prefix length.
func (p *parser) prefix(n *yaml.Node, path string) (netip.Prefix, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return netip.Prefix{}, false
	}
	pf, err := netip.ParsePrefix(s)
	switch {
	case err != nil:
		p.errorf(n.Line, path, "invalid address %s: want address/length like 10.0.1.2/24", quote(s))
	case pf.Addr().Is4In6():
		p.errorf(n.Line, path, "%s is an IPv4-mapped IPv6 address; write it in IPv4 form", pf.Addr())
	case notUnicast(pf.Addr()) != "":
		p.errorf(n.Line, path, "%s is %s; want a unicast address", pf.Addr(), notUnicast(pf.Addr()))
	default:
		return pf, true
	}
	return netip.Prefix{}, false
}
