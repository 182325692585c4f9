package config

import (
	"math"
)

func (p *parser) underlaySection(root object) Underlay {
	u := Underlay{Port: DefaultPort, MTU: DefaultMTU, SrcPortMin: DefaultSrcPortMin, SrcPortMax: DefaultSrcPortMax}
	p.underlay, p.mtuOK = u, true
	path, n := root.field("underlay")
	if n == nil {
		p.errorf(root.line, path, "required: give at least underlay.local, the address of this VTEP")
		return u
	}
	o, ok := p.object(n, path, "local", "port", "mtu", "strict", "src_port_min", "src_port_max")
	if !ok {
		return u
	}
	if f, n := o.field("local"); n == nil {
		p.errorf(o.line, f, "required: the unicast address this VTEP sends from and listens on")
	} else if a, ok := p.unicast(n, f); ok {
		u.Local, p.localOK = a, true
	}
	if f, n := o.field("port"); n != nil {
		if v, ok := p.integer(n, f, 1, math.MaxUint16); ok {
			u.Port = uint16(v)
		}
	}
	if f, n := o.field("strict"); n != nil {
		u.Strict, _ = p.boolean(n, f)
	}
	u.MTU, p.mtuOK = p.underlayMTU(o, u)
	p.srcPorts(o, &u)
	p.underlay = u
	return u
}

// underlayMTU requires room for the smallest packet each overlay family must
// carry: 576 bytes for IPv4 (RFC 791), 1280 for IPv6 (RFC 8200 §5), plus the
// encapsulation overhead of the underlay's family.
func (p *parser) underlayMTU(o object, u Underlay) (int, bool) {
	f, n := o.field("mtu")
	if n == nil {
		return DefaultMTU, true
	}
	v, ok := p.integer(n, f, math.MinInt64, math.MaxInt64)
	if !ok {
		return DefaultMTU, false
	}
	fam, inner := "IPv4", 576
	if u.Local.Is6() {
		fam, inner = "IPv6", 1280
	}
	least := int64(inner + u.Overhead())
	switch {
	case v > math.MaxUint16:
		p.errorf(n.Line, f, "%d too large: the maximum is 65535", v)
	case v < least:
		p.errorf(n.Line, f, "%d too small: an %s underlay needs at least %d, so that ports keep %d bytes (the %s minimum) after %d bytes of VXLAN overhead",
			v, fam, least, inner, fam, u.Overhead())
	default:
		return int(v), true
	}
	return DefaultMTU, false
}

func (p *parser) srcPorts(o object, u *Underlay) {
	fmin, nmin := o.field("src_port_min")
	fmax, nmax := o.field("src_port_max")
	okMin, okMax := true, true
	if nmin != nil {
		var v int64
		if v, okMin = p.integer(nmin, fmin, 1, math.MaxUint16); okMin {
			u.SrcPortMin = uint16(v)
		}
	}
	if nmax != nil {
		var v int64
		if v, okMax = p.integer(nmax, fmax, 1, math.MaxUint16); okMax {
			u.SrcPortMax = uint16(v)
		}
	}
	if !okMin || !okMax || u.SrcPortMin <= u.SrcPortMax {
		return
	}
	if nmin != nil {
		p.errorf(nmin.Line, fmin, "%d greater than src_port_max %d", u.SrcPortMin, u.SrcPortMax)
	} else {
		p.errorf(nmax.Line, fmax, "%d less than src_port_min %d (the default)", u.SrcPortMax, u.SrcPortMin)
	}
}
