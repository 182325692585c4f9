package fdb

import "strconv"

// Kind is the kind of a forwarding destination.
type Kind uint8

// Destination kinds. The zero Kind names no destination; Learn refuses it.
const (
	KindNone Kind = iota
	KindPort
	KindVTEP
)

// String returns "none", "port", "vtep", or "kind(N)" for an unknown kind.
func (k Kind) String() string {
	switch k {
	case KindNone:
		return "none"
	case KindPort:
		return "port"
	case KindVTEP:
		return "vtep"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Dest says where a MAC lives: a local port or a remote VTEP, named by a
// small ID the switch assigns (a port index, or an index into the switch's
// peer table). It packs into a uint64 so an entry's destination can be
// replaced atomically while readers look it up without a lock.
type Dest struct {
	Kind Kind
	ID   uint32
}

// String returns "port 3", "vtep 1", or "none" for the zero Dest.
func (d Dest) String() string {
	if d.Kind == KindNone {
		return "none"
	}
	return d.Kind.String() + " " + strconv.FormatUint(uint64(d.ID), 10)
}

func (d Dest) valid() bool { return d.Kind == KindPort || d.Kind == KindVTEP }

func (d Dest) pack() uint64 { return uint64(d.Kind)<<32 | uint64(d.ID) }

func unpackDest(v uint64) Dest { return Dest{Kind: Kind(v >> 32), ID: uint32(v)} }
