package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vxswitch/vxswitch/fuzzpeer"
	"github.com/vxswitch/vxswitch/vtep"
)

// maxFuzzRate caps --rate: fuzz-peer is for testing a VTEP, not loading it.
const maxFuzzRate = 100_000

type fuzzPeerOptions struct {
	target, local, probe, probeSrcIP, probeSrcMAC, classes, dump string
	vni, seed                                                    uint64
	count, rate, batch                                           int
	timeout                                                      time.Duration
}

func fuzzPeerFlags(out io.Writer) (*flag.FlagSet, *fuzzPeerOptions) {
	o := &fuzzPeerOptions{}
	fs := flag.NewFlagSet("fuzz-peer", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.target, "target", "", "the peer VTEP: a literal IP `ADDR[:PORT]` (port 4789 by default); no host names, prefixes, ranges, broadcast or multicast")
	fs.Uint64Var(&o.vni, "vni", 0, "`VNI` of the network the responder is in")
	fs.StringVar(&o.probe, "probe", "", "IPv4 `ADDR` of a responder behind the peer in that VNI: it must answer ARP and ICMP echo")
	fs.StringVar(&o.probeSrcIP, "probe-src-ip", "", "the fuzzer's own overlay IPv4 `ADDR` for probes (default: the probe address with last octet 250); mutated frames come from the next address")
	fs.StringVar(&o.probeSrcMAC, "probe-src-mac", "02:66:7a:00:00:01", "the fuzzer's own overlay `MAC` for probes; mutated frames come from it plus one")
	fs.StringVar(&o.local, "local", "", "the fuzzer's VTEP `ADDR[:PORT]`, which the peer must know (flood list or remote); answers come back to it (default: the address the kernel would send to the target from, port 4789)")
	fs.Uint64Var(&o.seed, "seed", 0, "`SEED` for the mutations; the same seed sends the same bytes (default: from the clock, printed)")
	fs.IntVar(&o.count, "count", fuzzpeer.DefaultCount, "mutated datagrams to send in all")
	fs.IntVar(&o.rate, "rate", fuzzpeer.DefaultRate, fmt.Sprintf("at most `PPS` datagrams per second, probes included (max %d)", maxFuzzRate))
	fs.IntVar(&o.batch, "batch", fuzzpeer.DefaultBatch, "mutated datagrams of one class between two probes")
	fs.StringVar(&o.classes, "classes", "all", "comma-separated mutation `CLASSES`: flags, reserved, vni, truncate, length, ethernet, arp, ipv4, ipv6")
	fs.DurationVar(&o.timeout, "timeout", fuzzpeer.DefaultProbeTimeout, "how long a probe waits for its answer")
	fs.StringVar(&o.dump, "dump", "", "write every mutated datagram (index, class, hex, mutation) to `FILE`")
	fs.Usage = func() {
		fmt.Fprint(out, "Usage: vxswitch fuzz-peer --target ADDR[:PORT] --vni N --probe ADDR [options]\n\n"+
			"Fuzzes another VXLAN endpoint (a kernel vxlan device, a switch, vxswitch itself):\n"+
			"sends datagrams mutated from valid frames, one class of mutations per batch, and\n"+
			"after each batch checks with a probe (ARP, then ICMP echo to --probe, through the\n"+
			"peer and back) that the peer still forwards valid traffic. Listens as a VTEP on\n"+
			"--local, which the peer must know. Prints, per class: datagrams sent, answers\n"+
			"from the responder to mutated frames (the peer forwarded them), and the probes.\n"+
			"Only ever sends to the one address given; rate-limited. Exit status 1 if the\n"+
			"peer stops forwarding.\n\nOptions:\n")
		fs.PrintDefaults()
	}
	return fs, o
}

