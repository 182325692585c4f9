package main

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/vxswitch/vxswitch/admin"
	"github.com/vxswitch/vxswitch/internal/nstest"
)

// TestMain lets the test binary stand in for vxswitch: integration tests
// start it as a child process inside a host namespace.
func TestMain(m *testing.M) {
	if os.Getenv("VXSWITCH_TEST_MAIN") == "1" {
		os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// process is one vxswitch running inside a host namespace.
type process struct {
	t   *testing.T
	cmd *exec.Cmd
	log string
	// socket is the process's admin socket: each has its own.
	socket string
	// done is closed when the process has exited; err is its Wait result.
	done chan struct{}
	err  error
}

func startVXSwitch(t *testing.T, host *nstest.NS, yaml string, flags ...string) *process {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, host.Name+".yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{t: t, log: filepath.Join(dir, host.Name+".log"), socket: adminSocket(t, host.Name), done: make(chan struct{})}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(exe, append([]string{"run", "-c", cfgPath, "--admin-socket", p.socket}, flags...)...)
	p.cmd.Env = append(os.Environ(), "VXSWITCH_TEST_MAIN=1")
	p.cmd.Stderr, p.cmd.Stdout = logf, logf
	if err := host.Do(p.cmd.Start); err != nil {
		logf.Close()
		t.Fatalf("start vxswitch in %s: %v", host.Name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("log of vxswitch in %s:\n%s", host.Name, p.output())
		}
	})
	return p
}

func (p *process) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// stop sends SIGTERM and waits; it returns the exit error.
func (p *process) stop() error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		return errors.New("vxswitch did not exit within 10s of SIGTERM")
	}
	return p.err
}

// waitLog waits until the log matches re.
func (p *process) waitLog(re *regexp.Regexp, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if re.MatchString(p.output()) {
			return true
		}
		select {
		case <-p.done:
			return re.MatchString(p.output())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return false
}

func hostConfig(local, remote string, c1, c2 *nstest.NS, mac, ip string) string {
	return fmt.Sprintf(`underlay: {local: %s, port: 4789, mtu: 1500}
networks:
  - name: blue
    vni: 4097
    flood: [%s]
  - name: red
    vni: 4098
    flood: [%s]
ports:
  - {name: blue-eth1, network: blue, netns: %s, ifname: eth1, mac: "%s", addresses: [%s/24]}
  - {name: red-eth1, network: red, netns: %s, ifname: eth1, mac: "%s", addresses: [%s/24]}
`, local, remote, remote, c1.Path, mac, ip, c2.Path, mac, ip)
}

// twoHosts builds h1 and h2 joined by a veth underlay (192.0.2.0/24), and
// on each host two containers: one in network blue (VNI 4097), one in
// network red (VNI 4098) with the same addresses and MACs, and starts a
// vxswitch on each host.
type twoHosts struct {
	h1, h2                   *nstest.NS
	blue1, blue2, red1, red2 *nstest.NS
	sw1, sw2                 *process
}

func newTwoHosts(t *testing.T, flags ...string) *twoHosts {
	pre := nstest.Prefix()
	th := &twoHosts{
		h1: nstest.New(t, pre+"-h1"), h2: nstest.New(t, pre+"-h2"),
		blue1: nstest.New(t, pre+"-b1"), blue2: nstest.New(t, pre+"-b2"),
		red1: nstest.New(t, pre+"-r1"), red2: nstest.New(t, pre+"-r2"),
	}
	nstest.Veth(t, th.h1, pre+"u1", netip.MustParsePrefix("192.0.2.1/24"), th.h2, pre+"u2", netip.MustParsePrefix("192.0.2.2/24"))
	th.sw1 = startVXSwitch(t, th.h1, hostConfig("192.0.2.1", "192.0.2.2", th.blue1, th.red1, "02:00:0a:00:01:02", "10.0.1.2"), flags...)
	th.sw2 = startVXSwitch(t, th.h2, hostConfig("192.0.2.2", "192.0.2.1", th.blue2, th.red2, "02:00:0a:00:01:03", "10.0.1.3"), flags...)
	running := regexp.MustCompile(`vxswitch running`)
	for _, p := range []*process{th.sw1, th.sw2} {
		if !p.waitLog(running, 15*time.Second) {
			t.Fatalf("vxswitch did not start:\n%s", p.output())
		}
	}
	return th
}

func linkExists(t *testing.T, ns *nstest.NS, name string) bool {
	nl := ns.Handle(t)
	defer nl.Close()
	_, err := nl.LinkByName(name)
	return err == nil
}

// listen opens a TCP listener inside ns.
func listen(t *testing.T, ns *nstest.NS, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp4", addr); return err }); err != nil {
		t.Fatalf("listen %s in %s: %v", addr, ns.Name, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func dial(ns *nstest.NS, addr string) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() (err error) { c, err = net.DialTimeout("tcp4", addr, 10*time.Second); return err })
	return c, err
}

type received struct {
	n   int64
	sum [32]byte
	err error
}

// serveOnce accepts one connection and reports what arrived.
func serveOnce(ln net.Listener) <-chan received {
	out := make(chan received, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			out <- received{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		h := sha256.New()
		n, err := io.Copy(h, c)
		var r received
		r.n, r.err = n, err
		copy(r.sum[:], h.Sum(nil))
		out <- r
	}()
	return out
}

// transfer sends size random bytes from ns to addr and checks they arrive
// intact at the listener ln.
func transfer(t *testing.T, from *nstest.NS, addr string, ln net.Listener, size int) {
	t.Helper()
	got := serveOnce(ln)
	data := make([]byte, size)
	rand.Read(data)
	c, err := dial(from, addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, from.Name, err)
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := c.Write(data); err != nil {
		t.Fatalf("send %d bytes: %v", size, err)
	}
	c.Close()
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatalf("receive: %v", r.err)
		}
		if r.n != int64(size) || r.sum != sha256.Sum256(data) {
			t.Fatalf("received %d bytes (sha256 %x), sent %d (sha256 %x)", r.n, r.sum, size, sha256.Sum256(data))
		}
	case <-time.After(90 * time.Second):
		t.Fatal("transfer did not finish in 90s")
	}
}

