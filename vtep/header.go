package vtep

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Sizes and defaults from RFC 7348.
const (
	// HeaderLen is the size of the VXLAN header (RFC 7348 §5).
	HeaderLen = 8
	// DefaultPort is the IANA-assigned VXLAN UDP port (RFC 7348 §5).
	DefaultPort = 4789
	// FlagI is the I flag: "MUST be set to 1 for a valid VXLAN Network ID (VNI)".
	FlagI = 0x08
	// MaxVNI is the largest 24-bit VNI.
	MaxVNI = 1<<24 - 1
	// UDPHeaderLen is the size of the outer UDP header.
	UDPHeaderLen = 8
	// Overhead4 and Overhead6 are the bytes VXLAN adds in front of an inner
	// frame's Ethernet header on an IPv4 or IPv6 underlay: outer Ethernet
	// (14), IP (20 or 40), UDP (8) and VXLAN (8). The overlay MTU is the
	// underlay MTU minus this (the outer Ethernet header is not part of the
	// underlay MTU, the inner one is part of the overhead).
	Overhead4 = 14 + 20 + 8 + 8
	Overhead6 = 14 + 40 + 8 + 8
)

// Errors returned by Parse. Each names one way a datagram is not VXLAN.
var (
	// ErrRunt: the datagram is shorter than the 8-byte VXLAN header.
	ErrRunt = errors.New("vxlan: datagram shorter than the 8-byte header")
	// ErrNoIFlag: the I flag is clear, so the VNI is not valid (RFC 7348 §5).
	ErrNoIFlag = errors.New("vxlan: I flag not set")
	// ErrReservedBits: a reserved bit is set and the decoder is strict.
	ErrReservedBits = errors.New("vxlan: reserved bits set")
	// ErrVNIRange: a VNI does not fit in 24 bits.
	ErrVNIRange = errors.New("vxlan: VNI out of range 0..16777215")
)

// PutHeader writes a VXLAN header for vni into b[:HeaderLen]: flags 0x08,
// reserved fields zero, the 24-bit VNI in bytes 4–6. It panics if b is
// shorter than HeaderLen, like binary.BigEndian.PutUint32.
func PutHeader(b []byte, vni uint32) {
	_ = b[7]
	b[0], b[1], b[2], b[3] = FlagI, 0, 0, 0
	// Bytes 4–7 are VNI<<8: the low byte is the second reserved field.
	binary.BigEndian.PutUint32(b[4:8], (vni&MaxVNI)<<8)
}

// Parse validates the VXLAN header at the start of b and returns its VNI;
// the inner frame is b[HeaderLen:]. RFC 7348 §5 says reserved bits "MUST be
// ignored on receipt"; with strict set, Parse instead rejects them as the
// Linux kernel does.
func Parse(b []byte, strict bool) (vni uint32, err error) {
	if len(b) < HeaderLen {
		return 0, ErrRunt
	}
	if b[0]&FlagI == 0 {
		return 0, ErrNoIFlag
	}
	if strict && (b[0]&^FlagI != 0 || b[1]|b[2]|b[3]|b[7] != 0) {
		return 0, ErrReservedBits
	}
	// Never read the VNI as Uint32(b[3:]): byte 3 is reserved.
	return uint32(b[4])<<16 | uint32(b[5])<<8 | uint32(b[6]), nil
}

// Header is a decoded VXLAN header with every field, reserved ones included,
// for tools that show or mutate headers (explain, fuzzing). The forwarding
// path uses PutHeader and Parse.
type Header struct {
	Flags     uint8
	Reserved1 [3]byte
	VNI       uint32
	Reserved2 uint8
}

// MarshalBinary encodes h as 8 bytes, reserved fields as given.
func (h Header) MarshalBinary() ([]byte, error) {
	if h.VNI > MaxVNI {
		return nil, fmt.Errorf("marshal vxlan header: VNI %d: %w", h.VNI, ErrVNIRange)
	}
	b := make([]byte, HeaderLen)
	b[0] = h.Flags
	copy(b[1:4], h.Reserved1[:])
	binary.BigEndian.PutUint32(b[4:8], h.VNI<<8|uint32(h.Reserved2))
	return b, nil
}

// UnmarshalBinary decodes the first 8 bytes of b without judging the flags.
func (h *Header) UnmarshalBinary(b []byte) error {
	if len(b) < HeaderLen {
		return ErrRunt
	}
	h.Flags = b[0]
	copy(h.Reserved1[:], b[1:4])
	v := binary.BigEndian.Uint32(b[4:8])
	h.VNI, h.Reserved2 = v>>8, uint8(v)
	return nil
}
