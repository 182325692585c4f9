package fuzzpeer

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vxswitch/vxswitch/vtep"
)

// Defaults for Config fields left zero.
const (
	DefaultCount        = 1000
	DefaultRate         = 1000
	DefaultBatch        = 50
	DefaultProbeTimeout = time.Second
	DefaultSettle       = 100 * time.Millisecond
	DefaultRecover      = 5 * time.Second
)

// ErrPeerDead is returned (with the report so far) when the peer stops
// answering probes and does not recover.
var ErrPeerDead = errors.New("peer stopped forwarding: probes unanswered")

// Config is one fuzzing run.
type Config struct {
	// Target is the peer VTEP; use ParseTarget.
	Target netip.AddrPort
	// VNI is the network the peer serves and the responder is in.
	VNI uint32
	// Seed makes the run reproducible: the same seed (and responder MAC,
	// VNI, identities, classes, batch size) sends the same bytes.
	Seed uint64
	// Count is how many mutated datagrams to send in all.
	Count int
	// Rate bounds everything the fuzzer sends, in datagrams per second.
	Rate int
	// Batch is how many mutated datagrams of one class go between probes.
	Batch int
	// Classes are cycled through, one batch each; default all.
	Classes []Class
	// Responder is the IPv4 address, behind the peer in VNI, that answers
	// ARP and ICMP echo: the probe target.
	Responder netip.Addr
	// Prober is the fuzzer's own overlay identity for probes. Mutated
	// frames come from Prober's MAC with the last byte plus one and its
	// IPv4 address plus one, so that fuzzing cannot disturb how the peer
	// and the responder reach the prober.
	Prober Identity
	// ProbeTimeout is how long one probe waits for its answer.
	ProbeTimeout time.Duration
	// Settle is how long to wait after a batch for answers to it.
	Settle time.Duration
	// Recover is how long a failed probe is retried before the peer is
	// declared dead.
	Recover time.Duration
	// Dump, if set, gets one line per mutated datagram: index, class,
	// mutation, hex.
	Dump io.Writer
	// Logf, if set, reports progress.
	Logf func(format string, args ...any)
}

// fuzzIdentity is where mutated frames come from.
func (c *Config) fuzzIdentity() Identity {
	id := Identity{MAC: c.Prober.MAC, IP: c.Prober.IP.Next()}
	id.MAC[5]++
	return id
}

