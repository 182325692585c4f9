// Command fdbfill fills a running vxswitch's MAC table: it sends VXLAN
// datagrams from this host's underlay address, each carrying a frame from
// its own source MAC, so the switch learns that many MACs behind this VTEP.
// scripts/bench-e2e.sh runs it to measure the switch's memory with a full
// table.
//
// The MACs are 02:fd:II:II:II:II, locally administered unicast with the
// frame's 32-bit index in the last four bytes. Each frame is addressed to
// its own source MAC: the switch learns the MAC behind this VTEP, finds the
// destination there too and drops the frame (split horizon), so the fill
// sends nothing on to the switch's ports or other VTEPs.
//
// Usage:
//
//	fdbfill -to ADDR[:PORT] [-from ADDR] [-vni N] [-n COUNT] [-first I] [-rate PPS]
//
// The datagrams go out from an ephemeral port of -from, not from 4789:
// vxswitch knows its peers by address, and a VTEP on this host may hold
// port 4789 already. Sending all of them again refreshes the entries, so a
// caller that finds some missing (socket buffers drop under load) can
// repeat the same command, slower.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"
)

const (
	vxlanPort = 4789
	hdrLen    = 8 // VXLAN header, RFC 7348 §5
	frameLen  = 60
	// etherType is IEEE 802 local experimental 1: nothing parses it.
	etherType = 0x88b5
	// burst is how many datagrams go out between pacing checks.
	burst = 64
)

func main() {
	err := run(os.Args[1:])
	switch {
	case err == nil:
	case errors.Is(err, errUsage): // flag has printed what was wrong
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "fdbfill:", err)
		os.Exit(1)
	}
}

// errUsage: the flags did not parse.
var errUsage = errors.New("usage")

func run(args []string) error {
	fs := flag.NewFlagSet("fdbfill", flag.ContinueOnError)
	to := fs.String("to", "", "the switch's underlay `ADDR[:PORT]` (port default 4789)")
	from := fs.String("from", "", "send from local address `ADDR` (default: chosen by the kernel)")
	vni := fs.Uint("vni", 0, "VXLAN network identifier `N` (0–16777215)")
	n := fs.Uint("n", 100000, "how many datagrams, one per MAC")
	first := fs.Uint("first", 0, "index of the first MAC")
	rate := fs.Float64("rate", 0, "datagrams per second; 0 sends as fast as the socket takes them")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	dst, err := parseTarget(*to)
	if err != nil {
		return err
	}
	if *vni > 1<<24-1 {
		return fmt.Errorf("-vni %d: want 0 to %d", *vni, 1<<24-1)
	}
	if uint64(*first)+uint64(*n) > 1<<32 {
		return fmt.Errorf("-first %d -n %d: the MAC index has 32 bits", *first, *n)
	}
	if *rate < 0 {
		return fmt.Errorf("-rate %g: want 0 or more", *rate)
	}
	local := &net.UDPAddr{}
	if *from != "" {
		a, err := netip.ParseAddr(*from)
		if err != nil {
			return fmt.Errorf("-from: %w", err)
		}
		local.IP = a.AsSlice()
	}
	c, err := net.ListenUDP("udp", local)
	if err != nil {
		return err
	}
	defer c.Close()

	start := time.Now()
	sent, err := send(c, dst, uint32(*vni), uint32(*first), uint32(*n), *rate, start)
	took := time.Since(start)
	if err != nil {
		return fmt.Errorf("after %d datagrams: %w", sent, err)
	}
	fmt.Printf("sent %d datagrams to %s (VNI %d) in %.2f s, %.0f/s\n",
		sent, dst, *vni, took.Seconds(), float64(sent)/max(took.Seconds(), 1e-9))
	return nil
}

// parseTarget reads ADDR or ADDR:PORT ([ADDR]:PORT for IPv6).
func parseTarget(s string) (netip.AddrPort, error) {
	if s == "" {
		return netip.AddrPort{}, errors.New("-to is required: the switch's underlay address")
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a, vxlanPort), nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("-to %q: want ADDR or ADDR:PORT", s)
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("-to %q: %w", s, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return netip.AddrPort{}, fmt.Errorf("-to %q: bad port", s)
	}
	return netip.AddrPortFrom(a, uint16(p)), nil
}

// send writes n datagrams for MACs first… to dst, at most rate per second
// (unpaced if rate is 0), and returns how many it wrote.
func send(c *net.UDPConn, dst netip.AddrPort, vni, first, n uint32, rate float64, start time.Time) (uint32, error) {
	var b [hdrLen + frameLen]byte
	b[0] = 0x08 // I flag: the VNI is valid
	binary.BigEndian.PutUint32(b[4:], vni<<8)
	f := b[hdrLen:]
	f[0], f[1] = 0x02, 0xfd // destination = source, see the package comment
	f[6], f[7] = 0x02, 0xfd
	binary.BigEndian.PutUint16(f[12:], etherType)
	for i := uint32(0); i < n; i++ {
		if rate > 0 && i%burst == 0 {
			due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
		}
		binary.BigEndian.PutUint32(f[2:], first+i)
		binary.BigEndian.PutUint32(f[8:], first+i)
		if _, err := c.WriteToUDPAddrPort(b[:], dst); err != nil {
			return i, err
		}
	}
	return n, nil
}
