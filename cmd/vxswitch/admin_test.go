package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vxswitch/vxswitch/admin"
)

func TestClientFlagErrors(t *testing.T) {
	nowhere := t.TempDir() + "/none.sock"
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"unknown flag", []string{"fdb", "--vni", "1"}, 2, "flag provided but not defined: -vni"},
		{"stray argument", []string{"stats", "blue"}, 2, `vxswitch stats: unexpected argument "blue"`},
		{"bad output", []string{"ports", "-o", "yaml"}, 2, `vxswitch ports: -o "yaml": want table or json`},
		{"empty socket", []string{"peers", "--socket", ""}, 2, "vxswitch peers: --socket: want the admin socket's path"},
		{"capture of two things", []string{"capture", "--port", "c1", "--underlay", "--socket", nowhere}, 2, "give at most one of --port, --network and --underlay"},
		{"capture has no -o", []string{"capture", "-o", "json"}, 2, "flag provided but not defined: -o"},
		{"bad count", []string{"capture", "-c", "many"}, 2, `invalid value "many" for flag -c`},
		{"explain without input", []string{"explain", "--socket", nowhere}, 2, "give --port P --frame HEX, or --underlay --from ADDR --datagram HEX"},
		{"explain port without frame", []string{"explain", "--port", "c1", "--socket", nowhere}, 2, "give --port P --frame HEX"},
		{"explain bad hex", []string{"explain", "--port", "c1", "--frame", "xyz", "--socket", nowhere}, 2, "--frame: not hex"},
		{"explain underlay with a port", []string{"explain", "--underlay", "--port", "c1", "--from", "192.0.2.2", "--datagram", "00", "--socket", nowhere}, 2, "--underlay takes --from and --datagram, not --port or --frame"},
		{"explain underlay without from", []string{"explain", "--underlay", "--datagram", "00", "--socket", nowhere}, 2, "--underlay needs --from ADDR[:PORT] and --datagram HEX"},
		{"explain bad from", []string{"explain", "--underlay", "--from", "h2", "--datagram", "00", "--socket", nowhere}, 2, `--from: "h2" is not ADDR or ADDR:PORT`},
		{"explain from without underlay", []string{"explain", "--from", "192.0.2.2", "--socket", nowhere}, 2, "--from and --datagram need --underlay"},
		{"no switch running", []string{"fdb", "--socket", nowhere}, 1, "none.sock: dial unix " + nowhere + ": connect: no such file or directory (is vxswitch running with this admin socket? see --socket)"},
		{"run with a relative socket", []string{"run", "-c", "../../config/testdata/vxswitch.yaml", "--admin-socket", "x.sock"}, 2, `vxswitch run: --admin-socket: "x.sock" is not an absolute path`},
		{"run with a zero TAP queue length", []string{"run", "-c", "../../config/testdata/vxswitch.yaml", "--tap-txqueuelen", "0"}, 2, "vxswitch run: --tap-txqueuelen 0: want 1 to 65536"},
		{"run with a huge TAP queue length", []string{"run", "-c", "../../config/testdata/vxswitch.yaml", "--tap-txqueuelen", "65537"}, 2, "vxswitch run: --tap-txqueuelen 65537: want 1 to 65536"},
		{"run with a bad metrics address", []string{"run", "-c", "../../config/testdata/vxswitch.yaml", "--metrics-listen", "9489"}, 2, `vxswitch run: --metrics-listen: "9489" is not host:port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runMain(tt.args, &stdout, &stderr)
			if code != tt.wantCode || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr.String(), tt.wantCode, tt.wantErr)
			}
		})
	}
}

func TestClientHelp(t *testing.T) {
	for name, cc := range clientCommands {
		var stdout, stderr bytes.Buffer
		if code := runMain([]string{"help", name}, &stdout, &stderr); code != 0 {
			t.Errorf("help %s: exit %d: %s", name, code, stderr.String())
		}
		out := stdout.String()
		if !strings.HasPrefix(out, "Usage: vxswitch "+cc.synopsis) || !strings.Contains(out, "-socket PATH") {
			t.Errorf("help %s:\n%s", name, out)
		}
		if !strings.Contains(usage, "vxswitch "+name) {
			t.Errorf("the usage text does not list %s", name)
		}
	}
}

func TestStatsTable(t *testing.T) {
	drops := func(kv ...any) map[string]uint64 {
		m := map[string]uint64{}
		for _, r := range reasonNames() {
			m[r] = 0
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = uint64(kv[i+1].(int))
		}
		return m
	}
	st := &admin.Stats{
		Networks: []admin.NetworkStats{
			{Name: "blue", VNI: 4097, Counters: admin.Counters{Received: 10, Forwarded: 6, Flooded: 2, Proxied: 1, Dropped: 1, Drops: drops("same_port", 1)}, MACs: 2, Neighbors: 1},
			{Name: "red", VNI: 4098, Counters: admin.Counters{Drops: drops(), NotLearned: 3}},
		},
		Unmatched:    admin.Counters{Received: 2, Dropped: 2, Drops: drops("unknown_vni", 2)},
		Total:        admin.TotalStats{Counters: admin.Counters{Received: 12, Forwarded: 6, Flooded: 2, Proxied: 1, Dropped: 3}, MACs: 2, Neighbors: 1},
		CaptureDrops: 5,
		Sessions:     1,
	}
	var b bytes.Buffer
	tb := newTable(&b)
	statsTable(tb, st)
	tb.flush()
	want := `NETWORK       VNI   RECEIVED  FORWARDED  FLOODED  PROXIED  DROPPED  MACS  NEIGH
blue          4097  10        6          2        1        1        2     1
red           4098  0         0          0        0        0        0     0
(no network)  -     2         -          -        -        2        -     -
total         -     12        6          2        1        3        2     1

NETWORK       DROP REASON                                 FRAMES
blue          same_port                                   1
red           (not learned, table full; still forwarded)  3
(no network)  unknown_vni                                 2

underlay send errors:         0
capture drops:                5
captures and traces running:  1
`
	if b.String() != want {
		t.Errorf("stats table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestTablesAndJSON(t *testing.T) {
	age := 12.34
	es := []admin.FDBEntry{
		{Network: "blue", VNI: 4097, MAC: "02:00:0a:00:01:03", Where: "vtep 192.0.2.2", Type: "learned", AgeSeconds: &age, Source: "learned from vtep 192.0.2.2"},
		{Network: "blue", VNI: 4097, MAC: "02:00:0a:00:01:09", Where: "vtep 192.0.2.3", Type: "static", Source: "config"},
	}
	var b bytes.Buffer
	output(&b, "table", es, func(t *table) {
		t.row("NETWORK", "VNI", "MAC", "WHERE", "TYPE", "AGE", "SOURCE")
		for _, e := range es {
			t.row(e.Network, e.VNI, e.MAC, e.Where, e.Type, ageCell(e.AgeSeconds), e.Source)
		}
	})
	want := `NETWORK  VNI   MAC                WHERE           TYPE     AGE    SOURCE
blue     4097  02:00:0a:00:01:03  vtep 192.0.2.2  learned  12.3s  learned from vtep 192.0.2.2
blue     4097  02:00:0a:00:01:09  vtep 192.0.2.3  static   -      config
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	output(&b, "json", es[1:], nil)
	wantJSON := `[
  {
    "network": "blue",
    "vni": 4097,
    "mac": "02:00:0a:00:01:09",
    "where": "vtep 192.0.2.3",
    "type": "static",
    "age_seconds": null,
    "source": "config"
  }
]
`
	if b.String() != wantJSON {
		t.Errorf("json:\n%s\nwant:\n%s", b.String(), wantJSON)
	}
	for _, tt := range []struct {
		s    float64
		want string
	}{{0.05, "0s"}, {1.26, "1.2s"}, {61.9, "1m1s"}, {3600.5, "1h0m0s"}} {
		if got := ageCell(&tt.s); got != tt.want {
			t.Errorf("ageCell(%v) = %q, want %q", tt.s, got, tt.want)
		}
	}
}

// TestHelpEveryCommand: every command the usage text lists has its own help.
func TestHelpEveryCommand(t *testing.T) {
	for _, name := range []string{"run", "validate", "version", "fuzz-peer", "fdb", "capture", "explain"} {
		var stdout, stderr bytes.Buffer
		if code := runMain([]string{"help", name}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "Usage: vxswitch "+name) {
			t.Errorf("help %s: exit %d, stdout %q, stderr %q", name, code, stdout.String(), stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := runMain([]string{"help", "nope"}, &stdout, &stderr); code != exitUsage || !strings.Contains(stderr.String(), `unknown command "nope"`) {
		t.Errorf("help nope: exit %d, stderr %q", code, stderr.String())
	}
}
