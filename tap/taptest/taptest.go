// Package taptest provides an in-memory tap.Device for tests.
package taptest

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/vxswitch/vxswitch/tap"
)

// sentBuffer is how many written frames Sent holds before Write counts
// overflows.
const sentBuffer = 1024

// Device is an in-memory tap.Device: Inject plays the container sending a
// frame, Sent and Drain show what the switch wrote. Safe for concurrent use.
type Device struct {
	// Discard makes Write count frames and bytes without copying or queueing
	// them, so benchmarks through the fake allocate nothing. Set it before
	// the device is used.
	Discard bool

	name    string
	goneErr error // built once so Read and Write allocate nothing on it

	mu sync.Mutex
	in [][]byte // injected frames not yet read; guarded by mu

	wake     chan struct{} // one token: frames may be waiting in in
	done     chan struct{} // closed by Close or Vanish
	doneOnce sync.Once
	closed   atomic.Bool
	gone     atomic.Bool

	sent      chan []byte
	frames    atomic.Uint64
	bytes     atomic.Uint64
	overflows atomic.Uint64
}

var _ tap.Device = (*Device)(nil)

// New returns an open Device; name appears in its errors.
func New(name string) *Device {
	return &Device{
		name:    name,
		goneErr: fmt.Errorf("taptest %q: %w", name, tap.ErrGone),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		sent:    make(chan []byte, sentBuffer),
	}
}

// Name returns the name given to New.
func (d *Device) Name() string { return d.name }

// Inject queues a copy of frame as if the container had sent it; a Read
// returns it. Frames injected after Close or Vanish are dropped.
func (d *Device) Inject(frame []byte) {
	if d.closed.Load() || d.gone.Load() {
		return
	}
	f := append([]byte(nil), frame...)
	d.mu.Lock()
	d.in = append(d.in, f)
	d.mu.Unlock()
	d.signal()
}

func (d *Device) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Read returns up to len(bufs) injected frames, blocking until there is one
// or the device is closed (tap.ErrClosed) or vanished (an error wrapping
// tap.ErrGone). Like the kernel, it truncates a frame that does not fit.
func (d *Device) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	for {
		if err := d.err(); err != nil {
			return 0, err
		}
		d.mu.Lock()
		n := 0
		for n < len(bufs) && n < len(d.in) {
			sizes[n] = copy(bufs[n][offset:], d.in[n])
			n++
		}
		// Shift rather than reslice, so the queue keeps its capacity and
		// Inject stops allocating once it has grown.
		rest := copy(d.in, d.in[n:])
		clear(d.in[rest:])
		d.in = d.in[:rest]
		more := len(d.in) > 0
		d.mu.Unlock()
		if more {
			d.signal() // another reader may be waiting
		}
		if n > 0 {
			return n, nil
		}
		select {
		case <-d.wake:
		case <-d.done:
		}
	}
}

// Write records a copy of frame for Sent and Drain, or with Discard only
// counts it. It never blocks: when Sent's buffer is full it counts an
// overflow and drops the frame.
func (d *Device) Write(frame []byte) (int, error) {
	if err := d.err(); err != nil {
		return 0, err
	}
	d.frames.Add(1)
	d.bytes.Add(uint64(len(frame)))
	if d.Discard {
		return len(frame), nil
	}
	select {
	case d.sent <- append([]byte(nil), frame...):
	default:
		d.overflows.Add(1)
	}
	return len(frame), nil
}

func (d *Device) err() error {
	if d.closed.Load() {
		return tap.ErrClosed
	}
	if d.gone.Load() {
		return d.goneErr
	}
	return nil
}

// Close makes pending and future Reads and Writes return tap.ErrClosed. It
// is idempotent.
func (d *Device) Close() error {
	d.closed.Store(true)
	d.finish()
	return nil
}

// Vanish simulates the container's namespace dying: pending and future Reads
// and Writes return an error wrapping tap.ErrGone, and queued frames are lost.
func (d *Device) Vanish() {
	d.gone.Store(true)
	d.mu.Lock()
	d.in = nil
	d.mu.Unlock()
	d.finish()
}

func (d *Device) finish() { d.doneOnce.Do(func() { close(d.done) }) }

// Sent returns the frames written so far, in order, each a copy.
func (d *Device) Sent() <-chan []byte { return d.sent }

// Drain returns, without blocking, every written frame not yet received from
// Sent.
func (d *Device) Drain() [][]byte {
	var out [][]byte
	for {
		select {
		case f := <-d.sent:
			out = append(out, f)
		default:
			return out
		}
	}
}

// Written returns how many frames and bytes Write accepted, including
// overflows and discarded frames.
func (d *Device) Written() (frames, bytes uint64) { return d.frames.Load(), d.bytes.Load() }

// Overflows returns how many written frames were dropped because Sent's
// buffer was full.
func (d *Device) Overflows() uint64 { return d.overflows.Load() }
