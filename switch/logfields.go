package vswitch

import (
	"fmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// verdictField and frameField describe a frame for debug logs. They are only
// built inside logger.Check, so they cost nothing when debug is off.
func verdictField(v Verdict) zap.Field {
	switch v.Action {
	case ActionDrop:
		return zap.String("action", "drop: "+v.Reason.String())
	case ActionPort:
		return zap.String("action", "→ port "+v.Port.cfg.Name)
	case ActionVTEP:
		return zap.String("action", "→ vtep "+v.VTEP.String())
	case ActionFlood:
		return zap.String("action", fmt.Sprintf("flood ×%d", v.Copies))
	case ActionProxy:
		return zap.String("action", "proxied")
	}
	return zap.Stringer("action", v.Action)
}

type frameSummary []byte

func frameField(b []byte) zap.Field { return zap.Object("frame", frameSummary(b)) }

func (f frameSummary) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddInt("len", len(f))
	if len(f) < ethHeaderLen {
		return nil
	}
	e := ethernet(f)
	enc.AddString("src", e.src().String())
	enc.AddString("dst", e.dst().String())
	enc.AddString("type", fmt.Sprintf("%#04x", e.etherType()))
	if a, ok := parseARP(e); ok {
		enc.AddString("arp", fmt.Sprintf("op %d %s", a.op(), a))
	}
	return nil
}
