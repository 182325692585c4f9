package vswitch_test

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/layers"

	"github.com/vxswitch/vxswitch/fdb"
	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/tap"
	"github.com/vxswitch/vxswitch/tap/taptest"
	"github.com/vxswitch/vxswitch/vtep"
	"github.com/vxswitch/vxswitch/vtep/vteptest"
)

const waitFor = 5 * time.Second

// receive waits for the next frame written to d.
func receive(t *testing.T, d *taptest.Device, what string) []byte {
	t.Helper()
	select {
	case b := <-d.Sent():
		return b
	case <-time.After(waitFor):
		t.Fatalf("%s: nothing arrived at %s", what, d.Name())
		return nil
	}
}

// host is one started switch with one container port.
type host struct {
	s   *vswitch.Switch
	dev *taptest.Device
}

func startHost(t *testing.T, network *vteptest.Network, local, peer netip.Addr, portName string) *host {
	t.Helper()
	s, err := vswitch.New(vswitch.Config{Local: local, MTU: 1500, SrcPorts: testSrcPorts,
		Networks: []vswitch.NetworkConfig{blue(peer)}}) // blue is VNI 4097
	if err != nil {
		t.Fatal(err)
	}
	dev := taptest.New(portName)
	if _, err := s.AddPort(vswitch.PortConfig{Name: portName, Network: "blue", Device: dev}); err != nil {
		t.Fatal(err)
	}
	s.Start(network.Underlay(local))
	t.Cleanup(func() { s.Close() })
	return &host{s: s, dev: dev}
}

// closeWithin checks that Close returns, without error, in time.
func closeWithin(t *testing.T, s *vswitch.Switch) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(waitFor):
		t.Fatal("Close did not return")
	}
}

func TestTwoSwitchesEndToEnd(t *testing.T) {
	network := vteptest.NewNetwork()
	h1 := startHost(t, network, vtepLocal, vtep2, "c1")
	h2 := startHost(t, network, vtep2, vtepLocal, "c2")
	c1, c2 := mac(1), mac(2)

	// c1 asks for c2's address; nobody knows it, so it is a broadcast at c2.
	req := arpRequest(t, c1, ip(1), ip(2))
	h1.dev.Inject(req)
	got := receive(t, h2.dev, "ARP request")
	if diff := cmp.Diff(req, got); diff != "" {
		t.Errorf("ARP request at c2 (-sent +arrived):\n%s", diff)
	}
	if a := parseARP(t, got); a.EthDst != macBroadcast || a.Op != layers.ARPRequest {
		t.Errorf("ARP request at c2: %+v, want a broadcast request", a)
	}

	// c2 answers; the reply finds c1.
	reply := arpReply(t, c2, ip(2), c1, ip(1))
	h2.dev.Inject(reply)
	if diff := cmp.Diff(reply, receive(t, h1.dev, "ARP reply")); diff != "" {
		t.Errorf("ARP reply at c1 (-sent +arrived):\n%s", diff)
	}

	// Now a UDP datagram, byte for byte.
	data := udpFrame(t, c1, c2, 40000, 1000)
	h1.dev.Inject(data)
	if diff := cmp.Diff(data, receive(t, h2.dev, "UDP frame")); diff != "" {
		t.Errorf("UDP frame at c2 (-sent +arrived):\n%s", diff)
	}

	// Each FDB has the other container behind the other VTEP.
	wantWhere := func(s *vswitch.Switch, m fdb.MAC, want string) {
		t.Helper()
		for _, e := range s.FDB("blue") {
			if e.MAC == m {
				if e.Where != want {
					t.Errorf("FDB %s at %q, want %q", m, e.Where, want)
				}
				return
			}
		}
		t.Errorf("FDB has no %s, want it at %q", m, want)
	}
	wantWhere(h1.s, c2, "vtep 192.0.2.2")
	wantWhere(h1.s, c1, "port c1")
	wantWhere(h2.s, c1, "vtep 192.0.2.1")
	wantWhere(h2.s, c2, "port c2")

	// Nothing else arrived anywhere, and every datagram was VXLAN in VNI
	// 4097 between the two VTEPs.
	if extra := h1.dev.Drain(); len(extra) > 0 {
		t.Errorf("c1 got %d extra frames", len(extra))
	}
	if extra := h2.dev.Drain(); len(extra) > 0 {
		t.Errorf("c2 got %d extra frames", len(extra))
	}
	log := network.Log()
	if len(log) != 3 {
		t.Errorf("underlay carried %d datagrams, want 3", len(log))
	}
	for _, d := range log {
		vni, err := vtep.Parse(d.Payload, true)
		if err != nil || vni != 4097 {
			t.Errorf("datagram %s → %s: VNI %d, %v; want 4097", d.Src, d.Dst, vni, err)
		}
		if p := d.Src.Port(); p < testSrcPorts.Min || p > testSrcPorts.Max {
			t.Errorf("datagram %s → %s: source port outside %v", d.Src, d.Dst, testSrcPorts)
		}
		if d.Src.Addr() == d.Dst || (d.Dst != vtepLocal && d.Dst != vtep2) {
			t.Errorf("datagram %s → %s: not between the two VTEPs", d.Src, d.Dst)
		}
	}
	if n := network.Lost(); n != 0 {
		t.Errorf("%d datagrams lost", n)
	}

	for _, h := range []*host{h1, h2} {
		nets, _ := h.s.Stats()
		st := nets[0].Stats
		if st.Dropped() != 0 || st.Received != st.Forwarded+st.Flooded {
			t.Errorf("stats %+v: want no drops", st)
		}
	}

	closeWithin(t, h1.s)
	closeWithin(t, h2.s)
	for _, d := range []*taptest.Device{h1.dev, h2.dev} {
		if _, err := d.Write([]byte{1}); !errors.Is(err, tap.ErrClosed) {
			t.Errorf("%s after Close: Write = %v, want tap.ErrClosed", d.Name(), err)
		}
	}
	if got := h1.s.Ports(); len(got) != 0 {
		t.Errorf("Ports after Close = %+v, want none", got)
	}
	closeWithin(t, h1.s) // idempotent
}

