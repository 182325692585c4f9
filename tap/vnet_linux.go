package tap

import (
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vxswitch/vxswitch/internal/csum"
)

// offloads are what a vnet-header TAP asks the kernel for: checksum offload
// and TCP segmentation offload, so the kernel hands over up to 64 KiB TCP
// super-frames that Read splits into MTU-sized frames.
const offloads = unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6 | unix.TUN_F_TSO_ECN

// offloadsUSO adds UDP segmentation offload (Linux 6.2 and later): writes
// may then carry UDP super-frames the kernel cuts into datagrams, and
// reads may hand them over. Not in x/sys yet: TUN_F_USO4 and TUN_F_USO6
// from <linux/if_tun.h>.
const offloadsUSO = offloads | 0x20 | 0x40

// vnetState is the writers' state of a TAP opened with IFF_VNET_HDR; each
// queue has its own reader's (queue.rbuf).
type vnetState struct {
	// uso is set when the kernel took offloadsUSO: WriteCoalesce then
	// merges UDP datagrams too, and Read segments UDP super-frames.
	uso bool
	// gsoWrites counts merged frames written, gsoSegs the segments in
	// them.
	gsoWrites, gsoSegs atomic.Uint64

	wmu     sync.Mutex // serialises writers: the fields below are theirs
	gro     grow
	groQ    *queue // the queue the segments gro holds go out on
	whdr    [vnetHdrLen]byte
	whdrGSO [vnetHdrLen]byte
	wiov    [2]unix.Iovec
	wn      int
	errno   syscall.Errno
	wfn     func(fd uintptr) bool
	// yieldDue is set when a merged UDP write put a run of datagrams in
	// a container's socket: unlockW then gives up the CPU.
	yieldDue bool
}

func newVnetState() *vnetState {
	v := &vnetState{}
	v.gro.buf = make([]byte, vnetHdrLen+65536)
	v.wfn = v.writev
	return v
}

// readVnet reads one super-frame and returns it as frames in bufs: TSO
// frames segmented, partial checksums completed. A frame whose offload
// header does not fit its bytes is dropped and the read retried.
func (q *queue) readVnet(bufs [][]byte, sizes []int, offset int) (int, error) {
	t := q.t
	got := 0
	for {
		n := q.pending
		q.pending = 0
		if n == 0 {
			var err error
			if got == 0 {
				n, err = q.readWait(q.rbuf)
			} else if n, err = q.readNow(q.rbuf); errors.Is(err, unix.EAGAIN) {
				return got, nil
			}
			if err != nil {
				if got > 0 { // the next Read meets it again
					return got, nil
				}
				return 0, t.ioError(q.readOp, err)
			}
		}
		k, err := q.decodeVnet(q.rbuf[:n], bufs[got:], sizes[got:], offset)
		switch {
		case errors.Is(err, errNoRoom) && got > 0:
			q.pending = n // first in the next batch
			return got, nil
		case err != nil:
			t.badOffload.Add(1)
		default:
			q.noteFlow(q.rbuf[vnetHdrLen:n])
		}
		if got += k; got == len(bufs) {
			return got, nil
		}
	}
}

// decodeVnet hands out one frame read with its virtio header: a TSO
// super-frame as its segments, a frame with a partial checksum finished.
// It returns how many buffers it filled.
func (q *queue) decodeVnet(b []byte, bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(b) < vnetHdrLen+ethHeaderLen {
		return 0, errBadGSO
	}
	h := decodeVnetHdr(b)
	frame := b[vnetHdrLen:]
	switch h.gsoType &^ vnetGSOECN {
	case vnetGSONone:
		if h.flags&vnetFlagNeedsCsum != 0 {
			if err := completeChecksum(frame, h); err != nil {
				return 0, err
			}
		}
		if offset+len(frame) > len(bufs[0]) {
			return 0, errBadGSO
		}
		sizes[0] = copy(bufs[0][offset:], frame)
		return 1, nil
	case vnetGSOTCPv4, vnetGSOTCPv6:
		return segmentTCP(frame, h, bufs, sizes, offset)
	case vnetGSOUDPL4:
		if q.t.vnet.uso {
			return segmentUDP(frame, h, bufs, sizes, offset)
		}
	}
	return 0, errBadGSO // an offload that was not asked for
}

