package scenario

import (
	"fmt"
	"net/netip"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vxswitch/vxswitch/fdb"
	"github.com/vxswitch/vxswitch/internal/nstest"
	vswitch "github.com/vxswitch/vxswitch/switch"
)

// counts is a snapshot of one switch's counters, or the difference of two.
type counts struct {
	nets  map[string]vswitch.Stats
	peers map[netip.Addr]vswitch.IOStats
	ports map[string]portCounts
}

type portCounts struct {
	io    vswitch.IOStats
	drops uint64
}

// noIO is an IOStats difference in which nothing moved.
var noIO vswitch.IOStats

// counts snapshots h's switch.
func (h *host) counts() counts {
	c := counts{nets: map[string]vswitch.Stats{}, peers: map[netip.Addr]vswitch.IOStats{}, ports: map[string]portCounts{}}
	nets, _ := h.d.Switch.Stats()
	for _, n := range nets {
		c.nets[n.Name] = n.Stats
	}
	for _, p := range h.d.Switch.Peers() {
		c.peers[p.Addr] = p.IO
	}
	for _, p := range h.d.Switch.Ports() {
		c.ports[p.Name] = portCounts{io: p.IO, drops: p.Drops}
	}
	return c
}

// snapshot is every host's counts at one moment, by host name.
type snapshot map[string]counts

// snapshot takes every host's settled counts: the frames of the step
// before must all have been counted, or they would be charged to the next.
func (c *cluster) snapshot() snapshot {
	s := snapshot{}
	for _, h := range c.hosts {
		s[h.name] = h.settled()
	}
	return s
}

// since returns what h's counters did after before was taken.
func (h *host) since(before snapshot) counts { return h.counts().sub(before[h.name]) }

// check waits until cond holds for h's counters since before, then until
// they hold still, and asks cond again; it fails the test, naming what was
// wanted, if either answer is no. Counters move just after the frame they
// count is delivered, so a positive check must wait for them; and a check
// for "nothing" must not pass merely because a frame is still on its way.
func (h *host) check(t *testing.T, before snapshot, what string, cond func(d counts) bool) {
	t.Helper()
	var d counts
	ok := nstest.Poll(arrive, func() bool { d = h.since(before); return cond(d) })
	if ok {
		d = h.settled().sub(before[h.name])
		ok = cond(d)
	}
	if !ok {
		t.Errorf("%s: want %s; counters since:%v", h.name, what, d)
	}
}

// settled returns h's counts once two reads settleGap apart agree (or after
// a second, if the switch never stops counting). With no traffic of the
// test's own in flight nothing else moves them: IPv6 is off everywhere.
func (h *host) settled() counts {
	const settleGap = 50 * time.Millisecond
	prev := h.counts()
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		time.Sleep(settleGap)
		cur := h.counts()
		if reflect.DeepEqual(cur, prev) {
			return cur
		}
		prev = cur
	}
	return prev
}

// sub returns c - b, entry by entry; entries missing from b count from zero.
func (c counts) sub(b counts) counts {
	d := counts{nets: map[string]vswitch.Stats{}, peers: map[netip.Addr]vswitch.IOStats{}, ports: map[string]portCounts{}}
	for k, v := range c.nets {
		d.nets[k] = subStats(v, b.nets[k])
	}
	for k, v := range c.peers {
		d.peers[k] = subIO(v, b.peers[k])
	}
	for k, v := range c.ports {
		d.ports[k] = portCounts{io: subIO(v.io, b.ports[k].io), drops: v.drops - b.ports[k].drops}
	}
	return d
}

func subStats(a, b vswitch.Stats) vswitch.Stats {
	d := vswitch.Stats{
		Received: a.Received - b.Received, Forwarded: a.Forwarded - b.Forwarded,
		Flooded: a.Flooded - b.Flooded, Proxied: a.Proxied - b.Proxied,
		LearnFull: a.LearnFull - b.LearnFull, Drops: map[string]uint64{},
	}
	for r, n := range a.Drops {
		if n != b.Drops[r] {
			d.Drops[r] = n - b.Drops[r]
		}
	}
	return d
}

