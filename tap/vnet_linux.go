package tap

import (
	"fmt"
	"github.com/vxswitch/vxswitch/internal/csum"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// offloads are what a vnet-header TAP asks the kernel for: checksum offload
// and TCP segmentation offload, so the kernel hands over up to 64 KiB TCP
// super-frames that Read splits into MTU-sized frames.
const offloads = unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6 | unix.TUN_F_TSO_ECN

// vnetState is the state of a TAP opened with IFF_VNET_HDR.
type vnetState struct {
	raw  syscall.RawConn
	rbuf []byte // one super-frame with its virtio header, owned by the reader

	wmu     sync.Mutex // serialises writers: the fields below are theirs
	gro     grow
	whdr    [vnetHdrLen]byte
	whdrGSO [vnetHdrLen]byte
	wiov    [2]unix.Iovec
	wn      int
	errno   syscall.Errno
	wfn     func(fd uintptr) bool
}

// openVnet creates the TAP tmp with IFF_VNET_HDR and asks for offloads. It
// returns an error, and no file, where the kernel refuses either.
func openVnet(tmp string) (*os.File, *vnetState, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(tmp)
	if err != nil {
		unix.Close(fd)
		return nil, nil, err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("TUNSETIFF with IFF_VNET_HDR: %w", err)
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, offloads); err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("TUNSETOFFLOAD csum+tso: %w", err)
	}
	f := os.NewFile(uintptr(fd), "/dev/net/tun")
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	v := &vnetState{raw: raw, rbuf: make([]byte, vnetHdrLen+65536)}
	v.gro.buf = make([]byte, vnetHdrLen+65536)
	v.wfn = v.writev
	return f, v, nil
}

// readVnet reads one super-frame and returns it as frames in bufs: TSO
// frames segmented, partial checksums completed. A frame whose offload
// header does not fit its bytes is dropped and the read retried.
func (t *TAP) readVnet(bufs [][]byte, sizes []int, offset int) (int, error) {
	v := t.vnet
	for {
		n, err := t.file.Read(v.rbuf)
		if err != nil {
			return 0, t.ioError("read", err)
		}
		if n < vnetHdrLen+ethHeaderLen {
			t.badOffload.Add(1)
			continue
		}
		h := decodeVnetHdr(v.rbuf)
		frame := v.rbuf[vnetHdrLen:n]
		switch h.gsoType &^ vnetGSOECN {
		case vnetGSONone:
			if h.flags&vnetFlagNeedsCsum != 0 {
				if err := completeChecksum(frame, h); err != nil {
					t.badOffload.Add(1)
					continue
				}
			}
			if offset+len(frame) > len(bufs[0]) {
				t.badOffload.Add(1)
				continue
			}
			sizes[0] = copy(bufs[0][offset:], frame)
			return 1, nil
		case vnetGSOTCPv4, vnetGSOTCPv6:
			segs, err := segmentTCP(frame, h, bufs, sizes, offset)
			if err != nil {
				t.badOffload.Add(1)
				continue
			}
			return segs, nil
		default: // UDP fragmentation offload was not asked for
			t.badOffload.Add(1)
		}
	}
}

// writeVnet writes frame behind an all-zero virtio header (no offload),
// after any segments WriteCoalesce holds.
func (t *TAP) writeVnet(frame []byte) (int, error) {
	v := t.vnet
	v.wmu.Lock()
	defer v.wmu.Unlock()
	if err := t.flushLocked(); err != nil {
		return 0, err
	}
	return t.writevLocked(v.whdr[:], frame)
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
	defer v.wmu.Unlock()
	s, ok := parseSegment(frame)
	// A frame whose checksum a sending kernel left for hardware to finish
	// (it crossed a veth inside VXLAN) is finished here, as a NIC would; a
	// corrupt one is never merged, and the kernel drops it.
	mergeable := ok && (tcpChecksumOK(frame, s) || csum.FixPartial(frame))
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
		v.gro.start(frame, s)
		return len(frame), nil
	}
	return t.writevLocked(v.whdr[:], frame)
}

// Flush writes the segments WriteCoalesce holds, merged.
func (t *TAP) Flush() error {
	v := t.vnet
	if v == nil {
		return nil
	}
	v.wmu.Lock()
	defer v.wmu.Unlock()
	return t.flushLocked()
}

func (t *TAP) flushLocked() error {
	if t.vnet.gro.segs == 0 {
		return nil
	}
	b := t.vnet.gro.finish()
	_, err := t.writevLocked(b[:vnetHdrLen], b[vnetHdrLen:])
	return err
}

// writevLocked writes one virtio header and one frame in one writev.
func (t *TAP) writevLocked(hdr, frame []byte) (int, error) {
	v := t.vnet
	v.wiov[0].Base = unsafe.SliceData(hdr)
	v.wiov[0].SetLen(len(hdr))
	v.wiov[1].Base = unsafe.SliceData(frame)
	v.wiov[1].SetLen(len(frame))
	if err := v.raw.Write(v.wfn); err != nil {
		return 0, t.ioError("write", err)
	}
	if v.errno != 0 {
		return 0, t.ioError("write", v.errno)
	}
	return v.wn - len(hdr), nil
}

func (v *vnetState) writev(fd uintptr) bool {
	n, _, errno := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&v.wiov[0])), 2)
	if errno == unix.EAGAIN {
		return false
	}
	v.wn, v.errno = int(n), errno
	return true
}