func cmdFuzzPeer(args []string, stdout, stderr io.Writer) error {
	fs, o := fuzzPeerFlags(stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, local, err := o.config()
	if err != nil {
		return usageError{err}
	}
	var dump *os.File
	if o.dump != "" {
		if dump, err = os.Create(o.dump); err != nil {
			return err
		}
		defer dump.Close()
		cfg.Dump = dump
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(local))
	if err != nil {
		return fmt.Errorf("listen as a VTEP on %v: %w", local, err)
	}
	defer conn.Close()
	cfg.Logf = func(format string, args ...any) { fmt.Fprintf(stderr, "fuzz-peer: "+format+"\n", args...) }
	cfg.Logf("listening on %v; seed %d (repeat with --seed %d)", local, cfg.Seed, cfg.Seed)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := fuzzpeer.Run(ctx, conn, cfg)
	if rep != nil {
		rep.WriteTo(stdout)
	}
	if errors.Is(err, context.Canceled) {
		return nil // interrupted: the partial report is the answer
	}
	return err
}

// config turns the flags into a fuzzpeer.Config and the local VTEP address.
func (o *fuzzPeerOptions) config() (fuzzpeer.Config, netip.AddrPort, error) {
	var cfg fuzzpeer.Config
	if o.target == "" || o.probe == "" {
		return cfg, netip.AddrPort{}, errors.New("--target, --vni and --probe are required")
	}
	target, err := fuzzpeer.ParseTarget(o.target)
	if err != nil {
		return cfg, netip.AddrPort{}, err
	}
	if o.vni > vtep.MaxVNI {
		return cfg, netip.AddrPort{}, fmt.Errorf("--vni %d out of range 0..%d", o.vni, vtep.MaxVNI)
	}
	probe, err := netip.ParseAddr(o.probe)
	if err != nil || !probe.Is4() {
		return cfg, netip.AddrPort{}, fmt.Errorf("--probe %q: want an IPv4 address", o.probe)
	}
	src := probe.As4()
	src[3] = 250
	if src[3] == probe.As4()[3] || src[3]+1 == probe.As4()[3] {
		src[3] = 240
	}
	srcIP := netip.AddrFrom4(src)
	if o.probeSrcIP != "" {
		if srcIP, err = netip.ParseAddr(o.probeSrcIP); err != nil || !srcIP.Is4() {
			return cfg, netip.AddrPort{}, fmt.Errorf("--probe-src-ip %q: want an IPv4 address", o.probeSrcIP)
		}
	}
	hw, err := net.ParseMAC(o.probeSrcMAC)
	if err != nil || len(hw) != 6 {
		return cfg, netip.AddrPort{}, fmt.Errorf("--probe-src-mac %q: want a MAC address", o.probeSrcMAC)
	}
	if o.rate <= 0 || o.rate > maxFuzzRate {
		return cfg, netip.AddrPort{}, fmt.Errorf("--rate %d: want 1..%d", o.rate, maxFuzzRate)
	}
	if o.count <= 0 || o.batch <= 0 {
		return cfg, netip.AddrPort{}, errors.New("--count and --batch must be positive")
	}
	classes, err := fuzzpeer.ParseClasses(o.classes)
	if err != nil {
		return cfg, netip.AddrPort{}, err
	}
	local, err := localVTEP(o.local, target)
	if err != nil {
		return cfg, netip.AddrPort{}, err
	}
	seed := o.seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	cfg = fuzzpeer.Config{
		Target: target, VNI: uint32(o.vni), Seed: seed, Count: o.count, Rate: o.rate, Batch: o.batch,
		Classes: classes, Responder: probe, Prober: fuzzpeer.Identity{MAC: [6]byte(hw), IP: srcIP},
		ProbeTimeout: o.timeout,
	}
	return cfg, local, nil
}

// localVTEP parses --local, or picks the address the kernel routes to the
// target from (a UDP "connect" sends nothing), on the VXLAN port.
func localVTEP(s string, target netip.AddrPort) (netip.AddrPort, error) {
	var local netip.AddrPort
	switch {
	case s == "":
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(target))
		if err != nil {
			return local, fmt.Errorf("no route to %v to pick --local from: %w", target, err)
		}
		local = netip.AddrPortFrom(c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), vtep.DefaultPort)
		c.Close()
	default:
		if a, err := netip.ParseAddr(s); err == nil {
			local = netip.AddrPortFrom(a, vtep.DefaultPort)
		} else if local, err = netip.ParseAddrPort(s); err != nil {
			return local, fmt.Errorf("--local %q: want ADDR or ADDR:PORT", s)
		}
	}
	if local == target {
		return local, fmt.Errorf("--local %v is the target itself: give the fuzzer its own address (e.g. --local 127.0.0.2 for a target on 127.0.0.1)", local)
	}
	if local.Addr().Is4() != target.Addr().Is4() {
		return local, fmt.Errorf("--local %v and --target %v are of different address families", local, target)
	}
	return local, nil
}