func subIO(a, b vswitch.IOStats) vswitch.IOStats {
	return vswitch.IOStats{
		RxFrames: a.RxFrames - b.RxFrames, RxBytes: a.RxBytes - b.RxBytes,
		TxFrames: a.TxFrames - b.TxFrames, TxBytes: a.TxBytes - b.TxBytes,
		TxErrors: a.TxErrors - b.TxErrors,
	}
}

// peer, net and port read one entry; a missing one reads as zero.
func (c counts) peer(h *host) vswitch.IOStats  { return c.peers[h.addr] }
func (c counts) net(name string) vswitch.Stats { return c.nets[name] }
func (c counts) port(ct *container) portCounts { return c.ports[ct.port] }

// noTx holds when nothing was sent, or failed to send, to any peer.
func noTx(d counts) bool {
	for _, io := range d.peers {
		if io.TxFrames != 0 || io.TxErrors != 0 {
			return false
		}
	}
	return true
}

// noUnderlay holds when no peer counter moved.
func noUnderlay(d counts) bool {
	for _, io := range d.peers {
		if io != noIO {
			return false
		}
	}
	return true
}

// String prints the counters, for failure messages.
func (c counts) String() string {
	var lines []string
	for name, s := range c.nets {
		lines = append(lines, fmt.Sprintf("net %s: rx %d fwd %d flood %d proxy %d drops %v learnfull %d",
			name, s.Received, s.Forwarded, s.Flooded, s.Proxied, s.Drops, s.LearnFull))
	}
	for a, io := range c.peers {
		lines = append(lines, fmt.Sprintf("peer %s: %s", a, ioString(io)))
	}
	for name, p := range c.ports {
		lines = append(lines, fmt.Sprintf("port %s: %s drops %d", name, ioString(p.io), p.drops))
	}
	sort.Strings(lines)
	return "\n\t" + strings.Join(lines, "\n\t")
}

func ioString(io vswitch.IOStats) string {
	return fmt.Sprintf("rx %d frames %d B, tx %d frames %d B, tx errors %d",
		io.RxFrames, io.RxBytes, io.TxFrames, io.TxBytes, io.TxErrors)
}

// fdbWhere returns where h's FDB for network puts mac ("port NAME" or
// "vtep ADDR"), or "" if it has no live entry.
func (h *host) fdbWhere(network string, ct *container) string {
	for _, e := range h.d.Switch.FDB(network) {
		if e.MAC == fdb.MAC(ct.mac) {
			return e.Where
		}
	}
	return ""
}

// fdbString prints h's FDB for failure messages.
func (h *host) fdbString(network string) string { return h.fdbRows(network, true) }

// fdbRows prints h's FDB for network, sorted, with or without the ages.
func (h *host) fdbRows(network string, ages bool) string {
	var rows []string
	for _, e := range h.d.Switch.FDB(network) {
		row := fmt.Sprintf("%s %s %s", e.MAC, e.Where, e.Type)
		if ages {
			row += fmt.Sprintf(" age %v", e.Age.Round(time.Millisecond))
		}
		rows = append(rows, row)
	}
	sort.Strings(rows)
	return fmt.Sprintf("%s FDB %s: [%s]", h.name, network, strings.Join(rows, "; "))
}

// wantFDB waits until h's FDB puts ct's MAC at where ("" for absent).
func (h *host) wantFDB(t *testing.T, network string, ct *container, where string, within time.Duration) {
	t.Helper()
	what := fmt.Sprintf("%s: %s (%s) at %q", h.name, ct.name, ct.mac, where)
	if !nstest.Poll(within, func() bool { return h.fdbWhere(network, ct) == where }) {
		t.Fatalf("%s: not within %v; %s", what, within, h.fdbString(network))
	}
}

// vtepOf is how the FDB names a MAC behind host o.
func vtepOf(o *host) string { return "vtep " + o.addr.String() }

// portOf is how the FDB names a MAC on ct's port.
func portOf(ct *container) string { return "port " + ct.port }