// writeVnet writes frame behind an all-zero virtio header (no offload),
// after any segments WriteCoalesce holds.
func (t *TAP) writeVnet(q *queue, frame []byte) (int, error) {
	v := t.vnet
	v.wmu.Lock()
	defer t.unlockW()
	if err := t.flushLocked(); err != nil {
		return 0, err
	}
	return t.writevLocked(q, v.whdr[:], frame)
}

// WriteCoalesce writes frame like Write, except that a TCP segment may be
// held back to be merged with the segments that follow it into one GSO
// super-frame; Flush writes what is held. Frames are never reordered: one
// that does not merge first flushes what is held. An error may belong to
// an earlier, held frame. Either way a checksum a sending kernel left
// partial is finished (see csum.FixPartial); without offloads nothing is
// held.
func (t *TAP) WriteCoalesce(frame []byte) (int, error) {
	v := t.vnet
	if v == nil {
		csum.FixPartial(frame)
		return t.Write(frame)
	}
	v.wmu.Lock()
	defer t.unlockW()
	s, ok := parseSegment(frame, v.uso)
	// A frame whose checksum a sending kernel left for hardware to finish
	// (it crossed a veth inside VXLAN) is finished here, as a NIC would; a
	// corrupt one is never merged, and the kernel drops it.
	mergeable := ok && (checksumOK(frame, s) || csum.FixPartial(frame))
	if !ok {
		csum.FixPartial(frame)
	}
	if mergeable && v.gro.canAppend(frame, s) {
		v.gro.add(frame, s)
		return len(frame), nil
	}
	if err := t.flushLocked(); err != nil {
		return 0, err
	}
	if mergeable {
		// Segments merge only within one flow: the first picks the queue.
		v.gro.start(frame, s)
		v.groQ = t.txQueue(frame)
		return len(frame), nil
	}
	return t.writevLocked(t.txQueue(frame), v.whdr[:], frame)
}

// Flush writes the segments WriteCoalesce holds, merged.
func (t *TAP) Flush() error {
	v := t.vnet
	if v == nil {
		return nil
	}
	v.wmu.Lock()
	defer t.unlockW()
	return t.flushLocked()
}

func (t *TAP) flushLocked() error {
	if t.vnet.gro.segs == 0 {
		return nil
	}
	v := t.vnet
	segs, udp := v.gro.segs, v.gro.udp
	b := v.gro.finish()
	_, err := t.writevLocked(v.groQ, b[:vnetHdrLen], b[vnetHdrLen:])
	if err == nil && segs > 1 {
		v.gsoWrites.Add(1)
		v.gsoSegs.Add(uint64(segs))
		v.yieldDue = v.yieldDue || udp
	}
	return err
}

// unlockW releases the writers' lock and then, if a merged UDP write came
// before, gives up the CPU (sched_yield).
//
// That write put up to groMaxUDP datagrams in a container's socket at
// once, and woke its reader. UDP has no flow control: when that reader
// shares this CPU, the scheduler lets the writer run on and write more,
// and the socket's buffer overflows before the reader gets the CPU
// (measured with iperf3's receiver on the writer's CPU: about 1% of 200
// kpps lost in its socket without the yield, under 0.01% with it).
// Yielding after each run hands the CPU to the woken reader, as a NIC
// driver's NAPI budget hands it back to user space; with nothing else
// runnable here it returns at once. TCP runs are left alone: the
// receiver's window paces them.
func (t *TAP) unlockW() {
	v := t.vnet
	yield := v.yieldDue
	v.yieldDue = false
	v.wmu.Unlock()
	if yield {
		yieldCPU()
	}
}

// yieldCPU gives up the CPU; tests replace it to count calls.
var yieldCPU = func() { unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }

// writevLocked writes one virtio header and one frame in one writev on q.
func (t *TAP) writevLocked(q *queue, hdr, frame []byte) (int, error) {
	v := t.vnet
	v.wiov[0].Base = unsafe.SliceData(hdr)
	v.wiov[0].SetLen(len(hdr))
	v.wiov[1].Base = unsafe.SliceData(frame)
	v.wiov[1].SetLen(len(frame))
	if err := q.raw.Write(v.wfn); err != nil {
		return 0, t.ioError("write", err)
	}
	if v.errno != 0 {
		return 0, t.ioError("write", v.errno)
	}
	return v.wn - len(hdr), nil
}

func (v *vnetState) writev(fd uintptr) bool {
	n, _, errno := unix.RawSyscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&v.wiov[0])), 2)
	if errno == unix.EAGAIN {
		return false
	}
	v.wn, v.errno = int(n), errno
	return true
}
