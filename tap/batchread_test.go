package tap

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// pipeQueue is a vnet queue reading from one end of a SOCK_SEQPACKET pair,
// which keeps message boundaries as a TAP does; the test writes what the
// kernel would queue on the other end.
func pipeQueue(t *testing.T) (*queue, *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	r, w := os.NewFile(uintptr(fds[0]), "queue"), os.NewFile(uintptr(fds[1]), "kernel")
	t.Cleanup(func() { r.Close(); w.Close() })
	raw, err := r.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	q := &queue{t: &TAP{}, file: r, raw: raw, rbuf: make([]byte, vnetHdrLen+65536), readOp: "read"}
	q.tryRead = q.tryReadFn
	return q, w
}

func encodeVnetHdr(h vnetHdr) []byte {
	b := make([]byte, vnetHdrLen)
	b[0], b[1] = h.flags, h.gsoType
	binary.LittleEndian.PutUint16(b[2:], h.hdrLen)
	binary.LittleEndian.PutUint16(b[4:], h.gsoSize)
	binary.LittleEndian.PutUint16(b[6:], h.csumStart)
	binary.LittleEndian.PutUint16(b[8:], h.csumOffset)
	return b
}

func smallFrame(i byte) []byte {
	f := make([]byte, 60)
	copy(f, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5})
	f[14] = i
	return f
}

func bufsOf(n int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, 64+1518)
	}
	return bufs, make([]int, n)
}

// TestReadBatchesQueuedFrames: one Read hands out every frame already
// queued, up to the buffers given, without waiting for more; the rest come
// with the next Read, in order.
func TestReadBatchesQueuedFrames(t *testing.T) {
	q, k := pipeQueue(t)
	for i := byte(0); i < 5; i++ {
		if _, err := k.Write(append(encodeVnetHdr(vnetHdr{}), smallFrame(i)...)); err != nil {
			t.Fatal(err)
		}
	}
	bufs, sizes := bufsOf(3)
	var got []byte
	for _, want := range []int{3, 2} {
		n, err := q.Read(bufs, sizes, 64)
		if err != nil || n != want {
			t.Fatalf("Read = %d, %v; want %d frames", n, err, want)
		}
		for i := 0; i < n; i++ {
			got = append(got, bufs[i][64+14])
		}
	}
	if !bytes.Equal(got, []byte{0, 1, 2, 3, 4}) {
		t.Errorf("frames in order % x, want 00 01 02 03 04", got)
	}
}

// TestReadKeepsSuperFrameThatDoesNotFit: a TSO super-frame queued behind a
// small frame, with fewer buffers left than it has segments, is neither
// dropped nor cut: the Read returns the small frame, and the next Read
// starts with the super-frame's segments.
func TestReadKeepsSuperFrameThatDoesNotFit(t *testing.T) {
	q, k := pipeQueue(t)
	super, h := tcpSuperFrame(t, false, bytes.Repeat([]byte("x"), 10*1000), 1000, "")
	for _, m := range [][]byte{
		append(encodeVnetHdr(vnetHdr{}), smallFrame(7)...),
		append(encodeVnetHdr(h), super...),
	} {
		if _, err := k.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	bufs, sizes := bufsOf(4)
	if n, err := q.Read(bufs, sizes, 64); err != nil || n != 1 || bufs[0][64+14] != 7 {
		t.Fatalf("first Read = %d, %v; want the small frame alone", n, err)
	}
	bufs, sizes = bufsOf(64)
	n, err := q.Read(bufs, sizes, 64)
	if err != nil || n != 10 {
		t.Fatalf("second Read = %d, %v; want the super-frame's 10 segments", n, err)
	}
	for i := 0; i < n; i++ {
		verifyL4(t, bufs[i][64:64+sizes[i]], false)
	}
	if q.t.BadOffload() != 0 {
		t.Errorf("BadOffload = %d, want 0", q.t.BadOffload())
	}
}
