package config

import (
	"net/netip"
	"time"

	"gopkg.in/yaml.v3"
)

const (
	maxVNI      = 1<<24 - 1 // 24-bit field, RFC 7348 §5
	maxMaxMACs  = 1000000
	minAgeing   = time.Second
	maxNameLen  = 32
	nameSymbols = "_.-"
)

func (p *parser) networkSection(root object) []Network {
	p.networks = make(map[string]*netState)
	path, n := root.field("networks")
	if n == nil {
		p.errorf(root.line, path, "required: at least one network")
		return nil
	}
	items := p.list(n, path)
	if n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
		p.errorf(n.Line, path, "empty: at least one network required")
	}
	names := make(map[string]ref)
	vnis := make(map[uint32]ref)
	out := make([]Network, 0, len(items))
	for i, it := range items {
		out = append(out, p.network(it, index(path, i), names, vnis))
	}
	return out
}

func (p *parser) network(n *yaml.Node, path string, names map[string]ref, vnis map[uint32]ref) Network {
	nw := Network{Learning: true, ARPProxy: true, Ageing: DefaultAgeing, MaxMACs: DefaultMaxMACs, Line: n.Line}
	o, ok := p.object(n, path, "name", "vni", "flood", "allow_unknown_peers", "learning", "arp_proxy", "ageing", "max_macs", "fdb", "neighbors")
	if !ok {
		return nw
	}
	if f, n := o.field("name"); n == nil {
		p.errorf(o.line, f, "required")
	} else if s, ok := p.str(n, f); ok {
		nw.Name = s
		// Known even when invalid, so ports naming it get no second error.
		if p.networks[s] == nil {
			p.networks[s] = &netState{macs: make(map[[6]byte]ref)}
		}
		if !validNetworkName(s) {
			p.errorf(n.Line, f, "%s is not a valid name: use 1 to %d letters, digits or %q", quote(s), maxNameLen, nameSymbols)
		} else if first, dup := names[s]; dup {
			p.errorf(n.Line, f, "%s already used by %s (line %d)", quote(s), first.path, first.line)
		} else {
			names[s] = ref{path, n.Line}
		}
	}
	if f, n := o.field("vni"); n == nil {
		p.errorf(o.line, f, "required: the 24-bit VXLAN network identifier")
	} else if v, ok := p.integer(n, f, 0, maxVNI); ok {
		nw.VNI = uint32(v)
		if first, dup := vnis[nw.VNI]; dup {
			p.errorf(n.Line, f, "%d already used by %s (line %d)", v, first.path, first.line)
		} else {
			vnis[nw.VNI] = ref{path, n.Line}
		}
	}
	if f, n := o.field("flood"); n != nil {
		nw.Flood = p.flood(n, f)
	}
	if f, n := o.field("allow_unknown_peers"); n != nil {
		nw.AllowUnknownPeers, _ = p.boolean(n, f)
	}
	if f, n := o.field("learning"); n != nil {
		nw.Learning, _ = p.boolean(n, f)
	}
	if f, n := o.field("arp_proxy"); n != nil {
		nw.ARPProxy, _ = p.boolean(n, f)
	}
	if f, n := o.field("ageing"); n != nil {
		if d, ok := p.duration(n, f); ok && d < minAgeing {
			p.errorf(n.Line, f, "%s shorter than the minimum %s", short(n.Value), minAgeing)
		} else if ok {
			nw.Ageing = d
		}
	}
	if f, n := o.field("max_macs"); n != nil {
		if v, ok := p.integer(n, f, 1, maxMaxMACs); ok {
			nw.MaxMACs = int(v)
		}
	}
	if f, n := o.field("fdb"); n != nil {
		nw.FDB = p.fdb(n, f)
	}
	if f, n := o.field("neighbors"); n != nil {
		nw.Neighbors = p.neighbors(n, f)
	}
	return nw
}

func validNetworkName(s string) bool {
	if len(s) < 1 || len(s) > maxNameLen {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}

func (p *parser) flood(n *yaml.Node, path string) []netip.Addr {
	seen := make(map[netip.Addr]ref)
	var out []netip.Addr
	for i, it := range p.list(n, path) {
		f := index(path, i)
		a, ok := p.unicast(it, f)
		if !ok || !p.remoteVTEP(a, it.Line, f) {
			continue
		}
		if first, dup := seen[a]; dup {
			p.errorf(it.Line, f, "%s already listed as %s (line %d)", a, first.path, first.line)
			continue
		}
		seen[a] = ref{f, it.Line}
		out = append(out, a)
	}
	return out
}

// remoteVTEP checks that a can be reached over the underlay.
func (p *parser) remoteVTEP(a netip.Addr, line int, path string) bool {
	local := p.underlay.Local
	switch {
	case !p.localOK:
		return true
	case a.Is4() != local.Is4():
		p.errorf(line, path, "%s is %s but underlay.local %s is %s", a, family(a), local, family(local))
	case a == local:
		p.errorf(line, path, "%s is underlay.local itself; list remote VTEPs only", a)
	default:
		return true
	}
	return false
}

func (p *parser) fdb(n *yaml.Node, path string) []StaticMAC {
	seen := make(map[[6]byte]ref)
	var out []StaticMAC
	for i, it := range p.list(n, path) {
		ip := index(path, i)
		o, ok := p.object(it, ip, "mac", "vtep")
		if !ok {
			continue
		}
		var e StaticMAC
		fm, nm := o.field("mac")
		fv, nv := o.field("vtep")
		if nm == nil {
			p.errorf(o.line, fm, "required")
		} else if e.MAC, ok = p.mac(nm, fm); ok {
			if first, dup := seen[[6]byte(e.MAC)]; dup {
				p.errorf(nm.Line, fm, "%s already listed at %s (line %d)", e.MAC, first.path, first.line)
			} else {
				seen[[6]byte(e.MAC)] = ref{fm, nm.Line}
			}
		}
		if nv == nil {
			p.errorf(o.line, fv, "required: the remote VTEP that owns this MAC")
		} else if e.VTEP, ok = p.unicast(nv, fv); ok {
			p.remoteVTEP(e.VTEP, nv.Line, fv)
		}
		out = append(out, e)
	}
	return out
}

func (p *parser) neighbors(n *yaml.Node, path string) []Neighbor {
	seen := make(map[netip.Addr]ref)
	var out []Neighbor
	for i, it := range p.list(n, path) {
		ip := index(path, i)
		o, ok := p.object(it, ip, "ip", "mac")
		if !ok {
			continue
		}
		var e Neighbor
		fi, ni := o.field("ip")
		fm, nm := o.field("mac")
		if ni == nil {
			p.errorf(o.line, fi, "required")
		} else if e.IP, ok = p.unicast(ni, fi); ok {
			if first, dup := seen[e.IP]; dup {
				p.errorf(ni.Line, fi, "%s already listed at %s (line %d)", e.IP, first.path, first.line)
			} else {
				seen[e.IP] = ref{fi, ni.Line}
			}
		}
		if nm == nil {
			p.errorf(o.line, fm, "required")
		} else {
			e.MAC, _ = p.mac(nm, fm)
		}
		out = append(out, e)
	}
	return out
}
