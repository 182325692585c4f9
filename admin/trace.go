package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/vxswitch/vxswitch/vtep"
)

// handleTrace streams one TraceEvent per frame entering the switch (JSON
// Lines), optionally only those of one network and/or one port. The
// frames are decoded here, off the data path, by one decoder per trace.
func (s *Server) handleTrace(w http.ResponseWriter, r *http.Request) {
	network, port, count, err := s.streamParams(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("trace: %w", err))
		return
	}
	sess, end := s.startSession(filter{network: network, port: port, inOnly: true})
	defer end()
	s.log.Info("trace started", append(peerFields(r), zap.Uint64("session", sess.id),
		zap.String("network", network), zap.String("port", port), zap.Uint64("count", count))...)
	rc := startStream(w, sess, "application/x-ndjson")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	dec := newDecoder()
	n, err := s.pump(r.Context(), sess, count, func(rec *record) error {
		if err := enc.Encode(dec.traceEvent(rec)); err != nil {
			return err
		}
		return rc.Flush()
	})
	end()
	drops := sess.drops.Load()
	if err == nil {
		endStream(w, n, drops)
	}
	s.log.Info("trace ended", zap.Uint64("session", sess.id), zap.Uint64("events", n), zap.Uint64("dropped", drops), zap.NamedError("reason", err))
}

// traceEvent describes an arriving frame or datagram.
func (d *decoder) traceEvent(rec *record) TraceEvent {
	ev := TraceEvent{Time: rec.time, Ingress: where(rec), Network: rec.network, Verdict: verdictOf(rec.verdict)}
	if vni, ok := recordVNI(rec); ok {
		ev.VNI = &vni
	}
	frame := rec.data
	if rec.underlay {
		if len(frame) < vtep.HeaderLen {
			ev.Length = len(frame)
			ev.Summary = fmt.Sprintf("VXLAN datagram of %d bytes, shorter than its header", len(frame))
			return ev
		}
		frame = frame[vtep.HeaderLen:]
	}
	ev.Length = len(frame)
	if len(frame) >= ethHeaderLen {
		ev.Dst = macString(frame[0:6])
		ev.Src = macString(frame[6:12])
	}
	ev.Summary = d.summary(frame)
	return ev
}

func macString(b []byte) string {
	const hex = "0123456789abcdef"
	var out [17]byte
	for i := range 6 {
		out[i*3] = hex[b[i]>>4]
		out[i*3+1] = hex[b[i]&0xf]
		if i < 5 {
			out[i*3+2] = ':'
		}
	}
	return string(out[:])
}

// FormatTrace renders ev as one line of `vxswitch trace`: time, ingress,
// VNI, source > destination MAC, a summary of the frame, and the decision
// in brackets, e.g.
//
//	12:00:01.000042 port c1-eth1   vni 4097 02:00:0a:00:01:02 > ff:ff:ff:ff:ff:ff ARP who-has 10.0.1.3 tell 10.0.1.2 [proxied]
func FormatTrace(ev TraceEvent, loc *time.Location) string {
	vni := "-"
	if ev.VNI != nil {
		vni = fmt.Sprint(*ev.VNI)
	}
	src, dst := ev.Src, ev.Dst
	if src == "" {
		src, dst = "-", "-"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-14s vni %-8s %s > %s %s [%s]", ev.Time.In(loc).Format("15:04:05.000000"),
		ev.Ingress, vni, src, dst, ev.Summary, ev.Verdict.Decision)
	return b.String()
}
