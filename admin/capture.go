package admin

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"go.uber.org/zap"

	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/vtep"
)

// handleCapture streams the selected events as pcapng, one Enhanced Packet
// Block per event, flushed as it is written: a port's or network's
// Ethernet frames, or the underlay's datagrams in rebuilt outer headers.
// Each packet's comment says what the switch decided.
func (s *Server) handleCapture(w http.ResponseWriter, r *http.Request) {
	network, port, count, err := s.streamParams(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("capture: %w", err))
		return
	}
	underlay := r.URL.Query().Get("underlay")
	f := filter{network: network, port: port, underlay: underlay == "true" || underlay == "1"}
	given := 0
	for _, set := range []bool{network != "", port != "", f.underlay} {
		if set {
			given++
		}
	}
	if given > 1 {
		writeError(w, http.StatusBadRequest, errors.New("capture: give at most one of port, network and underlay"))
		return
	}
	f.networkOnly = given == 0
	intf := pcapgo.NgInterface{
		Name:                captureName(f),
		Description:         "vxswitch " + captureName(f),
		OS:                  runtime.GOOS,
		LinkType:            layers.LinkTypeEthernet,
		TimestampResolution: 9,
	}
	sess, end := s.startSession(f)
	defer end()
	start := time.Now()
	s.log.Info("capture started", append(peerFields(r), zap.Uint64("session", sess.id), zap.String("of", intf.Name), zap.Uint64("count", count))...)

	rc := startStream(w, sess, "application/x-pcapng")
	ngw, err := pcapgo.NewNgWriterInterface(w, intf, pcapgo.NgWriterOptions{
		SectionInfo: pcapgo.NgSectionInfo{Hardware: runtime.GOARCH, OS: runtime.GOOS, Application: "vxswitch"},
	})
	if err != nil {
		return
	}
	flush := func() error {
		if err := ngw.Flush(); err != nil {
			return err
		}
		return rc.Flush()
	}
	if flush() != nil {
		return
	}
	var scratch []byte
	n, err := s.pump(r.Context(), sess, count, func(rec *record) error {
		var data []byte
		data, scratch = capturedFrame(scratch[:0], rec, f.underlay)
		if data == nil {
			return errSkip
		}
		ci := gopacket.CaptureInfo{Timestamp: rec.time, CaptureLength: len(data), Length: len(data)}
		dir := pcapgo.NgEpbFlagDirectionOutbound
		if rec.dir == vswitch.DirIn {
			dir = pcapgo.NgEpbFlagDirectionInbound
		}
		opts := pcapgo.NgPacketOptions{Comments: []string{comment(rec)}, Flags: &pcapgo.NgEpbFlags{Direction: dir}}
		if err := ngw.WritePacketWithOptions(ci, data, opts); err != nil {
			return err
		}
		return flush()
	})
	end()
	drops := sess.drops.Load()
	if err == nil {
		now := time.Now()
		ngw.WriteInterfaceStats(0, pcapgo.NgInterfaceStatistics{
			LastUpdate: now, StartTime: start, EndTime: now,
			PacketsReceived: n + drops, PacketsDropped: drops,
		})
		flush()
		endStream(w, n, drops)
	}
	s.log.Info("capture ended", zap.Uint64("session", sess.id), zap.Uint64("packets", n), zap.Uint64("dropped", drops), zap.NamedError("reason", err))
}

// errSkip tells pump that a record was not emitted (and is not counted).
var errSkip = errors.New("skip")

func captureName(f filter) string {
	switch {
	case f.port != "":
		return "port " + f.port
	case f.network != "":
		return "network " + f.network
	case f.underlay:
		return "underlay"
	}
	return "all networks"
}

// capturedFrame returns the Ethernet frame a capture writes for rec: with
// outer headers for an underlay capture, else the port's frame or the
// datagram's inner frame. nil means there is none (a datagram too short to
// hold one). It may build the frame in scratch, which it returns.
func capturedFrame(scratch []byte, rec *record, underlay bool) (frame, _ []byte) {
	switch {
	case underlay:
		src, dst := rec.remote, rec.local
		if rec.dir == vswitch.DirOut {
			src, dst = rec.local, rec.remote
		}
		scratch = appendUnderlayFrame(scratch, src, dst, rec.data)
		return scratch, scratch
	case rec.underlay:
		if len(rec.data) < vtep.HeaderLen {
			return nil, scratch
		}
		return rec.data[vtep.HeaderLen:], scratch
	}
	return rec.data, scratch
}

// comment is a captured packet's comment: the network, the direction and
// where from or to, and the decision for an arriving frame, e.g.
// "network blue (VNI 4097), ingress from port c1-eth1: → vtep 192.0.2.2".
func comment(rec *record) string {
	var b strings.Builder
	b.WriteString(networkLabel(rec))
	if rec.dir == vswitch.DirIn {
		fmt.Fprintf(&b, ", ingress from %s: %s", where(rec), Decision(rec.verdict))
	} else {
		fmt.Fprintf(&b, ", egress: → %s", where(rec))
	}
	return b.String()
}

// networkLabel is "network NAME (VNI N)", or for a datagram that matched
// none, "no network (VNI N)" when its header holds one.
func networkLabel(rec *record) string {
	if rec.network != "" {
		return fmt.Sprintf("network %s (VNI %d)", rec.network, rec.vni)
	}
	if vni, ok := recordVNI(rec); ok {
		return fmt.Sprintf("no network (VNI %d)", vni)
	}
	return "no network"
}

// recordVNI is the VNI of rec: its network's, or read from a datagram
// that matched no network.
func recordVNI(rec *record) (uint32, bool) {
	if rec.network != "" {
		return rec.vni, true
	}
	if !rec.underlay {
		return 0, false
	}
	vni, err := vtep.Parse(rec.data, false)
	return vni, err == nil
}

// where is "port NAME" or "vtep ADDR" for the far end of rec.
func where(rec *record) string {
	if rec.underlay {
		return "vtep " + addrString(rec.remote.Addr())
	}
	return "port " + rec.port
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return "?"
	}
	return a.Unmap().String()
}
