package taptest

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vxswitch/vxswitch/tap"
)

const offset = 50 // headroom, as the switch leaves for VXLAN encapsulation

func newBufs(n, size int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, offset+size)
	}
	return bufs, make([]int, n)
}

// readAsync runs one Read in a goroutine and reports its result.
func readAsync(d *Device) <-chan error {
	ch := make(chan error, 1)
	go func() {
		bufs, sizes := newBufs(1, 1500)
		_, err := d.Read(bufs, sizes, offset)
		ch <- err
	}()
	return ch
}

func wait(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not return")
		return nil
	}
}

func TestInjectReadAtOffset(t *testing.T) {
	tests := []struct {
		name   string
		inject [][]byte
		nbufs  int
		size   int
		want   [][]byte
	}{
		{name: "one frame", inject: [][]byte{{1, 2, 3}}, nbufs: 1, size: 1500, want: [][]byte{{1, 2, 3}}},
		{name: "batch takes all", inject: [][]byte{{1}, {2, 2}, {3, 3, 3}}, nbufs: 4, size: 1500, want: [][]byte{{1}, {2, 2}, {3, 3, 3}}},
		{name: "batch limited by bufs", inject: [][]byte{{1}, {2, 2}, {3, 3, 3}}, nbufs: 2, size: 1500, want: [][]byte{{1}, {2, 2}}},
		{name: "truncates like the kernel", inject: [][]byte{{1, 2, 3, 4}}, nbufs: 1, size: 2, want: [][]byte{{1, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New("p1")
			for _, f := range tt.inject {
				d.Inject(f)
			}
			bufs, sizes := newBufs(tt.nbufs, tt.size)
			n, err := d.Read(bufs, sizes, offset)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			var got [][]byte
			for i := range n {
				if !bytes.Equal(bufs[i][:offset], make([]byte, offset)) {
					t.Errorf("frame %d: headroom written", i)
				}
				got = append(got, bufs[i][offset:offset+sizes[i]])
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("frames (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInjectCopies(t *testing.T) {
	d := New("p1")
	frame := []byte{1, 2, 3}
	d.Inject(frame)
	frame[0] = 9
	bufs, sizes := newBufs(1, 1500)
	if _, err := d.Read(bufs, sizes, offset); err != nil {
		t.Fatal(err)
	}
	if got := bufs[0][offset]; got != 1 {
		t.Errorf("first byte = %d, want 1 (Inject must copy)", got)
	}
}

func TestReadBlocksUntilInject(t *testing.T) {
	d := New("p1")
	ch := readAsync(d)
	select {
	case err := <-ch:
		t.Fatalf("Read returned %v before any frame", err)
	case <-time.After(20 * time.Millisecond):
	}
	d.Inject([]byte{1})
	if err := wait(t, ch); err != nil {
		t.Fatalf("Read: %v", err)
	}
}

func TestWriteSentDrain(t *testing.T) {
	d := New("p1")
	frame := []byte{1, 2, 3}
	if n, err := d.Write(frame); n != 3 || err != nil {
		t.Fatalf("Write = %d, %v; want 3, nil", n, err)
	}
	frame[0] = 9 // the caller reuses its buffer
	d.Write([]byte{4})
	d.Write([]byte{5, 6})
	if got, want := <-d.Sent(), []byte{1, 2, 3}; !bytes.Equal(got, want) {
		t.Errorf("Sent = %v, want %v", got, want)
	}
	if diff := cmp.Diff([][]byte{{4}, {5, 6}}, d.Drain()); diff != "" {
		t.Errorf("Drain (-want +got):\n%s", diff)
	}
	if got := d.Drain(); got != nil {
		t.Errorf("second Drain = %v, want nothing", got)
	}
	frames, bytes := d.Written()
	if frames != 3 || bytes != 6 {
		t.Errorf("Written = %d frames, %d bytes; want 3, 6", frames, bytes)
	}
}

func TestWriteOverflowDoesNotBlock(t *testing.T) {
	d := New("p1")
	for range sentBuffer + 10 {
		if _, err := d.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	if got := d.Overflows(); got != 10 {
		t.Errorf("Overflows = %d, want 10", got)
	}
	if got := len(d.Drain()); got != sentBuffer {
		t.Errorf("Drain returned %d frames, want %d", got, sentBuffer)
	}
}

func TestDiscardWriteAllocatesNothing(t *testing.T) {
	d := New("p1")
	d.Discard = true
	frame := make([]byte, 1500)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := d.Write(frame); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Write with Discard: %v allocs, want 0", allocs)
	}
	if frames, bytes := d.Written(); frames != 1001 || bytes != 1001*1500 {
		t.Errorf("Written = %d, %d; want 1001, %d", frames, bytes, 1001*1500)
	}
	if got := d.Drain(); got != nil {
		t.Errorf("Drain = %d frames, want none with Discard", len(got))
	}
}

func TestReadAllocatesNothing(t *testing.T) {
	d := New("p1")
	frame := make([]byte, 100)
	bufs, sizes := newBufs(1, 1500)
	allocs := testing.AllocsPerRun(1000, func() {
		d.mu.Lock()
		d.in = append(d.in, frame) // Inject copies; Read itself must not allocate
		d.mu.Unlock()
		if _, err := d.Read(bufs, sizes, offset); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Read: %v allocs per frame, want 0", allocs)
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	d := New("p1")
	ch := readAsync(d)
	time.Sleep(10 * time.Millisecond)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, ch); err != tap.ErrClosed {
		t.Errorf("Read after Close = %v, want tap.ErrClosed", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if _, err := d.Write([]byte{1}); err != tap.ErrClosed {
		t.Errorf("Write after Close = %v, want tap.ErrClosed", err)
	}
	d.Inject([]byte{1})
	if err := wait(t, readAsync(d)); err != tap.ErrClosed {
		t.Errorf("Read after Close and Inject = %v, want tap.ErrClosed", err)
	}
}

func TestVanish(t *testing.T) {
	d := New("p1")
	d.Inject([]byte{1}) // lost: a dying namespace's queue goes with it
	d.Vanish()
	ch := readAsync(d)
	if err := wait(t, ch); !errors.Is(err, tap.ErrGone) {
		t.Errorf("Read after Vanish = %v, want ErrGone", err)
	}
	if _, err := d.Write([]byte{1}); !errors.Is(err, tap.ErrGone) {
		t.Errorf("Write after Vanish = %v, want ErrGone", err)
	}
	d.Close()
	if err := wait(t, readAsync(d)); err != tap.ErrClosed {
		t.Errorf("Read after Vanish and Close = %v, want tap.ErrClosed", err)
	}
}

func TestVanishUnblocksRead(t *testing.T) {
	d := New("p1")
	ch := readAsync(d)
	time.Sleep(10 * time.Millisecond)
	d.Vanish()
	if err := wait(t, ch); !errors.Is(err, tap.ErrGone) {
		t.Errorf("Read = %v, want ErrGone", err)
	}
}

// TestConcurrent runs readers, injectors and writers together; run with -race.
func TestConcurrent(t *testing.T) {
	const (
		injectors = 4
		readers   = 3
		perSender = 500
	)
	d := New("p1")
	var injected sync.WaitGroup
	for i := range injectors {
		injected.Add(1)
		go func() {
			defer injected.Done()
			for j := range perSender {
				f := []byte{byte(i), byte(j >> 8), byte(j)}
				d.Inject(f)
				d.Write(f)
			}
		}()
	}
	var got sync.Map
	var count sync.WaitGroup
	count.Add(injectors * perSender)
	var readersDone sync.WaitGroup
	for range readers {
		readersDone.Add(1)
		go func() {
			defer readersDone.Done()
			bufs, sizes := newBufs(3, 64)
			for {
				n, err := d.Read(bufs, sizes, offset)
				if err != nil {
					if err != tap.ErrClosed {
						t.Errorf("Read: %v", err)
					}
					return
				}
				for i := range n {
					f := bufs[i][offset : offset+sizes[i]]
					if _, dup := got.LoadOrStore(string(f), true); dup {
						t.Errorf("frame %v read twice", f)
					}
					count.Done()
				}
			}
		}()
	}
	injected.Wait()
	done := make(chan struct{})
	go func() { count.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("not every injected frame was read")
	}
	d.Close()
	readersDone.Wait()
	frames, _ := d.Written()
	if want := uint64(injectors * perSender); frames != want {
		t.Errorf("Written frames = %d, want %d", frames, want)
	}
	if got, want := uint64(len(d.Drain()))+d.Overflows(), frames; got != want {
		t.Errorf("drained + overflowed = %d, want %d", got, want)
	}
}
