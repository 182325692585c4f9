package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vxswitch/vxswitch/admin"
	"github.com/vxswitch/vxswitch/config"
	vswitch "github.com/vxswitch/vxswitch/switch"
)

// The commands that talk to a running vxswitch over its admin socket.

// clientOptions are the flags every client command has.
type clientOptions struct {
	socket string
	output string // table or json; empty for capture
}

// runner runs a client command once its flags are parsed.
type runner func(ctx context.Context, c *admin.Client, stdout, stderr io.Writer) error

// clientCommand describes one client command for dispatch and help.
type clientCommand struct {
	synopsis string // after "vxswitch "
	about    string
	// stream commands run until stopped; the others get a timeout.
	stream bool
	// noOutput: the command has no -o flag.
	noOutput bool
	// flags defines the command's own flags on fs and returns its runner.
	flags func(fs *flag.FlagSet, o *clientOptions) runner
}

// requestTimeout bounds the table commands and explain.
const requestTimeout = 10 * time.Second

var clientCommands = map[string]clientCommand{
	"fdb": {
		synopsis: "fdb [--network N] [--socket PATH] [-o table|json]",
		about:    "Prints the MAC table: per entry its network and VNI, the MAC, where it is\n(a local port or a remote VTEP), learned or static, its age, and where it\ncame from (learned from a port or VTEP, or the configuration).",
		flags: func(fs *flag.FlagSet, o *clientOptions) runner {
			network := fs.String("network", "", "only the network `NAME`")
			return func(ctx context.Context, c *admin.Client, stdout, _ io.Writer) error {
				es, err := c.FDB(ctx, *network)
				if err != nil {
					return err
				}
				return output(stdout, o.output, es, func(t *table) {
					t.row("NETWORK", "VNI", "MAC", "WHERE", "TYPE", "AGE", "SOURCE")
					for _, e := range es {
						t.row(e.Network, e.VNI, e.MAC, e.Where, e.Type, ageCell(e.AgeSeconds), e.Source)
					}
				})
			}
		},
	},
	"neigh": {
		synopsis: "neigh [--network N] [--socket PATH] [-o table|json]",
		about:    "Prints the neighbor table the ARP and ND proxy answers from: static\nentries from the configuration and addresses snooped from the traffic.",
		flags: func(fs *flag.FlagSet, o *clientOptions) runner {
			network := fs.String("network", "", "only the network `NAME`")
			return func(ctx context.Context, c *admin.Client, stdout, _ io.Writer) error {
				es, err := c.Neighbors(ctx, *network)
				if err != nil {
					return err
				}
				return output(stdout, o.output, es, func(t *table) {
					t.row("NETWORK", "VNI", "IP", "MAC", "TYPE", "AGE")
					for _, e := range es {
						t.row(e.Network, e.VNI, e.IP, e.MAC, e.Type, ageCell(e.AgeSeconds))
					}
				})
			}
		},
	},
	"ports": {
		synopsis: "ports [--socket PATH] [-o table|json]",
		about:    "Prints the local ports: name, namespace, interface name, MAC, MTU, network,\nframes and bytes received and sent, and frames the port could not take;\nthen each TAP's offload mode, the merged super-frames written to it (and\nthe segments they held), and the super-frames read from it that were\ndropped for an offload header that did not match their bytes.",
		flags: func(fs *flag.FlagSet, o *clientOptions) runner {
			return func(ctx context.Context, c *admin.Client, stdout, _ io.Writer) error {
				ps, err := c.Ports(ctx)
				if err != nil {
					return err
				}
				return output(stdout, o.output, ps, func(t *table) {
					t.row("NAME", "NETNS", "IFNAME", "MAC", "MTU", "NETWORK", "RX-FRAMES", "RX-BYTES", "TX-FRAMES", "TX-BYTES", "DROPS")
					for _, p := range ps {
						t.row(p.Name, p.Netns, p.IfName, p.MAC, p.MTU, fmt.Sprintf("%s (%d)", p.Network, p.VNI),
							p.RxFrames, p.RxBytes, p.TxFrames, p.TxBytes, p.Drops)
					}
					header := false
					for _, p := range ps {
						if p.Offload == nil {
							continue
						}
						if !header {
							t.blank()
							t.row("NAME", "OFFLOAD MODE", "GSO-WRITES (SEGMENTS)", "BAD-OFFLOAD")
							header = true
						}
						o := p.Offload
						t.row(p.Name, o.Mode, fmt.Sprintf("%d (%d)", o.GSOWrites, o.GSOSegments), o.BadOffload)
					}
				})
			}
		},
	},
	"peers": {
		synopsis: "peers [--socket PATH] [-o table|json]",
		about:    "Prints the remote VTEPs: the networks that name them (flood list, static\nentries) or have MACs behind them, when each was last heard from, and the\nVXLAN datagrams and bytes exchanged with it.",
		flags: func(fs *flag.FlagSet, o *clientOptions) runner {
			return func(ctx context.Context, c *admin.Client, stdout, _ io.Writer) error {
				ps, err := c.Peers(ctx)
				if err != nil {
					return err
				}
				return output(stdout, o.output, ps, func(t *table) {
					t.row("VTEP", "NETWORKS", "LAST-SEEN", "RX-DGRAMS", "RX-BYTES", "TX-DGRAMS", "TX-BYTES")
					for _, p := range ps {
						seen := "never"
						if p.LastSeenSeconds != nil {
							seen = ageCell(p.LastSeenSeconds) + " ago"
						}
						nets := strings.Join(p.Networks, ",")
						if nets == "" {
							nets = "-"
						}
						t.row(p.VTEP, nets, seen, p.RxDatagrams, p.RxBytes, p.TxDatagrams, p.TxBytes)
					}
				})
			}
		},
	},
	"stats": {
		synopsis: "stats [--socket PATH] [-o table|json]",
		about:    "Prints the counters per network and in total: frames received, forwarded,\nflooded, proxied and dropped, drops by reason (the table shows the reasons\nwith drops, json all of them), table sizes, and capture_drops: events\ncaptures and traces could not keep up with.",
		flags: func(fs *flag.FlagSet, o *clientOptions) runner {
			return func(ctx context.Context, c *admin.Client, stdout, _ io.Writer) error {
				st, err := c.Stats(ctx)
				if err != nil {
					return err
				}
				return output(stdout, o.output, st, func(t *table) { statsTable(t, st) })
			}
		},
	},
	"explain": {
		synopsis: "explain (--port P --frame HEX | --underlay --from ADDR[:PORT] --datagram HEX) [--socket PATH] [-o table|json]",
		about:    "Runs the forwarding decision on a frame as if it arrived on port P, or on a\nVXLAN datagram (UDP payload: VXLAN header and inner frame) as if it came\nfrom the underlay address ADDR, against the live tables, and prints each\nstep and the verdict. Nothing is learned, sent or counted.",
		flags: func(fs *flag.FlagSet, o *clientOptions) runner {
			var req admin.ExplainRequest
			fs.StringVar(&req.Port, "port", "", "the frame arrives on port `NAME`")
			fs.StringVar(&req.Frame, "frame", "", "the Ethernet frame in `HEX` (spaces and colons allowed)")
			fs.BoolVar(&req.Underlay, "underlay", false, "explain a datagram from the underlay instead")
			fs.StringVar(&req.From, "from", "", "underlay sender `ADDR[:PORT]` ([ADDR]:PORT for IPv6; port default 4789)")
			fs.StringVar(&req.Datagram, "datagram", "", "the VXLAN datagram (UDP payload) in `HEX`")
			return func(ctx context.Context, c *admin.Client, stdout, _ io.Writer) error {
				if err := checkExplain(&req); err != nil {
					return usageError{err}
				}
				ex, err := c.Explain(ctx, req)
				if err != nil {
					return err
				}
				if o.output == "json" {
					return writeJSONOut(stdout, ex)
				}
				for i, s := range ex.Steps {
					fmt.Fprintf(stdout, "%2d. %s\n", i+1, s)
				}
				fmt.Fprintf(stdout, "verdict: %s\n", ex.Verdict.Decision)
				return nil
			}
		},
	},
	"capture": {
		synopsis: "capture [--port P | --network N | --underlay] [-w FILE|-] [-c COUNT] [--socket PATH]",
		about:    "Writes the frames passing the switch as pcapng, flushed packet by packet\n(vxswitch capture --underlay -w - | tshark -r - works live): one port's or\none network's Ethernet frames (default: every network's), or with\n--underlay the VXLAN datagrams in rebuilt outer Ethernet/IP/UDP headers.\nEach packet's comment holds the network, ingress or egress and the\ndecision; drops are captured too. Stops after COUNT packets or on SIGINT,\nthen reports on standard error how many packets the capture could not\nkeep up with (forwarding never waits for a capture).",
		stream:   true,
		noOutput: true,
		flags:    captureFlags,
	},
	"trace": {
		synopsis: "trace [--network N] [--port P] [-c COUNT] [--socket PATH] [-o table|json]",
		about:    "Prints one line per frame entering the switch, live: time, ingress (port\nor VTEP), VNI, source > destination MAC, a summary of the frame, and the\ndecision in brackets. -o json prints JSON Lines. Stops after COUNT lines\nor on SIGINT; like capture, it never slows forwarding and reports what it\ndropped.",
		stream:   true,
		flags:    traceFlags,
	},
}

