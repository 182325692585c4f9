package tap

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"github.com/songgao/water"
	"golang.org/x/sys/unix"
)

// queue is one queue of a TAP: one /dev/net/tun file attached to the link.
// The kernel puts each frame the container sends on one queue; its reader,
// one goroutine, reads it through the queue's Read.
type queue struct {
	t    *TAP
	file *os.File // non-blocking, in Go's poller
	// raw is file's raw connection: frames are read and written through it
	// with RawSyscall (see readNow).
	raw syscall.RawConn
	// rbuf holds one super-frame with its virtio header with offloads on;
	// the queue's reader owns it.
	rbuf []byte
	// pending is the length of a frame in rbuf read but not yet handed
	// out: it did not fit the buffers left of the last batch.
	pending int
	// tryRead reads into tryBuf, waiting in the poller if tryWait is set;
	// tryN and tryErr are its result (tryErr EAGAIN when nothing is queued
	// and tryWait is not set).
	tryRead func(fd uintptr) bool
	tryBuf  []byte
	tryWait bool
	tryN    int
	tryErr  error
	// writeFn writes wBuf with one write(2), for writePlain under wmu;
	// wN and wErr are its result.
	wmu     sync.Mutex
	writeFn func(fd uintptr) bool
	wBuf    []byte
	wN      int
	wErr    error
	readOp  string // "read", or "read queue N" past the first queue
	index   uint32 // in TAP.queues
}

var _ Reader = (*queue)(nil)

// Read reads frames from this queue, as TAP.Read does from the first.
func (q *queue) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	if q.rbuf != nil {
		return q.readVnet(bufs, sizes, offset)
	}
	n, err := q.readWait(bufs[0][offset:])
	if err != nil {
		return 0, q.t.ioError(q.readOp, err)
	}
	sizes[0] = n
	q.noteFlow(bufs[0][offset : offset+n])
	return 1, nil
}

// Frames are read and written with RawSyscall (here, and in the virtio
// header TAP's writev): the tun files are non-blocking and waiting is left
// to Go's poller, and the runtime's own entry (Syscall, os.File) would
// wake its monitor thread ahead of the first frame after every idle spell;
// see package vtep.

// readNow reads one frame into b if one is queued, without waiting; it
// returns EAGAIN if none is.
func (q *queue) readNow(b []byte) (int, error) {
	q.tryBuf, q.tryWait = b, false
	if err := q.raw.Read(q.tryRead); err != nil {
		return 0, err
	}
	return q.tryN, q.tryErr
}

// readWait reads one frame into b, waiting in Go's poller until one is
// queued (or the file's read deadline passes, or it is closed).
func (q *queue) readWait(b []byte) (int, error) {
	q.tryBuf, q.tryWait = b, true
	if err := q.raw.Read(q.tryRead); err != nil {
		return 0, err
	}
	if q.tryN == 0 && q.tryErr == nil {
		return 0, io.EOF
	}
	return q.tryN, q.tryErr
}

// tryReadFn is q.tryRead: one read(2) into tryBuf. It asks the poller to
// wait only for readWait, and only when nothing was queued.
func (q *queue) tryReadFn(fd uintptr) bool {
	n, errno := rawIO(unix.SYS_READ, fd, q.tryBuf)
	if errno == unix.EAGAIN && q.tryWait {
		return false
	}
	q.tryN, q.tryErr = n, errOf(errno)
	return true
}

// writePlain writes one frame on q with one write(2), as readNow reads.
// Writers of one queue take turns (as os.File's Write makes them).
func (q *queue) writePlain(frame []byte) (int, error) {
	q.wmu.Lock()
	defer q.wmu.Unlock()
	q.wBuf = frame
	err := q.raw.Write(q.writeFn)
	q.wBuf = nil
	if err != nil {
		return 0, err
	}
	return q.wN, q.wErr
}

// writeOnce is q.writeFn; EAGAIN makes the poller wait.
func (q *queue) writeOnce(fd uintptr) bool {
	n, errno := rawIO(unix.SYS_WRITE, fd, q.wBuf)
	if errno == unix.EAGAIN {
		return false
	}
	q.wN, q.wErr = n, errOf(errno)
	return true
}