func TestContainerDeath(t *testing.T) {
	network := vteptest.NewNetwork()
	s, err := vswitch.New(vswitch.Config{Local: vtepLocal, MTU: 1500, Networks: []vswitch.NetworkConfig{blue(vtep2)}})
	if err != nil {
		t.Fatal(err)
	}
	devs := map[string]*taptest.Device{}
	for _, name := range []string{"c1", "c2", "c3"} {
		devs[name] = taptest.New(name)
		if _, err := s.AddPort(vswitch.PortConfig{Name: name, Network: "blue", Device: devs[name]}); err != nil {
			t.Fatal(err)
		}
	}
	s.Start(network.Underlay(vtepLocal))
	defer closeWithin(t, s)

	// c3 speaks, so the switch learns it, then its namespace dies.
	devs["c3"].Inject(frame(t, mac(3), macBroadcast))
	receive(t, devs["c1"], "c3's broadcast")
	receive(t, devs["c2"], "c3's broadcast")
	devs["c3"].Vanish()

	deadline := time.Now().Add(2 * time.Second)
	for {
		var names []string
		for _, p := range s.Ports() {
			names = append(names, p.Name)
		}
		if cmp.Equal([]string{"c1", "c2"}, names) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ports = %v 2s after c3 vanished, want [c1 c2]", names)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, e := range s.FDB("blue") {
		if e.MAC == mac(3) {
			t.Errorf("FDB still has c3's MAC at %q", e.Where)
		}
	}

	// The others keep forwarding, learning and unicasting.
	hello := frame(t, mac(1), macBroadcast)
	devs["c1"].Inject(hello)
	if diff := cmp.Diff(hello, receive(t, devs["c2"], "broadcast after c3 died")); diff != "" {
		t.Errorf("c2 got (-want +got):\n%s", diff)
	}
	uni := frame(t, mac(2), mac(1))
	devs["c2"].Inject(uni)
	if diff := cmp.Diff(uni, receive(t, devs["c1"], "unicast after c3 died")); diff != "" {
		t.Errorf("c1 got (-want +got):\n%s", diff)
	}

	// A new container joins the running switch; its port reads at once.
	devs["c4"] = taptest.New("c4")
	if _, err := s.AddPort(vswitch.PortConfig{Name: "c4", Network: "blue", Device: devs["c4"]}); err != nil {
		t.Fatal(err)
	}
	toOne := frame(t, mac(4), mac(1))
	devs["c4"].Inject(toOne)
	if diff := cmp.Diff(toOne, receive(t, devs["c1"], "unicast from the new port")); diff != "" {
		t.Errorf("c1 got (-want +got):\n%s", diff)
	}
}