// clientFlags builds the flag set of client command name.
func clientFlags(name string, out io.Writer) (*flag.FlagSet, *clientOptions, runner) {
	cc := clientCommands[name]
	o := &clientOptions{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	run := cc.flags(fs, o)
	fs.StringVar(&o.socket, "socket", config.DefaultAdminSocket, "admin socket `PATH` of the running vxswitch")
	if !cc.noOutput {
		fs.StringVar(&o.output, "o", "table", "output `FORMAT`: table or json")
	}
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: vxswitch %s\n\n%s\n\nOptions:\n", cc.synopsis, cc.about)
		fs.PrintDefaults()
	}
	return fs, o, run
}

func cmdClient(name string, args []string, stdout, stderr io.Writer) error {
	fs, o, run := clientFlags(name, stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch o.output {
	case "", "table", "json":
	default:
		return usageError{fmt.Errorf("-o %q: want table or json", o.output)}
	}
	if o.socket == "" {
		return usageError{errors.New("--socket: want the admin socket's path")}
	}
	ctx := context.Background()
	if !clientCommands[name].stream {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, requestTimeout)
		defer cancel()
	}
	return run(ctx, admin.NewClient(o.socket), stdout, stderr)
}

func checkExplain(r *admin.ExplainRequest) error {
	if r.Underlay {
		if r.Port != "" || r.Frame != "" {
			return errors.New("--underlay takes --from and --datagram, not --port or --frame")
		}
		if r.From == "" || r.Datagram == "" {
			return errors.New("--underlay needs --from ADDR[:PORT] and --datagram HEX")
		}
		if _, err := admin.ParseFrom(r.From); err != nil {
			return fmt.Errorf("--from: %w", err)
		}
		if _, err := admin.DecodeHex(r.Datagram); err != nil {
			return fmt.Errorf("--datagram: %w", err)
		}
		return nil
	}
	if r.From != "" || r.Datagram != "" {
		return errors.New("--from and --datagram need --underlay")
	}
	if r.Port == "" || r.Frame == "" {
		return errors.New("give --port P --frame HEX, or --underlay --from ADDR --datagram HEX")
	}
	if _, err := admin.DecodeHex(r.Frame); err != nil {
		return fmt.Errorf("--frame: %w", err)
	}
	return nil
}

