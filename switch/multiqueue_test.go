package vswitch_test

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/tap"
	"github.com/vxswitch/vxswitch/tap/taptest"
	"github.com/vxswitch/vxswitch/vtep/vteptest"
)

// queueDev is a port with two queues, as tap.TAP with multi-queue: frames
// arrive on either, writes go through the first.
type queueDev struct {
	*taptest.Device
	second *taptest.Device
}

type oneByOne struct{ *taptest.Device }

func (oneByOne) BatchSize() int { return 1 }

func (d *queueDev) Readers() []tap.Reader {
	return []tap.Reader{oneByOne{d.Device}, oneByOne{d.second}}
}

func (d *queueDev) Close() error {
	d.second.Close()
	return d.Device.Close()
}

// TestMultiQueuePort: the switch reads every queue of a port, each with its
// own routine, and when the device vanishes the port is removed once, with
// one log line, however many readers see it go.
func TestMultiQueuePort(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	s, err := vswitch.New(vswitch.Config{Local: vtepLocal, MTU: 1500, Logger: zap.New(core),
		Networks: []vswitch.NetworkConfig{blue(vtep2)}})
	if err != nil {
		t.Fatal(err)
	}
	mq := &queueDev{Device: taptest.New("c1"), second: taptest.New("c1-q1")}
	c2 := taptest.New("c2")
	for _, pc := range []vswitch.PortConfig{{Name: "c1", Network: "blue", Device: mq}, {Name: "c2", Network: "blue", Device: c2}} {
		if _, err := s.AddPort(pc); err != nil {
			t.Fatal(err)
		}
	}
	s.Start(vteptest.NewNetwork().Underlay(vtepLocal))
	defer closeWithin(t, s)

	for i, q := range []*taptest.Device{mq.Device, mq.second} {
		f := frame(t, mac(byte(10+i)), mac(2))
		q.Inject(f)
		if got := receive(t, c2, "frame read from queue "+q.Name()); string(got) != string(f) {
			t.Fatalf("queue %d: c2 got % x, want % x", i, got, f)
		}
	}

	mq.Device.Vanish()
	mq.second.Vanish()
	deadline := time.Now().Add(waitFor)
	for len(s.Ports()) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("ports %v after c1's queues vanished, want only c2", s.Ports())
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the other reader's error, if it logged
	n := 0
	for _, e := range logs.All() {
		if strings.HasPrefix(e.Message, "port removed") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d \"port removed\" log lines for one port, want 1", n)
	}
}
