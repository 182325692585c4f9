package fuzzpeer

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"github.com/vxswitch/vxswitch/internal/csum"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vxswitch/vxswitch/vtep"
)

// fakePeer is a VTEP on loopback with one responder behind it: it answers
// ARP for the responder's address, ICMP echo to it (checksums checked, as
// a stack does) and to all nodes, and neighbor solicitations for its
// link-local address. strict drops reserved bits as the Linux kernel does.
type fakePeer struct {
	conn   *net.UDPConn
	vni    uint32
	strict bool
	resp   Identity
	// dieAfter, when positive, makes the peer stop answering after that
	// many datagrams.
	dieAfter atomic.Int64
	seen     atomic.Int64
}

func startFakePeer(t *testing.T, strict bool) *fakePeer {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &fakePeer{conn: c, vni: 4097, strict: strict, resp: testResponder}
	done := make(chan struct{})
	t.Cleanup(func() { c.Close(); <-done })
	go func() { defer close(done); p.serve() }()
	return p
}

func (p *fakePeer) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *fakePeer) serve() {
	buf := make([]byte, 65536)
	for {
		n, from, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if d := p.dieAfter.Load(); d > 0 && p.seen.Add(1) > d {
			continue
		}
		vni, err := vtep.Parse(buf[:n], p.strict)
		if err != nil || vni != p.vni || n < vtep.HeaderLen+ethLen {
			continue
		}
		if out := p.respond(buf[vtep.HeaderLen:n]); out != nil {
			b := make([]byte, vtep.HeaderLen+len(out))
			vtep.PutHeader(b, p.vni)
			copy(b[vtep.HeaderLen:], out)
			p.conn.WriteToUDPAddrPort(b, from)
		}
	}
}

func (p *fakePeer) respond(f []byte) []byte {
	dst, src := [6]byte(f[0:6]), [6]byte(f[6:12])
	if dst != broadcastMAC && dst != p.resp.MAC && dst != allNodesMAC && f[0] != 0x33 {
		return nil
	}
	body := f[ethLen:]
	switch binary.BigEndian.Uint16(f[12:14]) {
	case etherARP:
		if len(body) < arpBodyLen || binary.BigEndian.Uint16(body[0:2]) != 1 || binary.BigEndian.Uint16(body[2:4]) != etherIPv4 ||
			body[4] != 6 || body[5] != 4 || binary.BigEndian.Uint16(body[6:8]) != arpRequest {
			return nil
		}
		if netip.AddrFrom4([4]byte(body[24:28])) != p.resp.IP {
			return nil
		}
		sha := [6]byte(body[8:14])
		return arpFrame(sha, arpReply, p.resp, sha, netip.AddrFrom4([4]byte(body[14:18])))
	case etherIPv4:
		if len(body) < ipv4Len || body[0] != 0x45 || csum.Fold(csum.Sum(body[:ipv4Len], 0)) != 0xffff {
			return nil
		}
		total := int(binary.BigEndian.Uint16(body[2:4]))
		if total < ipv4Len+icmpEchoLen || total > len(body) || body[9] != protoICMP ||
			netip.AddrFrom4([4]byte(body[16:20])) != p.resp.IP || body[ipv4Len] != icmpEcho ||
			csum.Fold(csum.Sum(body[ipv4Len:total], 0)) != 0xffff || binary.BigEndian.Uint16(body[6:8])&0x3fff != 0 {
			return nil
		}
		icmp := body[ipv4Len:total]
		from := Identity{MAC: p.resp.MAC, IP: p.resp.IP}
		r := echo4Frame(src, from, netip.AddrFrom4([4]byte(body[12:16])), binary.BigEndian.Uint16(icmp[4:6]),
			binary.BigEndian.Uint16(icmp[6:8]), icmp[icmpEchoLen:])
		r[ethLen+ipv4Len] = icmpEchoRe
		fixIPv4(r[ethLen:])
		return r
	case etherIPv6:
		if len(body) < ipv6Len+icmpEchoLen || body[0]>>4 != 6 || body[6] != protoICMPv6 {
			return nil
		}
		pl := int(binary.BigEndian.Uint16(body[4:6]))
		if ipv6Len+pl > len(body) {
			return nil
		}
		msg := body[ipv6Len : ipv6Len+pl]
		srcIP := netip.AddrFrom16([16]byte(body[8:24]))
		switch {
		case msg[0] == icmp6Echo:
			r := echo6Frame(src, p.resp, srcIP, binary.BigEndian.Uint16(msg[4:6]), binary.BigEndian.Uint16(msg[6:8]), msg[icmpEchoLen:])
			r[ethLen+ipv6Len] = icmp6EchoRe
			fixICMPv6(r[ethLen:], ipv6Len)
			return r
		case msg[0] == icmp6NS && len(msg) >= 24 && body[7] == ndHopLimit &&
			netip.AddrFrom16([16]byte(msg[8:24])) == p.resp.LinkLocal():
			return naFrame(src, srcIP, p.resp.LinkLocal(), p.resp.MAC)
		}
	}
	return nil
}

