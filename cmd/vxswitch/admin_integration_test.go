package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/vxswitch/vxswitch/admin"
	"github.com/vxswitch/vxswitch/internal/nstest"
	vswitch "github.com/vxswitch/vxswitch/switch"
)

// adminSocket returns a fresh admin socket path for a test process, in a
// private directory short enough for a unix socket address.
func adminSocket(t *testing.T, name string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vxsock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, name+".sock")
}

// cli runs the vxswitch command line in this process.
func cli(args ...string) (stdout, stderr string, code int) {
	var o, e bytes.Buffer
	code = runMain(args, &o, &e)
	return o.String(), e.String(), code
}

func cliJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out, errOut, code := cli(append(args, "-o", "json")...)
	if code != 0 {
		t.Fatalf("vxswitch %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("vxswitch %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// waitSessions waits until the switch behind socket runs n captures or
// traces.
func waitSessions(t *testing.T, socket string, n int) {
	t.Helper()
	c := admin.NewClient(socket)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		st, err := c.Stats(context.Background())
		if err == nil && st.Sessions == n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the switch did not get to %d running captures", n)
}

// captureFile runs `vxswitch capture args -w FILE` until it has its
// packets, while traffic runs, and returns the packets and their comments.
func captureFile(t *testing.T, socket string, traffic func(), args ...string) ([][]byte, []string, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "capture.pcapng")
	type result struct {
		stderr string
		code   int
	}
	done := make(chan result, 1)
	go func() {
		_, e, code := cli(append([]string{"capture", "--socket", socket, "-w", file}, args...)...)
		done <- result{e, code}
	}()
	waitSessions(t, socket, 1)
	traffic()
	var r result
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("capture %v did not end", args)
	}
	if r.code != 0 {
		t.Fatalf("capture %v: exit %d: %s", args, r.code, r.stderr)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatalf("pcapng: %v", err)
	}
	var pkts [][]byte
	var comments []string
	for {
		data, _, opts, err := rd.ReadPacketDataWithOptions()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("pcapng packet %d: %v", len(pkts)+1, err)
		}
		pkts = append(pkts, data)
		comments = append(comments, strings.Join(opts.Comments, "|"))
	}
	return pkts, comments, r.stderr
}

// sendDatagram sends payload over UDP from inside ns.
func sendDatagram(t *testing.T, ns *nstest.NS, to string, payload []byte) {
	t.Helper()
	err := ns.Do(func() error {
		c, err := net.Dial("udp4", to)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write(payload)
		return err
	})
	if err != nil {
		t.Fatalf("send datagram from %s: %v", ns.Name, err)
	}
}

