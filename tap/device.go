// Package tap opens TAP devices inside container network namespaces and reads and writes Ethernet frames on them.
package tap

import "errors"

// Device is one Ethernet port as the switch sees it. Implemented by *TAP and
// by taptest.Device.
type Device interface {
	// Read reads up to len(bufs) frames, blocking until at least one is
	// available. Frame i is written to bufs[i][offset:] and its length stored
	// in sizes[i]; offset leaves headroom for the caller to prepend headers in
	// place. A frame longer than bufs[i][offset:] is truncated (the kernel
	// does the same), so size the buffers for MTU + 18 (Ethernet header and
	// one 802.1Q tag) past offset. Returns the number of frames read. After
	// Close it returns ErrClosed; when the device has vanished (its namespace
	// or link was deleted) it returns an error wrapping ErrGone. Both are
	// final: the caller should stop reading.
	Read(bufs [][]byte, sizes []int, offset int) (int, error)

	// Write writes one Ethernet frame. Safe for concurrent use (each write(2)
	// on a TAP is one frame). Errors are per-frame unless they are ErrClosed
	// or wrap ErrGone.
	Write(frame []byte) (int, error)

	// Close releases the device; a blocked Read returns ErrClosed.
	Close() error
}

// Reader reads the frames of one queue of a multi-queue TAP (see
// TAP.Readers). Read behaves as Device.Read does, for the frames the kernel
// put on this queue; BatchSize is how many buffers one Read can fill. Each
// Reader has its own read state: drive each from one goroutine, and
// different Readers from different goroutines at once.
type Reader interface {
	Read(bufs [][]byte, sizes []int, offset int) (int, error)
	BatchSize() int
}

var (
	// ErrClosed is returned by Read and Write after Close.
	ErrClosed = errors.New("tap: device closed")
	// ErrGone is wrapped by the error Read and Write return once the
	// device's network namespace or link has been deleted.
	ErrGone = errors.New("tap: device gone (namespace or link deleted)")
)