// TestIntegrationTwoHosts runs two vxswitch processes in host namespaces
// over a veth underlay: a 10 MB TCP transfer between containers in one
// VNI arrives intact; the other VNI, with the same subnet and MACs, cannot
// reach it; the MAC table shows the remote container behind its VTEP; a
// container's death removes only its port; on SIGTERM the TAPs vanish.
func TestIntegrationTwoHosts(t *testing.T) {
	nstest.RequireRoot(t)
	for _, tc := range []struct {
		name  string
		flags []string
		mode  string // the TAP mode the log must show
		uso   bool   // UDP datagrams of one flow go into the container merged
		qlen  int    // the TAPs' txqueuelen
	}{
		{"tap offload", nil, `vnet_hdr \(tso4, tso6, uso, csum\)`, true, 4096},
		{"tap offload without uso", []string{"--no-tap-uso"}, `vnet_hdr \(tso4, tso6, csum\)`, false, 4096},
		{"plain tap", []string{"--no-tap-offload", "--tap-txqueuelen", "1000"}, `"mode": "plain"|plain`, false, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) { testTwoHosts(t, tc.flags, regexp.MustCompile(tc.mode), tc.uso, tc.qlen) })
	}
}

// udpBursts sends bursts of datagrams of one flow from a connected socket
// in from to addr in to, each burst in one sendmmsg so that they travel
// together, and checks that every datagram arrives, in order, as sent.
func udpBursts(t *testing.T, from, to *nstest.NS, addr string, bursts, per int) {
	t.Helper()
	var rc *net.UDPConn
	if err := to.Do(func() (err error) {
		rc, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
		return err
	}); err != nil {
		t.Fatalf("listen udp %s: %v", addr, err)
	}
	defer rc.Close()
	var sc *net.UDPConn
	if err := from.Do(func() (err error) {
		sc, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
		return err
	}); err != nil {
		t.Fatalf("dial udp %s: %v", addr, err)
	}
	defer sc.Close()
	payload := func(i int) []byte {
		p := make([]byte, 200)
		for j := range p {
			p[j] = byte(i*31 + j)
		}
		p[0], p[1] = byte(i>>8), byte(i)
		return p
	}
	got := make(chan error, 1)
	go func() {
		buf := make([]byte, 2000)
		for i := range bursts * per {
			rc.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := rc.Read(buf)
			if err != nil {
				got <- fmt.Errorf("datagram %d of %d: %w", i, bursts*per, err)
				return
			}
			if string(buf[:n]) != string(payload(i)) {
				got <- fmt.Errorf("datagram %d: %d bytes starting %x, want datagram %d as sent", i, n, buf[:min(n, 2)], i)
				return
			}
		}
		got <- nil
	}()
	pc := ipv4.NewPacketConn(sc)
	for b := range bursts {
		msgs := make([]ipv4.Message, per)
		for i := range msgs {
			msgs[i].Buffers = [][]byte{payload(b*per + i)}
		}
		for sent := 0; sent < per; {
			n, err := pc.WriteBatch(msgs[sent:], 0)
			if err != nil {
				t.Fatalf("burst %d: sendmmsg: %v", b, err)
			}
			sent += n
		}
		time.Sleep(5 * time.Millisecond) // one burst at a time in the receiver's buffer
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

func testTwoHosts(t *testing.T, flags []string, mode *regexp.Regexp, uso bool, qlen int) {
	th := newTwoHosts(t, flags...)
	if !mode.MatchString(th.sw1.output()) {
		t.Errorf("log does not show TAP mode %v:\n%s", mode, th.sw1.output())
	}
	for _, c := range []*nstest.NS{th.blue1, th.red1} {
		nl := c.Handle(t)
		link, err := nl.LinkByName("eth1")
		nl.Close()
		if err != nil {
			t.Fatalf("eth1 in %s: %v", c.Name, err)
		}
		if got := link.Attrs().TxQLen; got != qlen {
			t.Errorf("eth1 in %s: txqueuelen %d, want %d", c.Name, got, qlen)
		}
	}

	ln := listen(t, th.blue2, "10.0.1.3:5001")
	transfer(t, th.blue1, "10.0.1.3:5001", ln, 10<<20)

	t.Run("fdb shows remote MAC behind its VTEP", func(t *testing.T) {
		th.sw1.cmd.Process.Signal(syscall.SIGUSR1)
		row := regexp.MustCompile(`blue\s+4097\s+02:00:0a:00:01:03\s+vtep 192\.0\.2\.2\s+learned`)
		local := regexp.MustCompile(`blue\s+4097\s+02:00:0a:00:01:02\s+port blue-eth1\s+learned`)
		if !th.sw1.waitLog(row, 5*time.Second) || !local.MatchString(th.sw1.output()) {
			t.Errorf("h1's FDB lacks c2's MAC behind 192.0.2.2 or c1's on its port:\n%s", th.sw1.output())
		}
	})

	t.Run("VNI isolation with the same subnet", func(t *testing.T) {
		// red1 has blue1's address and MAC; 10.0.1.3 in red is red2, which
		// has no listener and refuses. Reaching blue2 would be accepted.
		c, err := dial(th.red1, "10.0.1.3:5001")
		if err == nil {
			c.Close()
			t.Fatal("a container in VNI 4098 connected to a listener in VNI 4097")
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial from red: %v, want connection refused by red2 (same VNI)", err)
		}
	})

	t.Run("UDP bursts arrive as sent", func(t *testing.T) {
		segs := func() uint64 {
			var ps []admin.PortEntry
			cliJSON(t, &ps, "ports", "--socket", th.sw2.socket)
			for _, p := range ps {
				if p.Name == "blue-eth1" && p.Offload != nil {
					return p.Offload.GSOSegments
				}
			}
			return 0
		}
		before := segs()
		udpBursts(t, th.blue1, th.blue2, "10.0.1.3:5002", 20, 60)
		// Only UDP crossed during the bursts: merged segments are
		// datagrams, which only UDP segmentation offload merges.
		if merged := segs() - before; uso != (merged > 0) {
			t.Errorf("%d datagrams went into blue2 merged; want some only with UDP segmentation offload (on: %v)", merged, uso)
		}
	})

	t.Run("container death removes only its port", func(t *testing.T) {
		th.red2.Delete(t)
		gone := regexp.MustCompile(`port removed: its namespace or link is gone.*red-eth1`)
		if !th.sw2.waitLog(gone, 10*time.Second) {
			t.Fatalf("h2 did not report red-eth1 gone:\n%s", th.sw2.output())
		}
		transfer(t, th.blue1, "10.0.1.3:5001", ln, 1<<20)
	})

	for _, p := range []*process{th.sw1, th.sw2} {
		if err := p.stop(); err != nil {
			t.Errorf("vxswitch exit: %v\n%s", err, p.output())
		}
		if strings.Contains(p.output(), "panic") {
			t.Errorf("log mentions a panic:\n%s", p.output())
		}
	}
	for _, c := range []*nstest.NS{th.blue1, th.blue2, th.red1} {
		if linkExists(t, c, "eth1") {
			t.Errorf("eth1 still exists in %s after vxswitch exited", c.Name)
		}
	}
}
