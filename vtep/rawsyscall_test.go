package vtep

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vxswitch/vxswitch/internal/syscalltest"
)

// TestFramePathSkipsRuntimeEntry: sends (sendmmsg for lone datagrams,
// sendmsg with UDP_SEGMENT for a run) and receives (recvmmsg, after
// waiting in the poller) enter the kernel without the runtime's system-call
// entry, which wakes the runtime's monitor thread after every idle spell.
// Closing the socket goes through that entry and shows that the check
// sees it.
func TestFramePathSkipsRuntimeEntry(t *testing.T) {
	const pkg = "github.com/vxswitch/vxswitch/vtep"
	for _, fixed := range gsoModes(t) {
		t.Run(modeName(fixed), func(t *testing.T) {
			a, b, w := gsoPair(t, fixed)
			r := b.NewReceiver(8, 65536)
			dst := b.LocalAddr().Addr()
			const sent = 5
			send := func() error {
				for i := 0; i < sent-1; i++ { // a run of one flow
					if err := w.Queue(datagram(4097, 1400, fmt.Sprint("run ", i)), UDPHeaderLen, 50001, dst); err != nil {
						return err
					}
				}
				if err := w.Queue(datagram(4097, 100, "alone"), UDPHeaderLen, 50002, dst); err != nil {
					return err
				}
				if failed, err := w.Flush(); failed != 0 || err != nil {
					return fmt.Errorf("Flush: %d failed, %v", failed, err)
				}
				return nil
			}
			// Once before: the run's source port gets its GSO socket.
			if err := send(); err != nil {
				t.Fatal(err)
			}
			receiveAll(t, b, r, sent)
			gso := a.Offloads().GSOMessages

			var n int
			var rerr, serr error
			got := syscalltest.Entered(t, pkg, func() {
				done := make(chan struct{})
				timer := time.AfterFunc(5*time.Second, func() { b.Close() })
				go func() {
					defer close(done)
					for n < sent && rerr == nil {
						var msgs []Message
						msgs, rerr = r.Read()
						n += len(msgs)
					}
				}()
				time.Sleep(20 * time.Millisecond) // the reader waits in the poller
				serr = send()
				<-done
				timer.Stop()
			})
			if serr != nil || rerr != nil || n != sent {
				t.Fatalf("send: %v; received %d of %d datagrams: %v", serr, n, sent, rerr)
			}
			if len(got) != 0 {
				t.Errorf("the frame path went into the kernel through the runtime's entry, %d calls:\n%s", len(got), strings.Join(got, "\n"))
			}
			if strings.Contains(a.Mode(), "UDP GSO on") && a.Offloads().GSOMessages == gso {
				t.Errorf("no GSO send while traced (mode %s)", a.Mode())
			}
			if got := syscalltest.Entered(t, pkg, func() { a.Close() }); len(got) == 0 {
				t.Error("control: Close's close(2) goes through the runtime, but the check did not see it")
			}
		})
	}
}
