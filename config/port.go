package config

import (
	"fmt"
	"maps"
	"math"
	"net/netip"
	"path"
	"slices"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

const (
	maxPID     = 1 << 22 // PID_MAX_LIMIT on 64-bit Linux
	ifNameMax  = 15      // IFNAMSIZ 16 less the NUL
	minPortMTU = 68      // RFC 791: every IPv4 module must forward 68 bytes
	minIPv6MTU = 1280    // RFC 8200 §5
)

func (p *parser) portSection(root object) []Port {
	p.ports = make(map[string]ref)
	p.ifnames = make(map[[2]string]ref)
	path, n := root.field("ports")
	if n == nil {
		return nil
	}
	items := p.list(n, path)
	out := make([]Port, 0, len(items))
	for i, it := range items {
		out = append(out, p.port(it, index(path, i)))
	}
	return out
}

func (p *parser) port(n *yaml.Node, at string) Port {
	pt := Port{Line: n.Line, MTU: p.underlay.MTU - p.underlay.Overhead()}
	o, ok := p.object(n, at, "name", "network", "netns", "pid", "ifname", "mac", "mtu", "addresses")
	if !ok {
		return pt
	}
	fname, nname := o.field("name")
	if nname == nil {
		p.errorf(o.line, fname, "required")
	} else if s, ok := p.str(nname, fname); ok {
		pt.Name = s
		if s == "" {
			p.errorf(nname.Line, fname, "must not be empty")
		} else if first, dup := p.ports[s]; dup {
			p.errorf(nname.Line, fname, "%s already used by %s (line %d)", quote(s), first.path, first.line)
		} else {
			p.ports[s] = ref{at, nname.Line}
		}
	}
	var segment *netState
	if f, n := o.field("network"); n == nil {
		p.errorf(o.line, f, "required: the name of a network under networks")
	} else if s, ok := p.str(n, f); ok {
		pt.Network = s
		if segment = p.networks[s]; segment == nil {
			p.errorf(n.Line, f, "unknown network %s (networks: %s)", quote(s), p.networkNames())
		}
	}
	nsOK := p.namespace(o, &pt)
	ifOK := p.ifname(o, &pt, nname)
	if nsOK && ifOK {
		f, n := o.field("ifname")
		if n == nil {
			f, n = fname, nname
		}
		key := [2]string{path.Clean(pt.NetnsPath()), pt.IfName}
		if first, dup := p.ifnames[key]; dup {
			p.errorf(n.Line, f, "interface %s in %s already used by %s (line %d)", quote(pt.IfName), pt.NetnsPath(), first.path, first.line)
		} else {
			p.ifnames[key] = ref{at, n.Line}
		}
	}
	if f, n := o.field("mac"); n != nil {
		if pt.MAC, ok = p.mac(n, f); ok && segment != nil {
			if first, dup := segment.macs[[6]byte(pt.MAC)]; dup {
				p.errorf(n.Line, f, "%s already used in network %s by %s (line %d)", pt.MAC, quote(pt.Network), first.path, first.line)
			} else {
				segment.macs[[6]byte(pt.MAC)] = ref{at, n.Line}
			}
		}
	}
	mtuOK := p.portMTU(o, &pt)
	if f, n := o.field("addresses"); n != nil {
		pt.Addresses = p.addresses(n, f, pt.MTU, mtuOK)
	}
	return pt
}

func (p *parser) networkNames() string {
	if len(p.networks) == 0 {
		return "none defined"
	}
	names := slices.Sorted(maps.Keys(p.networks))
	for i, s := range names {
		names[i] = quote(s)
	}
	return strings.Join(names, ", ")
}

// namespace decodes exactly one of netns and pid.
func (p *parser) namespace(o object, pt *Port) bool {
	fns, nns := o.field("netns")
	fpid, npid := o.field("pid")
	switch {
	case nns != nil && npid != nil:
		p.errorf(npid.Line, o.path, "both netns and pid set; give exactly one")
		return false
	case nns == nil && npid == nil:
		p.errorf(o.line, o.path, "missing netns or pid: give a namespace path (netns: /run/netns/c1) or a process (pid: 12345)")
		return false
	case npid != nil:
		v, ok := p.integer(npid, fpid, 1, maxPID)
		pt.PID = int(v)
		return ok
	}
	s, ok := p.str(nns, fns)
	if ok && !strings.HasPrefix(s, "/") {
		p.errorf(nns.Line, fns, "%s is not an absolute path", quote(s))
		return false
	}
	pt.Netns = s
	return ok
}

// ifname sets the interface name, from ifname or else from the port name.
func (p *parser) ifname(o object, pt *Port, nname *yaml.Node) bool {
	f, n := o.field("ifname")
	if n != nil {
		s, ok := p.str(n, f)
		if !ok {
			return false
		}
		pt.IfName = s
		if why := badIfName(s); why != "" {
			p.errorf(n.Line, f, "%s", why)
			return false
		}
		return true
	}
	if pt.Name == "" {
		return false
	}
	pt.IfName = pt.Name
	if why := badIfName(pt.Name); why != "" {
		p.errorf(nname.Line, join(o.path, "name"), "unusable as the interface name (set ifname): %s", why)
		return false
	}
	return true
}

// badIfName says why the Linux kernel's dev_valid_name would refuse s.
func badIfName(s string) string {
	switch {
	case s == "":
		return "interface name must not be empty"
	case len(s) > ifNameMax:
		return fmt.Sprintf("%s is %d bytes; Linux interface names have at most %d", quote(s), len(s), ifNameMax)
	case s == "." || s == "..":
		return fmt.Sprintf("%s is not a valid interface name", quote(s))
	}
	for _, r := range s {
		if r == '/' || r == ':' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Sprintf("%s contains %q; Linux interface names cannot contain '/', ':', whitespace or control characters", quote(s), r)
		}
	}
	return ""
}

// portMTU checks that a frame of the port's MTU still fits in the underlay
// after encapsulation.
func (p *parser) portMTU(o object, pt *Port) bool {
	f, n := o.field("mtu")
	if n == nil {
		return p.localOK && p.mtuOK
	}
	v, ok := p.integer(n, f, minPortMTU, math.MaxUint16)
	if !ok {
		return false
	}
	pt.MTU = int(v)
	if !p.localOK || !p.mtuOK {
		return true
	}
	u := p.underlay
	if most := u.MTU - u.Overhead(); pt.MTU > most {
		p.errorf(n.Line, f, "%d too large: at most %d fits in underlay.mtu %d after %d bytes of VXLAN over %s overhead (outer IP, UDP 8, VXLAN 8, inner Ethernet 14)",
			pt.MTU, most, u.MTU, u.Overhead(), family(u.Local))
		return false
	}
	return true
}

func (p *parser) addresses(n *yaml.Node, path string, mtu int, mtuOK bool) []netip.Prefix {
	seen := make(map[netip.Addr]ref)
	var out []netip.Prefix
	for i, it := range p.list(n, path) {
		f := index(path, i)
		pf, ok := p.prefix(it, f)
		if !ok {
			continue
		}
		if first, dup := seen[pf.Addr()]; dup {
			p.errorf(it.Line, f, "%s already listed as %s (line %d)", pf.Addr(), first.path, first.line)
			continue
		}
		seen[pf.Addr()] = ref{f, it.Line}
		if pf.Addr().Is6() && mtuOK && mtu < minIPv6MTU {
			p.errorf(it.Line, f, "%s needs a port MTU of at least %d (the IPv6 minimum), but the port MTU is %d", pf, minIPv6MTU, mtu)
		}
		out = append(out, pf)
	}
	return out
}