func (c *Config) setDefaults() error {
	switch {
	case !c.Target.IsValid():
		return errors.New("fuzz peer: no target")
	case c.VNI > vtep.MaxVNI:
		return fmt.Errorf("fuzz peer: VNI %d out of range 0..%d", c.VNI, vtep.MaxVNI)
	case !c.Responder.Is4():
		return fmt.Errorf("fuzz peer: the responder must be an IPv4 address, not %v", c.Responder)
	case !c.Prober.IP.Is4():
		return fmt.Errorf("fuzz peer: the prober's address must be IPv4, not %v", c.Prober.IP)
	case c.Prober.MAC[0]&1 != 0 || c.Prober.MAC == [6]byte{}:
		return fmt.Errorf("fuzz peer: the prober's MAC %x must be unicast", c.Prober.MAC)
	case c.Prober.IP == c.Responder || c.Prober.IP.Next() == c.Responder:
		return fmt.Errorf("fuzz peer: the prober's addresses %v and %v must differ from the responder's", c.Prober.IP, c.Prober.IP.Next())
	}
	if err := checkUnicast(c.Target.Addr()); err != nil {
		return err
	}
	if c.Count <= 0 {
		c.Count = DefaultCount
	}
	if c.Rate <= 0 {
		c.Rate = DefaultRate
	}
	if c.Batch <= 0 {
		c.Batch = DefaultBatch
	}
	if len(c.Classes) == 0 {
		c.Classes = Classes()
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = DefaultProbeTimeout
	}
	if c.Settle <= 0 {
		c.Settle = DefaultSettle
	}
	if c.Recover <= 0 {
		c.Recover = DefaultRecover
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return nil
}

// ClassReport is what one mutation class did to the peer.
type ClassReport struct {
	Class Class
	// Sent counts mutated datagrams of this class.
	Sent int
	// Responses counts frames the responder sent the fuzz identity while
	// this class's batches were in flight (ARP replies, echo replies,
	// neighbor advertisements, ICMP errors): mutated frames the peer
	// forwarded and the responder understood. Tagged of them are echo
	// replies whose payload names a datagram of this class.
	Responses, Tagged int
	// Probes after this class's batches: answered at once, answered after
	// retries, never answered.
	ProbesOK, ProbesRetried, ProbesFailed int
}

// Alive reports whether the peer answered every probe after this class.
func (c ClassReport) Alive() bool { return c.ProbesFailed == 0 && c.ProbesOK+c.ProbesRetried > 0 }

// Report is the outcome of a run.
type Report struct {
	Target       netip.AddrPort
	VNI          uint32
	Seed         uint64
	ResponderMAC [6]byte
	Classes      []ClassReport
	// Datagrams from the peer that were not for us: another VNI, not
	// VXLAN, or from another address.
	OtherVNI, Malformed, Elsewhere int
	// ARPChanged counts probe ARP answers naming another MAC than the
	// responder's first answer (a poisoned proxy or table).
	ARPChanged int
	Duration   time.Duration
}

// Alive reports whether the peer answered every probe.
func (r *Report) Alive() bool {
	for _, c := range r.Classes {
		if c.Sent > 0 && !c.Alive() {
			return false
		}
	}
	return true
}

// WriteTo prints the report as a table.
func (r *Report) WriteTo(w io.Writer) (int64, error) {
	var n int64
	p := func(format string, args ...any) {
		m, _ := fmt.Fprintf(w, format, args...)
		n += int64(m)
	}
	p("fuzz-peer %v VNI %d seed %d: responder at %s, %v\n", r.Target, r.VNI, r.Seed, net.HardwareAddr(r.ResponderMAC[:]), r.Duration.Round(time.Millisecond))
	p("%-9s %7s %10s %7s %9s %8s %7s %s\n", "class", "sent", "responses", "tagged", "probes-ok", "retried", "failed", "alive")
	for _, c := range r.Classes {
		alive := "yes"
		if !c.Alive() {
			alive = "NO"
		}
		p("%-9s %7d %10d %7d %9d %8d %7d %s\n", c.Class, c.Sent, c.Responses, c.Tagged, c.ProbesOK, c.ProbesRetried, c.ProbesFailed, alive)
	}
	p("from the peer: %d in other VNIs, %d not VXLAN, %d from other addresses; %d probe ARP answers changed MAC\n",
		r.OtherVNI, r.Malformed, r.Elsewhere, r.ARPChanged)
	verdict := "peer forwarded valid traffic after every class"
	if !r.Alive() {
		verdict = "PEER STOPPED FORWARDING during the run"
	}
	p("%s\n", verdict)
	return n, nil
}

// probeEchoID marks the prober's echo requests.
const probeEchoID = 0x7072

// Run fuzzes the peer at cfg.Target over conn, a UDP socket bound to the
// fuzzer's own VTEP address (which the peer must know: its flood list or
// remote), and returns the report. It stops early, returning the report so
// far, when ctx ends or the peer dies (ErrPeerDead).
func Run(ctx context.Context, conn *net.UDPConn, cfg Config) (*Report, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, conn: conn, fuzz: cfg.fuzzIdentity(), start: time.Now(),
		arpAnswers: make(chan [6]byte, 16), echoAnswers: make(chan uint16, 16)}
	r.rep = &Report{Target: cfg.Target, VNI: cfg.VNI, Seed: cfg.Seed}
	byClass := map[Class]int{}
	for _, c := range cfg.Classes {
		if _, dup := byClass[c]; !dup {
			byClass[c] = len(r.rep.Classes)
			r.rep.Classes = append(r.rep.Classes, ClassReport{Class: c})
		}
	}
	r.byClass = byClass
	r.current.Store(-1)
	done := make(chan struct{})
	defer func() {
		// Unblock the reader: a deadline in the past ends its ReadFrom.
		conn.SetReadDeadline(time.Unix(1, 0))
		<-done
		conn.SetReadDeadline(time.Time{})
	}()
	go func() { defer close(done); r.receive() }()

	mac, ok := r.resolve(ctx)
	if !ok {
		return nil, fmt.Errorf("fuzz peer: no ARP answer for %v through %v (VNI %d) before fuzzing: does the peer know this VTEP (%v), and is the responder up?",
			cfg.Responder, cfg.Target, cfg.VNI, conn.LocalAddr())
	}
	r.setResponderMAC(mac)
	if ok, _ := r.probe(ctx); !ok {
		return nil, fmt.Errorf("fuzz peer: the responder %v answers ARP but not ICMP echo through %v", cfg.Responder, cfg.Target)
	}
	gen := NewGenerator(cfg.Seed, Templates{
		VNI: cfg.VNI, Fuzz: r.fuzz, Responder: Identity{MAC: mac, IP: cfg.Responder},
		Avoid:    [][6]byte{cfg.Prober.MAC, mac},
		AvoidIPs: []netip.Addr{cfg.Prober.IP},
	})
	cfg.Logf("fuzzing %v VNI %d: responder %v at %s, %d datagrams at up to %d/s, seed %d",
		cfg.Target, cfg.VNI, cfg.Responder, net.HardwareAddr(mac[:]), cfg.Count, cfg.Rate, cfg.Seed)

	var err error
	for sent, batch := 0, 0; sent < cfg.Count; batch++ {
		if ctx.Err() != nil {
			err = ctx.Err()
			break
		}
		class := cfg.Classes[batch%len(cfg.Classes)]
		ci := byClass[class]
		r.current.Store(int32(ci))
		for range min(cfg.Batch, cfg.Count-sent) {
			d := gen.Next(class)
			r.noteIndex(d.Index, ci)
			if cfg.Dump != nil {
				fmt.Fprintf(cfg.Dump, "%d %s %s | %s\n", d.Index, d.Class, hex.EncodeToString(d.Bytes), d.What)
			}
			if e := r.send(ctx, d.Bytes); e != nil {
				return r.finish(), e
			}
			sent++
			r.mu.Lock()
			r.rep.Classes[ci].Sent++
			r.mu.Unlock()
		}
		sleep(ctx, cfg.Settle)
		ok, retried := r.probe(ctx)
		r.mu.Lock()
		cr := &r.rep.Classes[ci]
		switch {
		case ok && !retried:
			cr.ProbesOK++
		case ok:
			cr.ProbesRetried++
		default:
			cr.ProbesFailed++
		}
		r.mu.Unlock()
		if !ok {
			cfg.Logf("after a batch of %s: the peer does not forward probes any more", class)
			err = ErrPeerDead
			break
		}
	}
	return r.finish(), err
}

