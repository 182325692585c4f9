package admin

import (
	"fmt"
	"time"

	vswitch "github.com/vxswitch/vxswitch/switch"
)

// The JSON documents of the API. Field names are snake_case and stable;
// durations are seconds as numbers, null where they do not apply.

// FDBEntry is one MAC table row (GET /v1/fdb).
type FDBEntry struct {
	Network string `json:"network"`
	VNI     uint32 `json:"vni"`
	MAC     string `json:"mac"`
	// Where is "port NAME" or "vtep ADDR".
	Where string `json:"where"`
	// Type is "learned" or "static".
	Type string `json:"type"`
	// AgeSeconds is the time since the entry was last refreshed; null for
	// static entries, which never age.
	AgeSeconds *float64 `json:"age_seconds"`
	// Source says how the entry got there: "learned from port NAME",
	// "learned from vtep ADDR", or "config" for static entries.
	Source string `json:"source"`
}

// NeighEntry is one neighbor table row (GET /v1/neigh).
type NeighEntry struct {
	Network    string   `json:"network"`
	VNI        uint32   `json:"vni"`
	IP         string   `json:"ip"`
	MAC        string   `json:"mac"`
	Type       string   `json:"type"`
	AgeSeconds *float64 `json:"age_seconds"`
}

// PortEntry is one local port (GET /v1/ports).
type PortEntry struct {
	Name     string `json:"name"`
	Network  string `json:"network"`
	VNI      uint32 `json:"vni"`
	Netns    string `json:"netns"`
	IfName   string `json:"ifname"`
	MAC      string `json:"mac"`
	MTU      int    `json:"mtu"`
	RxFrames uint64 `json:"rx_frames"`
	RxBytes  uint64 `json:"rx_bytes"`
	TxFrames uint64 `json:"tx_frames"`
	TxBytes  uint64 `json:"tx_bytes"`
	TxErrors uint64 `json:"tx_errors"`
	// Drops counts frames the port could not take (oversize, write errors).
	Drops uint64 `json:"drops"`
	// Offload is set for a TAP: its mode and offload counters.
	Offload *PortOffload `json:"offload,omitempty"`
}

// PortOffload is a TAP port's offload mode and counters.
type PortOffload struct {
	// Mode names the offloads and queues the TAP has, and what the
	// kernel refused: "vnet_hdr (tso4, tso6, uso, csum), 2 queues".
	Mode string `json:"mode"`
	// GSOWrites counts merged super-frames written to the port (TCP
	// segments, UDP datagrams of one flow), GSOSegments what they held.
	GSOWrites   uint64 `json:"gso_writes"`
	GSOSegments uint64 `json:"gso_segments"`
	// BadOffload counts super-frames read from the port and dropped:
	// their virtio header did not match their bytes.
	BadOffload uint64 `json:"bad_offload"`
}

// PeerEntry is one remote VTEP (GET /v1/peers).
type PeerEntry struct {
	VTEP string `json:"vtep"`
	// Networks whose flood list or static entries name the VTEP, and those
	// with MACs learned behind it.
	Networks []string `json:"networks"`
	// LastSeenSeconds is the time since its last datagram; null if none
	// came yet.
	LastSeenSeconds *float64 `json:"last_seen_seconds"`
	RxDatagrams     uint64   `json:"rx_datagrams"`
	RxBytes         uint64   `json:"rx_bytes"`
	TxDatagrams     uint64   `json:"tx_datagrams"`
	TxBytes         uint64   `json:"tx_bytes"`
	TxErrors        uint64   `json:"tx_errors"`
}

// Counters are one scope's frame outcomes. Every frame received ends in
// exactly one of forwarded, flooded, proxied or a drop reason.
type Counters struct {
	Received  uint64 `json:"received"`
	Forwarded uint64 `json:"forwarded"`
	Flooded   uint64 `json:"flooded"`
	Proxied   uint64 `json:"proxied"`
	Dropped   uint64 `json:"dropped"`
	// Drops has every drop reason (vswitch.Reasons), zero or not.
	Drops map[string]uint64 `json:"drops"`
	// NotLearned counts source MACs not learned because the table was at
	// max_macs; their frames were still forwarded.
	NotLearned uint64 `json:"not_learned_table_full"`
}

// NetworkStats is one network's counters and table sizes.
type NetworkStats struct {
	Name string `json:"name"`
	VNI  uint32 `json:"vni"`
	Counters
	MACs      int `json:"macs"`
	Neighbors int `json:"neighbors"`
}

// TotalStats sums every network and the datagrams that matched none.
type TotalStats struct {
	Counters
	MACs      int `json:"macs"`
	Neighbors int `json:"neighbors"`
}