// TestConcurrentTraffic runs two started switches with traffic on every
// port at once while snapshots, ageing and port churn go on; run it with
// -race. Every frame and datagram is counted exactly once in the end.
func TestConcurrentTraffic(t *testing.T) {
	network := vteptest.NewNetwork()
	type node struct {
		addr netip.Addr
		s    *vswitch.Switch
		devs []*taptest.Device
	}
	var nodes []*node
	for i, addr := range []netip.Addr{vtepLocal, vtep2} {
		peer := []netip.Addr{vtep2, vtepLocal}[i]
		s, err := vswitch.New(vswitch.Config{Local: addr, MTU: 1500,
			Networks: []vswitch.NetworkConfig{blue(peer), red(peer)}})
		if err != nil {
			t.Fatal(err)
		}
		n := &node{addr: addr, s: s}
		for j, netName := range []string{"blue", "blue", "red"} {
			d := taptest.New(fmt.Sprintf("h%d-p%d", i, j))
			d.Discard = true
			if _, err := s.AddPort(vswitch.PortConfig{Name: d.Name(), Network: netName, Device: d}); err != nil {
				t.Fatal(err)
			}
			n.devs = append(n.devs, d)
		}
		s.Start(network.Underlay(addr))
		nodes = append(nodes, n)
	}

	const perPort = 300
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i, n := range nodes {
		for j, d := range n.devs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				src := mac(byte(10*i + j + 1))
				dsts := []fdb.MAC{macBroadcast, mac(1), mac(2), mac(11), mac(12), mac(3), mac(13)}
				for k := range perPort {
					switch k % 5 {
					case 0:
						d.Inject(arpRequest(t, src, ip(src[5]), ip([]byte{1, 2, 3, 11, 12, 13}[k/5%6])))
					default:
						d.Inject(udpFrame(t, src, dsts[k%len(dsts)], uint16(k), 60+k%1000))
					}
				}
			}()
		}
	}
	var background sync.WaitGroup
	background.Add(2)
	go func() { // readers of every snapshot, and ageing
		defer background.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, n := range nodes {
				n.s.FDB("")
				n.s.Neighbors("")
				n.s.Stats()
				n.s.Ports()
				n.s.Peers()
				n.s.Expire()
			}
		}
	}()
	go func() { // a port comes and goes
		defer background.Done()
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			default:
			}
			p, err := nodes[0].s.AddPort(vswitch.PortConfig{Name: "churn", Network: "blue", Device: taptest.New("churn")})
			if err != nil {
				t.Errorf("AddPort churn: %v", err)
				return
			}
			time.Sleep(time.Millisecond)
			if err := nodes[0].s.RemovePort(p); err != nil {
				t.Errorf("RemovePort churn: %v", err)
				return
			}
		}
	}()
	wg.Wait()

	// Wait until each switch has counted every frame its ports read and
	// every datagram sent to it.
	counted := func(n *node) (got, want uint64) {
		nets, unmatched := n.s.Stats()
		got = unmatched.Received
		for _, ns := range nets {
			got += ns.Stats.Received
			if sum := ns.Stats.Forwarded + ns.Stats.Flooded + ns.Stats.Proxied + ns.Stats.Dropped(); sum > ns.Stats.Received {
				t.Errorf("%s %s: %d outcomes for %d frames", n.addr, ns.Name, sum, ns.Stats.Received)
			}
		}
		want = uint64(len(n.devs) * perPort)
		for _, d := range network.Log() {
			if d.Dst == n.addr {
				want++
			}
		}
		return got, want
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, n := range nodes {
		for {
			got, want := counted(n)
			if got == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s counted %d frames and datagrams, want %d", n.addr, got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	close(stop)
	background.Wait()
	for _, n := range nodes {
		nets, unmatched := n.s.Stats()
		t.Logf("%s: %+v; unmatched %+v", n.addr, nets, unmatched)
		for _, ns := range nets {
			st := ns.Stats
			if sum := st.Forwarded + st.Flooded + st.Proxied + st.Dropped(); sum != st.Received {
				t.Errorf("%s %s: outcomes sum to %d, received %d", n.addr, ns.Name, sum, st.Received)
			}
		}
		closeWithin(t, n.s)
	}
	if lost := network.Lost(); lost != 0 {
		t.Errorf("%d datagrams lost", lost)
	}
}