type runner struct {
	cfg   Config
	conn  *net.UDPConn
	fuzz  Identity
	start time.Time

	sendMu sync.Mutex
	last   time.Time // guarded by sendMu; when the last send was due

	mu      sync.Mutex
	rep     *Report
	byClass map[Class]int
	classOf []int32 // datagram index → class report index; guarded by mu
	respMAC [6]byte // guarded by mu
	current atomic.Int32

	probeSeq    uint16
	arpAnswers  chan [6]byte
	echoAnswers chan uint16
}

func (r *runner) finish() *Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rep.Duration = time.Since(r.start)
	rep := *r.rep
	rep.Classes = append([]ClassReport(nil), r.rep.Classes...)
	return &rep
}

func (r *runner) setResponderMAC(m [6]byte) {
	r.mu.Lock()
	r.respMAC, r.rep.ResponderMAC = m, m
	r.mu.Unlock()
}

func (r *runner) noteIndex(i uint32, ci int) {
	r.mu.Lock()
	for uint32(len(r.classOf)) <= i {
		r.classOf = append(r.classOf, -1)
	}
	r.classOf[i] = int32(ci)
	r.mu.Unlock()
}

// send sends b, a whole VXLAN payload, to the target, at most cfg.Rate
// datagrams a second.
func (r *runner) send(ctx context.Context, b []byte) error {
	r.sendMu.Lock()
	next := r.last.Add(time.Second / time.Duration(r.cfg.Rate))
	if now := time.Now(); next.Before(now) {
		next = now // no catching up after a pause: that would be a burst
	}
	r.last = next
	r.sendMu.Unlock()
	if d := time.Until(next); d > 0 {
		sleep(ctx, d)
	}
	if _, err := r.conn.WriteToUDPAddrPort(b, r.cfg.Target); err != nil {
		if errors.Is(err, net.ErrClosed) {
			return err
		}
		// ICMP errors from the peer surface on later sends
		// (ECONNREFUSED on a connected socket); one lost datagram is
		// not a reason to stop.
		r.cfg.Logf("send: %v", err)
	}
	return nil
}