func listenFuzzer(t *testing.T) *net.UDPConn {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testConfig(target netip.AddrPort) Config {
	return Config{Target: target, VNI: 4097, Seed: 7, Count: 9 * 40, Rate: 5000, Batch: 40,
		Responder: testResponder.IP, Prober: testProber,
		ProbeTimeout: 300 * time.Millisecond, Settle: 20 * time.Millisecond, Recover: 600 * time.Millisecond}
}

// TestRunAgainstFakePeer fuzzes a strict fake peer (reserved bits
// dropped, as the Linux kernel does) and a lenient one (ignored, as RFC
// 7348 says): both stay alive; neither answers a wrong VNI; only the
// lenient one answers frames with reserved bits (or reserved flags); the run
// keeps to its rate and dumps every datagram.
func TestRunAgainstFakePeer(t *testing.T) {
	for _, strict := range []bool{true, false} {
		peer := startFakePeer(t, strict)
		cfg := testConfig(peer.addr())
		var dump bytes.Buffer
		cfg.Dump = &dump
		start := time.Now()
		rep, err := Run(context.Background(), listenFuzzer(t), cfg)
		if err != nil {
			t.Fatalf("strict=%v: %v", strict, err)
		}
		var out strings.Builder
		rep.WriteTo(&out)
		t.Logf("strict=%v:\n%s", strict, out.String())
		if !rep.Alive() {
			t.Errorf("strict=%v: the fake peer died", strict)
		}
		if min := time.Duration(cfg.Count) * time.Second / time.Duration(cfg.Rate); time.Since(start) < min {
			t.Errorf("strict=%v: %d datagrams in %v, faster than %d/s", strict, cfg.Count, time.Since(start), cfg.Rate)
		}
		if n := strings.Count(dump.String(), "\n"); n != cfg.Count {
			t.Errorf("dump has %d lines, want %d", n, cfg.Count)
		}
		responses := map[Class]int{}
		for _, c := range rep.Classes {
			responses[c.Class] = c.Responses
			if c.Sent != cfg.Count/len(Classes()) {
				t.Errorf("class %s: sent %d", c.Class, c.Sent)
			}
		}
		if responses[ClassVNI] != 0 || (strict && responses[ClassFlags] != 0) {
			t.Errorf("strict=%v: answers to wrong VNIs (%d) or bad flags (%d)", strict, responses[ClassVNI], responses[ClassFlags])
		}
		if strict == (responses[ClassReserved] > 0) {
			t.Errorf("strict=%v: %d answers to frames with reserved bits", strict, responses[ClassReserved])
		}
		for _, c := range []Class{ClassIPv4, ClassIPv6, ClassARP} {
			if responses[c] == 0 {
				t.Errorf("strict=%v: no answers to any %s mutation", strict, c)
			}
		}
	}
}

// TestRunReportsDeadPeer: a peer that stops answering makes Run return
// ErrPeerDead with the report so far, naming the class after which the
// probes failed.
func TestRunReportsDeadPeer(t *testing.T) {
	peer := startFakePeer(t, true)
	// ARP and the opening probe take 3 datagrams, each batch of 40 and its
	// probe 42: the 100th datagram is in the third batch (vni).
	peer.dieAfter.Store(100)
	cfg := testConfig(peer.addr())
	rep, err := Run(context.Background(), listenFuzzer(t), cfg)
	if !errors.Is(err, ErrPeerDead) || rep == nil {
		t.Fatalf("Run = %v, %v; want ErrPeerDead and a report", rep, err)
	}
	if rep.Alive() {
		t.Error("report says alive")
	}
	var failed []Class
	for _, c := range rep.Classes {
		if c.ProbesFailed > 0 {
			failed = append(failed, c.Class)
		}
	}
	if len(failed) != 1 || failed[0] != ClassVNI {
		t.Errorf("failed probes after %v, want after the third batch (vni)", failed)
	}
}

// TestRunRefuses checks that Run will not send to what ParseTarget refuses
// even when a caller builds the Config by hand.
func TestRunRefuses(t *testing.T) {
	for _, target := range []string{"224.0.0.1:4789", "255.255.255.255:4789", "0.0.0.0:4789", "[ff02::1]:4789"} {
		cfg := testConfig(netip.MustParseAddrPort(target))
		if _, err := Run(context.Background(), listenFuzzer(t), cfg); !errors.Is(err, ErrTarget) {
			t.Errorf("Run to %s: %v, want ErrTarget", target, err)
		}
	}
}
