package vswitch

// Reason names why a frame was dropped. The names are stable: they appear in
// logs, counters and (later) the admin API.
type Reason uint8

// Drop reasons. Every frame the switch receives is either forwarded,
// flooded, proxied, or dropped under exactly one of these.
const (
	ReasonNone Reason = iota
	// ReasonVXLANRunt: underlay datagram shorter than the VXLAN header.
	ReasonVXLANRunt
	// ReasonVXLANNoIFlag: VXLAN header without the I flag.
	ReasonVXLANNoIFlag
	// ReasonVXLANReservedBits: reserved bits set and underlay.strict on.
	ReasonVXLANReservedBits
	// ReasonUnknownVNI: no network has the datagram's VNI.
	ReasonUnknownVNI
	// ReasonUnknownPeer: the sending VTEP is neither in the network's flood
	// list nor in a static entry, and allow_unknown_peers is off.
	ReasonUnknownPeer
	// ReasonRunt: Ethernet frame shorter than its 14-byte header.
	ReasonRunt
	// ReasonBadSrcMAC: source MAC is multicast, broadcast or zero.
	ReasonBadSrcMAC
	// ReasonOversize: the frame does not fit the egress MTU (underlay MTU
	// after encapsulation, or the port's MTU); it is dropped, never
	// truncated or fragmented.
	ReasonOversize
	// ReasonSamePort: the destination MAC lives on the ingress port.
	ReasonSamePort
	// ReasonSplitHorizon: a frame from the underlay whose destination lives
	// behind a remote VTEP; frames never go back to the underlay.
	ReasonSplitHorizon
	// ReasonNoDestination: a flood with nowhere to go (no other local port
	// and, from a port, an empty flood list).
	ReasonNoDestination
	// ReasonPortDown: the destination port is gone or its write failed.
	ReasonPortDown
	// ReasonUnderlayError: sending to the underlay failed.
	ReasonUnderlayError
	numReasons
)

var reasonNames = [numReasons]string{
	ReasonNone:              "none",
	ReasonVXLANRunt:         "vxlan_runt",
	ReasonVXLANNoIFlag:      "vxlan_no_i_flag",
	ReasonVXLANReservedBits: "vxlan_reserved_bits",
	ReasonUnknownVNI:        "unknown_vni",
	ReasonUnknownPeer:       "unknown_peer",
	ReasonRunt:              "runt",
	ReasonBadSrcMAC:         "bad_src_mac",
	ReasonOversize:          "oversize",
	ReasonSamePort:          "same_port",
	ReasonSplitHorizon:      "split_horizon",
	ReasonNoDestination:     "no_destination",
	ReasonPortDown:          "port_down",
	ReasonUnderlayError:     "underlay_tx_error",
}

// String returns the reason's stable name.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown_reason"
}

// Reasons lists every drop reason except ReasonNone, in a fixed order.
func Reasons() []Reason {
	rs := make([]Reason, 0, numReasons-1)
	for r := ReasonNone + 1; r < numReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}