// reply sends an answer to the peer at once, outside the pacing.
func (r *runner) reply(frame []byte) {
	b := make([]byte, vtep.HeaderLen+len(frame))
	vtep.PutHeader(b, r.cfg.VNI)
	copy(b[vtep.HeaderLen:], frame)
	r.conn.WriteToUDPAddrPort(b, r.cfg.Target)
}

func (r *runner) sendFrame(ctx context.Context, frame []byte) error {
	b := make([]byte, vtep.HeaderLen+len(frame))
	vtep.PutHeader(b, r.cfg.VNI)
	copy(b[vtep.HeaderLen:], frame)
	return r.send(ctx, b)
}

// resolve asks for the responder's MAC with ARP from the prober's identity.
func (r *runner) resolve(ctx context.Context) ([6]byte, bool) {
	for range 3 {
		drain(r.arpAnswers)
		r.sendFrame(ctx, arpFrame(broadcastMAC, arpRequest, r.cfg.Prober, [6]byte{}, r.cfg.Responder))
		select {
		case m := <-r.arpAnswers:
			return m, true
		case <-time.After(r.cfg.ProbeTimeout):
		case <-ctx.Done():
			return [6]byte{}, false
		}
	}
	return [6]byte{}, false
}

// probe checks that the peer forwards valid traffic both ways: an ARP
// request (flooded by the peer, answered by the responder or the peer's
// proxy) and an ICMP echo request (unicast to the responder). It retries
// until cfg.Recover passes; retried reports that the first try failed.
func (r *runner) probe(ctx context.Context) (ok, retried bool) {
	deadline := time.Now().Add(r.cfg.Recover)
	for try := 0; ; try++ {
		if r.probeOnce(ctx) {
			return true, try > 0
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false, true
		}
		sleep(ctx, 200*time.Millisecond)
	}
}