// output writes v as indented JSON, or as the table fill builds.
func output(w io.Writer, format string, v any, fill func(*table)) error {
	if format == "json" {
		return writeJSONOut(w, v)
	}
	t := newTable(w)
	fill(t)
	return t.flush()
}

func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// ageCell renders an age in seconds for tables; "-" where none applies.
func ageCell(s *float64) string {
	if s == nil {
		return "-"
	}
	d := time.Duration(*s * float64(time.Second))
	if d >= time.Minute {
		return d.Truncate(time.Second).String()
	}
	return d.Truncate(100 * time.Millisecond).String()
}

func statsTable(t *table, st *admin.Stats) {
	t.row("NETWORK", "VNI", "RECEIVED", "FORWARDED", "FLOODED", "PROXIED", "DROPPED", "MACS", "NEIGH")
	for _, n := range st.Networks {
		t.row(n.Name, n.VNI, n.Received, n.Forwarded, n.Flooded, n.Proxied, n.Dropped, n.MACs, n.Neighbors)
	}
	u := st.Unmatched
	t.row("(no network)", "-", u.Received, "-", "-", "-", u.Dropped, "-", "-")
	tot := st.Total
	t.row("total", "-", tot.Received, tot.Forwarded, tot.Flooded, tot.Proxied, tot.Dropped, tot.MACs, tot.Neighbors)
	var rows [][]any
	drops := func(name string, c admin.Counters) {
		for _, r := range reasonNames() {
			if n := c.Drops[r]; n > 0 {
				rows = append(rows, []any{name, r, n})
			}
		}
		if c.NotLearned > 0 {
			rows = append(rows, []any{name, "(not learned, table full; still forwarded)", c.NotLearned})
		}
	}
	for _, n := range st.Networks {
		drops(n.Name, n.Counters)
	}
	drops("(no network)", st.Unmatched)
	t.blank()
	if len(rows) == 0 {
		t.row("no drops")
	} else {
		t.row("NETWORK", "DROP REASON", "FRAMES")
		for _, r := range rows {
			t.row(r...)
		}
	}
	t.blank()
	t.row("underlay send errors:", st.UnderlayTxErrors)
	if u := st.Underlay; u != nil {
		t.row("underlay mode:", u.Mode)
		t.row("UDP GSO sends (datagrams):", fmt.Sprintf("%d (%d)", u.GSOMessages, u.GSODatagrams))
		t.row("UDP GRO runs received (datagrams):", fmt.Sprintf("%d (%d)", u.GRORuns, u.GRODatagrams))
		t.row("GSO sockets open (ports refused):", fmt.Sprintf("%d (%d)", u.GSOSockets, u.GSOPortsRefused))
	}
	t.row("capture drops:", st.CaptureDrops)
	t.row("captures and traces running:", st.Sessions)
}

func reasonNames() []string {
	var out []string
	for _, r := range vswitch.Reasons() {
		out = append(out, r.String())
	}
	return out
}

// table writes aligned columns; a blank line starts a new alignment block.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer) *table {
	return &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
}

func (t *table) row(cells ...any) {
	for i, c := range cells {
		if i > 0 {
			io.WriteString(t.tw, "\t")
		}
		fmt.Fprint(t.tw, c)
	}
	io.WriteString(t.tw, "\n")
}

func (t *table) blank() { io.WriteString(t.tw, "\n") }

func (t *table) flush() error { return t.tw.Flush() }
