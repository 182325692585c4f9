package admin

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	vswitch "github.com/vxswitch/vxswitch/switch"
)

// Bounds of one capture's or trace's queue. Observe runs on the data path:
// when the queue is full the event is dropped and counted, never waited
// for.
const (
	queuePackets = 4096
	queueBytes   = 16 << 20
	// pooledBuf is the size of pooled copy buffers; larger frames get
	// their own.
	pooledBuf = 2048
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, pooledBuf); return &b }}

// record is a copy of one vswitch.Event, made inside Observe.
type record struct {
	time          time.Time
	dir           vswitch.Direction
	underlay      bool
	port, network string // the switch's own strings: no copy needed
	vni           uint32
	local, remote netip.AddrPort
	verdict       vswitch.Verdict
	buf           *[]byte // from bufPool, or nil
	data          []byte
}

func (r *record) release() {
	if r.buf != nil {
		bufPool.Put(r.buf)
	}
	r.buf, r.data = nil, nil
}

// filter selects the events a session wants.
type filter struct {
	port, network string
	underlay      bool // underlay events only
	inOnly        bool // DirIn only (traces)
	// networkOnly keeps only events that matched a network: a capture of
	// every network's frames has no use for datagrams without one.
	networkOnly bool
}

func (f *filter) match(ev *vswitch.Event) bool {
	switch {
	case f.inOnly && ev.Dir != vswitch.DirIn:
		return false
	case f.underlay && !ev.Underlay:
		return false
	case f.port != "" && (ev.Underlay || ev.Port != f.port):
		return false
	case f.network != "" && ev.Network != f.network:
		return false
	case f.networkOnly && ev.Network == "":
		return false
	}
	return true
}

// session is one running capture or trace: a switch observer that copies
// matching events into a bounded queue, drained by the HTTP handler.
type session struct {
	id     uint64
	filter filter
	q      chan record
	queued atomic.Int64 // bytes in q
	drops  atomic.Uint64
	total  *atomic.Uint64 // the server's capture_drops

	stopOnce sync.Once
	stop     chan struct{} // closed by POST /v1/sessions/{id}/stop
}

var _ vswitch.Observer = (*session)(nil)

func newSession(id uint64, f filter, total *atomic.Uint64) *session {
	return &session{id: id, filter: f, q: make(chan record, queuePackets), total: total, stop: make(chan struct{})}
}

// Observe copies a matching event into the queue, or counts a drop when
// the queue is full. It never blocks.
func (s *session) Observe(ev *vswitch.Event) {
	if !s.filter.match(ev) {
		return
	}
	n := len(ev.Data)
	if len(s.q) == cap(s.q) {
		s.dropped()
		return
	}
	if s.queued.Add(int64(n)) > queueBytes {
		s.queued.Add(-int64(n))
		s.dropped()
		return
	}
	r := record{
		time: ev.Time, dir: ev.Dir, underlay: ev.Underlay, port: ev.Port, network: ev.Network,
		vni: ev.VNI, local: ev.Local, remote: ev.Remote, verdict: ev.Verdict,
	}
	if n <= pooledBuf {
		r.buf = bufPool.Get().(*[]byte)
		r.data = (*r.buf)[:n]
	} else {
		r.data = make([]byte, n)
	}
	copy(r.data, ev.Data)
	select {
	case s.q <- r:
	default:
		s.queued.Add(-int64(n))
		r.release()
		s.dropped()
	}
}

func (s *session) dropped() {
	s.drops.Add(1)
	s.total.Add(1)
}

// take marks r as taken off the queue.
func (s *session) take(r *record) { s.queued.Add(-int64(len(r.data))) }

func (s *session) requestStop() { s.stopOnce.Do(func() { close(s.stop) }) }

// drain discards what is left in the queue.
func (s *session) drain() {
	for {
		select {
		case r := <-s.q:
			s.take(&r)
			r.release()
		default:
			return
		}
	}
}