// rawIO makes one read(2) or write(2) (trap) of b on fd, again if a signal
// interrupts it.
func rawIO(trap, fd uintptr, b []byte) (int, syscall.Errno) {
	for {
		n, _, errno := unix.RawSyscall(trap, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		switch errno {
		case unix.EINTR:
		case 0:
			return int(n), 0
		default:
			return 0, errno
		}
	}
}

// errOf is errno as an error, nil for 0.
func errOf(errno syscall.Errno) error {
	if errno == 0 {
		return nil
	}
	return errno
}

// flowSlots is the size of TAP.flowQueue, a power of two. Flows that share
// a slot share a write queue; that costs spread, never order.
const flowSlots = 4096

// noteFlow records that frame's flow is read from q, for txQueue.
func (q *queue) noteFlow(frame []byte) {
	fq := q.t.flowQueue
	if fq == nil {
		return
	}
	h := flowHash(frame)
	if h == 0 {
		return
	}
	if s := &fq[h&(flowSlots-1)]; s.Load() != q.index+1 {
		s.Store(q.index + 1) // only on a change: the slot's line stays shared
	}
}

// BatchSize is TAP.BatchSize: every queue reads alike.
func (q *queue) BatchSize() int { return q.t.BatchSize() }

// tunSetIff is the TUNSETIFF ioctl that creates the TAP or attaches a
// further queue to it. A variable so tests can have the kernel refuse
// multi-queue.
var tunSetIff = func(fd int, ifr *unix.Ifreq) error {
	return unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
}

// openTun creates the TAP name with n queues, with virtio headers and
// offloads if vnet. With n > 1 it is created with IFF_MULTI_QUEUE and each
// further TUNSETIFF on the same name attaches one more queue. It returns
// the queue files, or an error and no files (closing those it opened, which
// deletes the link). The plain single-queue TAP is opened by water, as
// before multi-queue; water's MultiQueue would do for more queues, but on a
// failed TUNSETIFF (the refusal probed for) it leaks the descriptor, and it
// opens without O_CLOEXEC, so every other case is opened here.
func openTun(name string, n int, vnet bool) ([]*os.File, error) {
	if n == 1 && !vnet {
		ifce, err := water.New(water.Config{
			DeviceType:             water.TAP,
			PlatformSpecificParams: water.PlatformSpecificParams{Name: name},
		})
		if err != nil {
			return nil, err
		}
		file, ok := ifce.ReadWriteCloser.(*os.File)
		if !ok {
			ifce.Close()
			return nil, errors.New("water did not return an *os.File")
		}
		return []*os.File{file}, nil
	}
	flags := uint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if vnet {
		flags |= unix.IFF_VNET_HDR
	}
	if n > 1 {
		flags |= unix.IFF_MULTI_QUEUE
	}
	files := make([]*os.File, 0, n)
	for i := range n {
		// Offloads belong to the link: asking once, on creation, sets them
		// for every queue.
		f, err := openQueue(name, flags, vnet && i == 0)
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			if i > 0 {
				err = fmt.Errorf("attach queue %d of %d: %w", i+1, n, err)
			}
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// openQueue opens /dev/net/tun and attaches it to the TAP name with flags,
// creating the TAP if there is none by that name.
func openQueue(name string, flags uint16, offload bool) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(flags)
	if err := tunSetIff(fd, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF with %s: %w", tunFlagNames(flags), err)
	}
	if offload {
		if err := setOffload(fd, offloads); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("TUNSETOFFLOAD csum+tso: %w", err)
		}
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun"), nil
}

// setOffload is the TUNSETOFFLOAD ioctl. A variable so tests can have the
// kernel refuse UDP segmentation offload, as kernels before 6.2 do.
var setOffload = func(fd int, flags int) error {
	return unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, flags)
}

// askUSO asks the kernel for UDP segmentation offload on top of the
// offloads the TAP of f already has; nil means granted.
func askUSO(f *os.File) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	if err := raw.Control(func(fd uintptr) { ioErr = setOffload(int(fd), offloadsUSO) }); err != nil {
		return err
	}
	return ioErr
}

// tunFlagNames names the optional TUNSETIFF flags in flags, for errors.
func tunFlagNames(flags uint16) string {
	var names []string
	if flags&unix.IFF_VNET_HDR != 0 {
		names = append(names, "IFF_VNET_HDR")
	}
	if flags&unix.IFF_MULTI_QUEUE != 0 {
		names = append(names, "IFF_MULTI_QUEUE")
	}
	if names == nil {
		return "IFF_TAP"
	}
	return strings.Join(names, "|")
}

// txQueue returns the queue a frame is written through.
//
// With one queue that is the only one. With more, the choice matters even
// though every queue delivers to the same container stack: on each write
// the tun driver records which queue the frame's flow (by the kernel's
// symmetric flow hash) was written on, and sends the container's frames of
// that flow out on that queue (tun_flow_update and tun_automq_select_queue
// in drivers/net/tun.c). Writing everything through the first queue would
// pull every flow with traffic both ways onto the first queue's reader.
// So a flow is written through the queue its frames were last read from
// (noteFlow keeps that per slot of its flowHash): the queue the kernel
// picked for it, so the driver's record agrees with the kernel's own pick
// and the flow never moves. A flow not read yet, one the other side starts,
// is written through a queue chosen by its hash, and the kernel then sends
// the container's side of it there. Frames that are not IP use the first
// queue.
//
// Two flows in one slot share its queue: the later-read one moves the
// other, whose frames still unread on its old queue can then be read after
// newer ones on the new; with 4096 slots that takes many concurrent flows.
// The driver records a flow's queue after the
// written frame has been through the container's stack, so what the stack
// sends while handling the first frame written of a flow (a TCP reset, say)
// still goes by the kernel's hash. It forgets a flow not written to for 3 s
// (TUN_FLOW_EXPIRE), and the flow goes back to the kernel's pick.
func (t *TAP) txQueue(frame []byte) *queue {
	if len(t.queues) == 1 {
		return t.queues[0]
	}
	h := flowHash(frame)
	if h != 0 {
		if i := t.flowQueue[h&(flowSlots-1)].Load(); i != 0 {
			return t.queues[i-1]
		}
	}
	return t.queues[queueIndex(h, len(t.queues))]
}