// Stats is GET /v1/stats.
type Stats struct {
	Networks []NetworkStats `json:"networks"`
	// Unmatched counts datagrams that matched no network (bad VXLAN header,
	// unknown VNI).
	Unmatched Counters   `json:"unmatched"`
	Total     TotalStats `json:"total"`
	// UnderlayTxErrors counts datagrams the kernel refused after their
	// frames were counted as forwarded (batched sends fail late).
	UnderlayTxErrors uint64 `json:"underlay_tx_errors"`
	// Underlay is how the underlay sends and receives, and what its UDP
	// offloads did; absent when the switch's underlay does not tell.
	Underlay *UnderlayStats `json:"underlay,omitempty"`
	// CaptureDrops counts events that captures and traces could not keep
	// up with since the switch started; forwarding never waits for them.
	CaptureDrops uint64 `json:"capture_drops"`
	// Sessions is the number of captures and traces running now.
	Sessions int `json:"sessions"`
}

// UnderlayStats is the underlay's mode and UDP offload counters.
type UnderlayStats struct {
	Mode string `json:"mode"`
	// GSOMessages runs went out as one UDP GSO send each, GSODatagrams
	// datagrams between them.
	GSOMessages  uint64 `json:"gso_messages"`
	GSODatagrams uint64 `json:"gso_datagrams"`
	// GRORuns receives held a run of datagrams (UDP GRO), GRODatagrams
	// datagrams between them.
	GRORuns      uint64 `json:"gro_runs"`
	GRODatagrams uint64 `json:"gro_datagrams"`
	// GSOSockets per-source-port sockets are open for GSO; for
	// GSOPortsRefused source ports none could be opened, and their runs
	// go out datagram by datagram.
	GSOSockets      int `json:"gso_sockets"`
	GSOPortsRefused int `json:"gso_ports_refused"`
}

// ExplainRequest is the body of POST /v1/explain: a frame as if it arrived
// on Port, or, with Underlay, a VXLAN datagram (UDP payload) from From.
type ExplainRequest struct {
	Port     string `json:"port,omitempty"`
	Frame    string `json:"frame,omitempty"` // hex
	Underlay bool   `json:"underlay,omitempty"`
	From     string `json:"from,omitempty"`     // ADDR or ADDR:PORT ([ADDR]:PORT for IPv6)
	Datagram string `json:"datagram,omitempty"` // hex
}

// Explanation is the answer to POST /v1/explain.
type Explanation struct {
	Steps   []string `json:"steps"`
	Verdict Verdict  `json:"verdict"`
}

// Verdict is the switch's decision for one frame.
type Verdict struct {
	// Action is drop, port, vtep, flood or proxy.
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"` // drop reason
	Port   string `json:"port,omitempty"`   // egress port of port and proxy
	VTEP   string `json:"vtep,omitempty"`   // destination of vtep
	Copies int    `json:"copies,omitempty"` // copies a flood sent
	// Decision is the verdict in words: "→ port c2-eth1", "→ vtep
	// 192.0.2.2", "flood ×3", "proxied" or "drop: unknown_vni".
	Decision string `json:"decision"`
}

// TraceEvent is one line of GET /v1/trace (JSON Lines): a frame that
// entered the switch and what became of it.
type TraceEvent struct {
	Time time.Time `json:"time"`
	// Ingress is "port NAME" or "vtep ADDR".
	Ingress string `json:"ingress"`
	// Network is empty, and VNI null, when a datagram matched no network
	// (VNI is set if its header could be read).
	Network string  `json:"network,omitempty"`
	VNI     *uint32 `json:"vni"`
	// Src and Dst are the (inner) frame's MACs; empty for runts.
	Src     string  `json:"src,omitempty"`
	Dst     string  `json:"dst,omitempty"`
	Length  int     `json:"length"`
	Summary string  `json:"summary"`
	Verdict Verdict `json:"verdict"`
}

// errorBody is every error response: {"error": "..."}.
type errorBody struct {
	Error string `json:"error"`
}

// verdictOf describes v for the API.
func verdictOf(v vswitch.Verdict) Verdict {
	out := Verdict{Action: v.Action.String(), Decision: Decision(v)}
	switch v.Action {
	case vswitch.ActionDrop:
		out.Reason = v.Reason.String()
	case vswitch.ActionPort, vswitch.ActionProxy:
		if v.Port != nil {
			out.Port = v.Port.Name()
		}
	case vswitch.ActionVTEP:
		out.VTEP = v.VTEP.String()
	case vswitch.ActionFlood:
		out.Copies = v.Copies
	}
	return out
}

// Decision says what the switch did with a frame in the words captures,
// traces and explain use.
func Decision(v vswitch.Verdict) string {
	switch v.Action {
	case vswitch.ActionDrop:
		return "drop: " + v.Reason.String()
	case vswitch.ActionPort:
		if v.Port == nil {
			return "→ port"
		}
		return "→ port " + v.Port.Name()
	case vswitch.ActionVTEP:
		return "→ vtep " + v.VTEP.String()
	case vswitch.ActionFlood:
		return fmt.Sprintf("flood ×%d", v.Copies)
	case vswitch.ActionProxy:
		return "proxied"
	}
	return v.Action.String()
}

func seconds(d time.Duration) *float64 {
	s := d.Seconds()
	return &s
}