// arpWhoHas is an ARP request from 02:00:0a:00:01:02 (10.0.1.2) for target.
func arpWhoHas(target [4]byte) []byte {
	b := make([]byte, 42)
	copy(b[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(b[6:12], []byte{2, 0, 10, 0, 1, 2})
	binary.BigEndian.PutUint16(b[12:], 0x0806)
	copy(b[14:22], []byte{0, 1, 8, 0, 6, 4, 0, 1})
	copy(b[22:28], []byte{2, 0, 10, 0, 1, 2})
	copy(b[28:32], []byte{10, 0, 1, 2})
	copy(b[38:42], target[:])
	return b
}

// TestIntegrationAdmin exercises the admin API of a running vxswitch
// process: tables, counters, captures, traces, explain, metrics, the
// socket's access rules and its lifetime.
func TestIntegrationAdmin(t *testing.T) {
	nstest.RequireRoot(t)
	th := newTwoHosts(t, "--metrics-listen", "127.0.0.1:9489")
	sock := th.sw1.socket
	ln := listen(t, th.blue2, "10.0.1.3:5001")
	transfer(t, th.blue1, "10.0.1.3:5001", ln, 256<<10)

	t.Run("fdb shows the peer's MAC behind its VTEP", func(t *testing.T) {
		var es []admin.FDBEntry
		cliJSON(t, &es, "fdb", "--socket", sock, "--network", "blue")
		var found bool
		for _, e := range es {
			if e.MAC == "02:00:0a:00:01:03" {
				found = true
				if e.VNI != 4097 || e.Where != "vtep 192.0.2.2" || e.Type != "learned" || e.Source != "learned from vtep 192.0.2.2" || e.AgeSeconds == nil {
					t.Errorf("entry %+v, want learned behind vtep 192.0.2.2 in VNI 4097", e)
				}
			}
		}
		if !found {
			t.Errorf("no entry for 02:00:0a:00:01:03 in %+v", es)
		}
		out, _, code := cli("fdb", "--socket", sock)
		if code != 0 || !regexp.MustCompile(`blue\s+4097\s+02:00:0a:00:01:03\s+vtep 192\.0\.2\.2\s+learned\s+\S+\s+learned from vtep 192\.0\.2\.2`).MatchString(out) {
			t.Errorf("fdb table:\n%s", out)
		}
	})

	t.Run("ports show each TAP's offloads", func(t *testing.T) {
		// h2 received the transfer: its port wrote merged segments.
		var ps []admin.PortEntry
		cliJSON(t, &ps, "ports", "--socket", th.sw2.socket)
		var found bool
		for _, p := range ps {
			if p.Name != "blue-eth1" {
				continue
			}
			found = true
			o := p.Offload
			if o == nil || !strings.HasPrefix(o.Mode, "vnet_hdr (tso4, tso6, uso, csum)") || o.GSOWrites == 0 ||
				o.GSOSegments <= o.GSOWrites || o.BadOffload != 0 {
				t.Errorf("h2 port blue-eth1 offload %+v, want its mode and merged writes", o)
			}
		}
		if !found {
			t.Fatalf("h2 has no port blue-eth1: %+v", ps)
		}
		out, _, code := cli("ports", "--socket", th.sw2.socket)
		if code != 0 || !regexp.MustCompile(`(?m)^blue-eth1\s+vnet_hdr \(tso4, tso6, uso, csum\), \d+ queues?\s+[1-9]\d* \([1-9]\d*\)\s+0$`).MatchString(out) {
			t.Errorf("ports table lacks blue-eth1's offloads:\n%s", out)
		}
	})

	t.Run("stats has every drop reason", func(t *testing.T) {
		// A datagram of a VNI h1 does not have.
		dg := make([]byte, 8+len(arpWhoHas([4]byte{10, 0, 1, 3})))
		copy(dg, []byte{0x08, 0, 0, 0, 0, 0, 0x03, 0xe7, 0}) // VNI 999
		copy(dg[8:], arpWhoHas([4]byte{10, 0, 1, 3}))
		sendDatagram(t, th.h2, "192.0.2.1:4789", dg)
		var st admin.Stats
		deadline := time.Now().Add(5 * time.Second)
		for {
			cliJSON(t, &st, "stats", "--socket", sock)
			if st.Unmatched.Drops["unknown_vni"] >= 1 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if st.Unmatched.Drops["unknown_vni"] < 1 || st.Total.Drops["unknown_vni"] < 1 {
			t.Errorf("unknown_vni not counted: %+v", st.Unmatched)
		}
		for _, r := range vswitch.Reasons() {
			for _, n := range st.Networks {
				if _, ok := n.Drops[r.String()]; !ok {
					t.Errorf("network %s lacks drop reason %s", n.Name, r)
				}
			}
		}
		if len(st.Networks) != 2 || st.Networks[0].Received == 0 || st.Networks[0].MACs < 2 {
			t.Errorf("networks %+v, want blue with traffic and red", st.Networks)
		}
		out, _, _ := cli("stats", "--socket", sock)
		if !regexp.MustCompile(`\(no network\)\s+unknown_vni\s+1`).MatchString(out) {
			t.Errorf("stats table lacks the unknown_vni drop:\n%s", out)
		}
	})

	t.Run("underlay capture decodes as VXLAN with its decisions", func(t *testing.T) {
		pkts, comments, stderr := captureFile(t, sock, func() {
			transfer(t, th.blue1, "10.0.1.3:5001", ln, 64<<10)
		}, "--underlay", "-c", "8")
		if len(pkts) != 8 || !strings.Contains(stderr, "8 packets captured, 0 dropped") {
			t.Fatalf("%d packets; stderr %q", len(pkts), stderr)
		}
		// Besides the transfer, the containers' own IPv6 chatter (router
		// solicitations, MLD) may be flooded in either network.
		comment := regexp.MustCompile(`^network (blue|red) \(VNI (\d+)\), (ingress from vtep 192\.0\.2\.2: (→ port|flood).*|egress: → vtep 192\.0\.2\.2)$`)
		blue := 0
		for i, data := range pkts {
			pkt := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
			ip4, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			udp, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
			vx, _ := pkt.Layer(layers.LayerTypeVXLAN).(*layers.VXLAN)
			if ip4 == nil || udp == nil || vx == nil || pkt.ErrorLayer() != nil {
				t.Fatalf("packet %d does not decode as Ethernet/IPv4/UDP/VXLAN: %v", i, pkt)
			}
			m := comment.FindStringSubmatch(comments[i])
			if m == nil {
				t.Errorf("packet %d: comment %q", i, comments[i])
				continue
			}
			if m[2] != strconv.Itoa(int(vx.VNI)) || udp.DstPort != 4789 {
				t.Errorf("packet %d: VNI %d, UDP dst %d; comment %q", i, vx.VNI, udp.DstPort, comments[i])
			}
			pair := ip4.SrcIP.String() + ">" + ip4.DstIP.String()
			if in := strings.Contains(m[3], "ingress"); in && pair != "192.0.2.2>192.0.2.1" || !in && pair != "192.0.2.1>192.0.2.2" {
				t.Errorf("packet %d %s: comment %q", i, pair, comments[i])
			}
			if vx.VNI == 4097 {
				blue++
			}
		}
		if blue == 0 {
			t.Errorf("no packet of the transfer in VNI 4097: %q", comments)
		}
	})

	t.Run("port capture decodes as Ethernet", func(t *testing.T) {
		pkts, comments, _ := captureFile(t, sock, func() {
			transfer(t, th.blue1, "10.0.1.3:5001", ln, 16<<10)
		}, "--port", "blue-eth1", "-c", "4")
		for i, data := range pkts {
			pkt := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
			eth, _ := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			if eth == nil || pkt.Layer(layers.LayerTypeIPv4) == nil && pkt.Layer(layers.LayerTypeIPv6) == nil {
				t.Errorf("packet %d is not Ethernet/IP: %v", i, pkt)
			}
			if !strings.HasPrefix(comments[i], "network blue (VNI 4097), ") || !strings.Contains(comments[i], "port blue-eth1") {
				t.Errorf("packet %d: comment %q", i, comments[i])
			}
		}
		if len(pkts) != 4 {
			t.Errorf("%d packets, want 4", len(pkts))
		}
	})

	t.Run("trace prints one line per arriving frame", func(t *testing.T) {
		type result struct {
			out  string
			code int
		}
		done := make(chan result, 1)
		go func() {
			o, _, code := cli("trace", "--socket", sock, "--port", "blue-eth1", "-c", "3")
			done <- result{o, code}
		}()
		waitSessions(t, sock, 1)
		transfer(t, th.blue1, "10.0.1.3:5001", ln, 16<<10)
		r := <-done
		line := regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{6} port blue-eth1\s+vni 4097\s+02:00:0a:00:01:02 > \S+ .+ \[.+\]$`)
		lines := strings.Split(strings.TrimSpace(r.out), "\n")
		if r.code != 0 || len(lines) != 3 {
			t.Fatalf("exit %d, output:\n%s", r.code, r.out)
		}
		for _, l := range lines {
			if !line.MatchString(l) {
				t.Errorf("trace line %q", l)
			}
		}
	})

	t.Run("explain says an ARP request for a known neighbor is proxied", func(t *testing.T) {
		var ns []admin.NeighEntry
		cliJSON(t, &ns, "neigh", "--socket", sock, "--network", "blue")
		known := false
		for _, n := range ns {
			known = known || n.IP == "10.0.1.3"
		}
		if !known {
			t.Fatalf("10.0.1.3 not in h1's neighbor table: %+v", ns)
		}
		out, errOut, code := cli("explain", "--socket", sock, "--port", "blue-eth1", "--frame", hex.EncodeToString(arpWhoHas([4]byte{10, 0, 1, 3})))
		if code != 0 || !strings.Contains(out, "ARP proxy: who-has 10.0.1.3 tell 10.0.1.2") || !strings.HasSuffix(out, "verdict: proxied\n") {
			t.Errorf("explain: exit %d\n%s%s", code, out, errOut)
		}
	})

	t.Run("non-root users are refused", func(t *testing.T) {
		exe := nobodyCopyOfTestBinary(t)
		asNobody := func() string {
			cmd := exec.Command(exe, "stats", "--socket", sock)
			cmd.Env = append(os.Environ(), "VXSWITCH_TEST_MAIN=1")
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Errorf("uid 65534 read the stats:\n%s", out)
			}
			return string(out)
		}
		if out := asNobody(); !strings.Contains(out, "permission denied") {
			t.Errorf("with the socket's mode 0600: %s", out)
		}
		// Past the file mode, SO_PEERCRED still refuses.
		dir := filepath.Dir(sock)
		os.Chmod(dir, 0o755)
		os.Chmod(sock, 0o666)
		defer os.Chmod(dir, 0o700)
		defer os.Chmod(sock, 0o600)
		if out := asNobody(); !strings.Contains(out, "uid 65534 is not allowed") {
			t.Errorf("with the socket opened up: %s", out)
		}
	})

	t.Run("a capture that never reads does not stop traffic", func(t *testing.T) {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer pr.Close() // never read
		cmd := exec.Command(exe, "capture", "--socket", sock, "--underlay", "-w", "-")
		cmd.Env = append(os.Environ(), "VXSWITCH_TEST_MAIN=1")
		cmd.Stdout = pw
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		waitSessions(t, sock, 1)
		transfer(t, th.blue1, "10.0.1.3:5001", ln, 12<<20)
		var st admin.Stats
		cliJSON(t, &st, "stats", "--socket", sock)
		if st.CaptureDrops == 0 {
			t.Errorf("capture_drops 0 after 12 MB past a capture nobody reads")
		}
		// The sender's TSO super-frames left as UDP GSO runs.
		if u := st.Underlay; u == nil || u.Mode == "" || u.GSOMessages == 0 || u.GSODatagrams < 2*u.GSOMessages {
			t.Errorf("underlay stats %+v after a 12 MB transfer out of this host, want GSO runs counted", u)
		}
		out, _, _ := cli("stats", "--socket", sock)
		if !strings.Contains(out, "UDP GSO sends (datagrams):") {
			t.Errorf("stats table lacks the UDP GSO row:\n%s", out)
		}
	})

	t.Run("metrics endpoint serves the counters", func(t *testing.T) {
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
				err = th.h1.Do(func() error { c, err = (&net.Dialer{}).DialContext(ctx, network, addr); return err })
				return c, err
			},
		}}
		resp, err := hc.Get("http://127.0.0.1:9489/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		values := map[string]float64{}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 2 && !strings.HasPrefix(f[0], "#") {
				values[f[0]], _ = strconv.ParseFloat(f[1], 64)
			}
		}
		for name, min := range map[string]float64{
			`vxswitch_network_received_frames_total{network="blue",vni="4097"}`:             100,
			`vxswitch_network_forwarded_frames_total{network="blue",vni="4097"}`:            100,
			`vxswitch_unmatched_dropped_datagrams_total{reason="unknown_vni"}`:              1,
			`vxswitch_fdb_entries{network="blue",vni="4097"}`:                               2,
			`vxswitch_port_rx_frames_total{network="blue",port="blue-eth1"}`:                100,
			`vxswitch_peer_rx_datagrams_total{vtep="192.0.2.2"}`:                            100,
			`vxswitch_capture_drops_total`:                                                  1,
			`vxswitch_underlay_gso_messages_total`:                                          1,
			`vxswitch_network_dropped_frames_total{network="red",reason="runt",vni="4098"}`: 0,
		} {
			v, ok := values[name]
			if !ok || v < min {
				t.Errorf("%s = %v (present %v), want at least %v", name, v, ok, min)
			}
		}
	})

	t.Run("a second vxswitch on the same socket refuses to start", func(t *testing.T) {
		cfg := filepath.Join(t.TempDir(), "second.yaml")
		os.WriteFile(cfg, []byte("underlay: {local: 192.0.2.1}\nnetworks: [{name: blue, vni: 4097}]\n"), 0o600)
		_, errOut, code := cli("run", "-c", cfg, "--admin-socket", sock)
		if code != 1 || !strings.Contains(errOut, "in use by a running process (pid ") {
			t.Errorf("exit %d: %s", code, errOut)
		}
	})

	if err := th.sw1.stop(); err != nil {
		t.Fatalf("vxswitch exit: %v\n%s", err, th.sw1.output())
	}
	if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("admin socket still there after exit: %v", err)
	}
}

// nobodyCopyOfTestBinary copies the test binary where uid 65534 can run
// it: go test keeps it in a directory only its owner may enter.
func nobodyCopyOfTestBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "vxbin")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "vxswitch")
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}