func (r *runner) probeOnce(ctx context.Context) bool {
	drain(r.arpAnswers)
	r.sendFrame(ctx, arpFrame(broadcastMAC, arpRequest, r.cfg.Prober, [6]byte{}, r.cfg.Responder))
	select {
	case m := <-r.arpAnswers:
		r.mu.Lock()
		if m != r.respMAC {
			r.rep.ARPChanged++
		}
		r.mu.Unlock()
	case <-time.After(r.cfg.ProbeTimeout):
		return false
	case <-ctx.Done():
		return false
	}
	r.probeSeq++
	seq := r.probeSeq
	r.mu.Lock()
	mac := r.respMAC
	r.mu.Unlock()
	r.sendFrame(ctx, echo4Frame(mac, r.cfg.Prober, r.cfg.Responder, probeEchoID, seq, []byte("vxswitch fuzz-peer probe")))
	timeout := time.After(r.cfg.ProbeTimeout)
	for {
		select {
		case s := <-r.echoAnswers:
			if s == seq {
				return true
			}
		case <-timeout:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

func drain[T any](c chan T) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// receive reads what the peer sends until the socket's deadline passes:
// it answers ARP and ND for the fuzzer's identities, passes probe answers
// on, and counts answers to mutated frames.
func (r *runner) receive() {
	buf := make([]byte, 65536)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP errors surface as read errors on some systems
		}
		r.handle(from, buf[:n])
	}
}

func (r *runner) handle(from netip.AddrPort, b []byte) {
	if from.Addr().Unmap() != r.cfg.Target.Addr() {
		r.count(func(rep *Report) { rep.Elsewhere++ })
		return
	}
	vni, err := vtep.Parse(b, false)
	if err != nil || len(b) < vtep.HeaderLen+ethLen {
		r.count(func(rep *Report) { rep.Malformed++ })
		return
	}
	if vni != r.cfg.VNI {
		r.count(func(rep *Report) { rep.OtherVNI++ })
		return
	}
	f := b[vtep.HeaderLen:]
	dst := [6]byte(f[0:6])
	typ := binary.BigEndian.Uint16(f[12:14])
	switch {
	case typ == etherARP && len(f) >= ethLen+arpBodyLen:
		r.handleARP(f)
	case typ == etherIPv6 && len(f) >= ethLen+ipv6Len+24 && f[ethLen+6] == protoICMPv6 && f[ethLen+ipv6Len] == icmp6NS:
		r.handleNS(f)
	}
	switch dst {
	case r.cfg.Prober.MAC:
		if typ == etherIPv4 && len(f) >= ethLen+ipv4Len+icmpEchoLen {
			ip := f[ethLen:]
			ihl := int(ip[0]&0x0f) * 4
			if ip[9] == protoICMP && ihl >= ipv4Len && len(ip) >= ihl+icmpEchoLen && ip[ihl] == icmpEchoRe &&
				binary.BigEndian.Uint16(ip[ihl+4:ihl+6]) == probeEchoID {
				select {
				case r.echoAnswers <- binary.BigEndian.Uint16(ip[ihl+6 : ihl+8]):
				default:
				}
			}
		}
	case r.fuzz.MAC:
		r.response(f)
	}
}

// handleARP answers requests for the fuzzer's addresses and passes the
// responder's replies to the prober on.
func (r *runner) handleARP(f []byte) {
	a := f[ethLen:]
	if binary.BigEndian.Uint16(a[0:2]) != 1 || binary.BigEndian.Uint16(a[2:4]) != etherIPv4 || a[4] != 6 || a[5] != 4 {
		return
	}
	op, sha := binary.BigEndian.Uint16(a[6:8]), [6]byte(a[8:14])
	spa, tpa := netip.AddrFrom4([4]byte(a[14:18])), netip.AddrFrom4([4]byte(a[24:28]))
	if op == arpRequest {
		for _, id := range []Identity{r.cfg.Prober, r.fuzz} {
			if tpa == id.IP {
				r.reply(arpFrame(sha, arpReply, id, sha, spa))
			}
		}
		return
	}
	if op == arpReply && spa == r.cfg.Responder && [6]byte(a[18:24]) == r.cfg.Prober.MAC {
		select {
		case r.arpAnswers <- sha:
		default:
		}
	}
}

// handleNS answers neighbor solicitations for the fuzzer's link-local
// addresses: the responder asks before it answers an ICMPv6 echo.
func (r *runner) handleNS(f []byte) {
	ip := f[ethLen:]
	target := netip.AddrFrom16([16]byte(ip[ipv6Len+8 : ipv6Len+24]))
	src := netip.AddrFrom16([16]byte(ip[8:24]))
	for _, id := range []Identity{r.cfg.Prober, r.fuzz} {
		if target == id.LinkLocal() {
			to := src
			if to.IsUnspecified() {
				to = allNodes
			}
			r.reply(naFrame([6]byte(f[6:12]), to, target, id.MAC))
		}
	}
}

// response counts a frame the responder sent to the fuzz identity.
func (r *runner) response(f []byte) {
	ci := int(r.current.Load())
	tagged := false
	if idx, ok := echoReplyTag(f); ok {
		r.mu.Lock()
		if idx < uint32(len(r.classOf)) && r.classOf[idx] >= 0 {
			ci, tagged = int(r.classOf[idx]), true
		}
		r.mu.Unlock()
	}
	if ci < 0 {
		return // before fuzzing started
	}
	r.count(func(rep *Report) {
		rep.Classes[ci].Responses++
		if tagged {
			rep.Classes[ci].Tagged++
		}
	})
}

// echoReplyTag returns the datagram index an ICMP or ICMPv6 echo reply
// carries back.
func echoReplyTag(f []byte) (uint32, bool) {
	typ := binary.BigEndian.Uint16(f[12:14])
	p := f[ethLen:]
	switch {
	case typ == etherIPv4 && len(p) >= ipv4Len:
		ihl := int(p[0]&0x0f) * 4
		if p[9] != protoICMP || ihl < ipv4Len || len(p) < ihl+icmpEchoLen || p[ihl] != icmpEchoRe {
			return 0, false
		}
		return readTag(p[ihl+icmpEchoLen:])
	case typ == etherIPv6 && len(p) >= ipv6Len+icmpEchoLen:
		if p[6] != protoICMPv6 || p[ipv6Len] != icmp6EchoRe {
			return 0, false
		}
		return readTag(p[ipv6Len+icmpEchoLen:])
	}
	return 0, false
}

func (r *runner) count(f func(*Report)) {
	r.mu.Lock()
	f(r.rep)
	r.mu.Unlock()
}
