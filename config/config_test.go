package config

import (
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// cmpOpts compares netip values by ==, and nil slices equal to empty ones.
var cmpOpts = []cmp.Option{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmpopts.EquateEmpty(),
}

// doc joins lines with newlines, so a case's line numbers are its argument
// positions plus one.
func doc(lines ...string) string {
	return strings.Join(lines, "\n") + "\n"
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func mac(s string) net.HardwareAddr {
	hw, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return hw
}

func defaultUnderlay(local string) Underlay {
	return Underlay{
		Local:      netip.MustParseAddr(local),
		Port:       DefaultPort,
		MTU:        DefaultMTU,
		SrcPortMin: DefaultSrcPortMin,
		SrcPortMax: DefaultSrcPortMax,
	}
}

func defaultNetwork(name string, vni uint32, line int) Network {
	return Network{
		Name:     name,
		VNI:      vni,
		Learning: true,
		ARPProxy: true,
		Ageing:   DefaultAgeing,
		MaxMACs:  DefaultMaxMACs,
		Line:     line,
	}
}

var (
	defaultLog   = Log{Level: DefaultLogLevel, Format: DefaultLogFormat}
	defaultAdmin = Admin{Socket: DefaultAdminSocket}
)

func TestLoadExample(t *testing.T) {
	want := &Config{
		Underlay: Underlay{
			Local:      netip.MustParseAddr("192.0.2.1"),
			Port:       4789,
			MTU:        1500,
			SrcPortMin: 49152,
			SrcPortMax: 65535,
		},
		Networks: []Network{
			{
				Name:     "blue",
				VNI:      4097,
				Flood:    addrs("192.0.2.2", "192.0.2.3"),
				Learning: true,
				ARPProxy: true,
				Ageing:   300 * time.Second,
				MaxMACs:  8192,
				FDB:      []StaticMAC{{MAC: mac("02:00:0a:00:01:03"), VTEP: netip.MustParseAddr("192.0.2.2")}},
				Neighbors: []Neighbor{
					{IP: netip.MustParseAddr("10.0.1.3"), MAC: mac("02:00:0a:00:01:03")},
					{IP: netip.MustParseAddr("2001:db8:1::3"), MAC: mac("02:00:0a:00:01:03")},
				},
				Line: 12,
			},
			{
				Name:     "green",
				VNI:      4098,
				Flood:    addrs("192.0.2.3"),
				Learning: true,
				ARPProxy: true,
				Ageing:   120 * time.Second,
				MaxMACs:  8192,
				Line:     25,
			},
		},
		Ports: []Port{
			{
				Name:      "c1-eth1",
				Network:   "blue",
				Netns:     "/run/netns/c1",
				IfName:    "eth1",
				MAC:       mac("02:00:0a:00:01:02"),
				MTU:       1450,
				Addresses: prefixes("10.0.1.2/24", "2001:db8:1::2/64"),
				Line:      31,
			},
			{
				Name:      "c2-eth1",
				Network:   "green",
				PID:       12345,
				IfName:    "eth1",
				MTU:       1450,
				Addresses: prefixes("10.0.2.2/24"),
				Line:      38,
			},
		},
		Log:     Log{Level: "info", Format: "console"},
		Admin:   Admin{Socket: "/run/vxswitch/vxswitch.sock"},
		Metrics: Metrics{Listen: "127.0.0.1:9489"},
	}
	got, err := Load("testdata/vxswitch.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("Load mismatch (-want +got):\n%s", diff)
	}
	if got := got.Ports[1].NetnsPath(); got != "/proc/12345/ns/net" {
		t.Errorf("Ports[1].NetnsPath() = %q, want /proc/12345/ns/net", got)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yaml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load error = %v, want fs.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), "testdata/does-not-exist.yaml") {
		t.Errorf("Load error %q does not name the file", err)
	}
}

func TestParse(t *testing.T) {
	local := defaultUnderlay("192.0.2.1")
	tests := []struct {
		name string
		in   string
		want *Config
	}{
		{
			name: "defaults",
			in: doc(
				"underlay: {local: 192.0.2.1}",
				"networks:",
				"  - {name: blue, vni: 4097}",
				"ports:",
				"  - {name: c1-eth1, network: blue, netns: /run/netns/c1}",
			),
			want: &Config{
				Underlay: local,
				Networks: []Network{defaultNetwork("blue", 4097, 3)},
				Ports: []Port{{
					Name: "c1-eth1", Network: "blue", Netns: "/run/netns/c1",
					IfName: "c1-eth1", MTU: 1450, Line: 5,
				}},
				Log:   defaultLog,
				Admin: defaultAdmin,
			},
		},
		{
			name: "IPv6 underlay leaves 70 bytes for VXLAN",
			in: doc(
				"underlay: {local: '2001:db8::1', mtu: 9000}",
				"networks: [{name: blue, vni: 1, flood: ['2001:db8::2']}]",
				"ports: [{name: p, network: blue, pid: 7}]",
			),
			want: &Config{
				Underlay: Underlay{
					Local: netip.MustParseAddr("2001:db8::1"), Port: DefaultPort, MTU: 9000,
					SrcPortMin: DefaultSrcPortMin, SrcPortMax: DefaultSrcPortMax,
				},
				Networks: []Network{func() Network {
					n := defaultNetwork("blue", 1, 2)
					n.Flood = addrs("2001:db8::2")
					return n
				}()},
				Ports: []Port{{Name: "p", Network: "blue", PID: 7, IfName: "p", MTU: 8930, Line: 3}},
				Log:   defaultLog,
				Admin: defaultAdmin,
			},
		},
		{
			name: "explicit false is not the default true",
			in: doc(
				"underlay: {local: 192.0.2.1, strict: true, port: 8472, src_port_min: 1000, src_port_max: 2000}",
				"networks:",
				"  - name: blue",
				"    vni: 0",
				"    learning: false",
				"    arp_proxy: false",
				"    allow_unknown_peers: true",
				"    max_macs: 1",
				"log: {level: debug, format: json}",
			),
			want: &Config{
				Underlay: Underlay{
					Local: netip.MustParseAddr("192.0.2.1"), Port: 8472, MTU: DefaultMTU,
					Strict: true, SrcPortMin: 1000, SrcPortMax: 2000,
				},
				Networks: []Network{{
					Name: "blue", AllowUnknownPeers: true, Ageing: DefaultAgeing, MaxMACs: 1, Line: 3,
				}},
				Log:   Log{Level: "debug", Format: "json"},
				Admin: defaultAdmin,
			},
		},
		{
			name: "ageing as bare seconds, duration string and YAML integer forms",
			in: doc(
				"underlay: {local: 192.0.2.1}",
				"networks:",
				"  - {name: a, vni: 0x1001, ageing: 600}",
				"  - {name: b, vni: 0o10, ageing: 5m}",
				"  - {name: c, vni: 16777215, ageing: 1s, max_macs: 1_000_000}",
			),
			want: &Config{
				Underlay: local,
				Networks: []Network{
					func() Network { n := defaultNetwork("a", 4097, 3); n.Ageing = 600 * time.Second; return n }(),
					func() Network { n := defaultNetwork("b", 8, 4); n.Ageing = 5 * time.Minute; return n }(),
					func() Network {
						n := defaultNetwork("c", 16777215, 5)
						n.Ageing, n.MaxMACs = time.Second, 1000000
						return n
					}(),
				},
				Log:   defaultLog,
				Admin: defaultAdmin,
			},
		},
		{
			name: "null values count as absent",
			in: doc(
				"underlay: {local: 192.0.2.1, mtu: ~}",
				"networks:",
				"  - name: blue",
				"    vni: 1",
				"    flood:",
				"    learning: null",
				"ports:",
				"log:",
			),
			want: &Config{
				Underlay: local,
				Networks: []Network{defaultNetwork("blue", 1, 3)},
				Log:      defaultLog,
				Admin:    defaultAdmin,
			},
		},
		{
			name: "same ifname in different namespaces, same MAC in different networks",
			in: doc(
				"underlay: {local: 192.0.2.1, mtu: 9000}",
				"networks: [{name: blue, vni: 1}, {name: green, vni: 2}]",
				"ports:",
				"  - {name: a, network: blue, netns: /run/netns/c1, ifname: eth1, mac: '02:00:00:00:00:01', mtu: 68}",
				"  - {name: b, network: green, netns: /run/netns/c2, ifname: eth1, mac: '02:00:00:00:00:01', mtu: 8950}",
			),
			want: &Config{
				Underlay: Underlay{
					Local: netip.MustParseAddr("192.0.2.1"), Port: DefaultPort, MTU: 9000,
					SrcPortMin: DefaultSrcPortMin, SrcPortMax: DefaultSrcPortMax,
				},
				Networks: []Network{defaultNetwork("blue", 1, 2), defaultNetwork("green", 2, 2)},
				Ports: []Port{
					{Name: "a", Network: "blue", Netns: "/run/netns/c1", IfName: "eth1", MAC: mac("02:00:00:00:00:01"), MTU: 68, Line: 4},
					{Name: "b", Network: "green", Netns: "/run/netns/c2", IfName: "eth1", MAC: mac("02:00:00:00:00:01"), MTU: 8950, Line: 5},
				},
				Log:   defaultLog,
				Admin: defaultAdmin,
			},
		},
		{
			name: "smallest underlay MTUs",
			in: doc(
				"underlay: {local: 192.0.2.1, mtu: 626}",
				"networks: [{name: blue, vni: 1}]",
				"ports: [{name: a, network: blue, pid: 1, addresses: [10.0.0.1/8]}]",
			),
			want: &Config{
				Underlay: Underlay{
					Local: netip.MustParseAddr("192.0.2.1"), Port: DefaultPort, MTU: 626,
					SrcPortMin: DefaultSrcPortMin, SrcPortMax: DefaultSrcPortMax,
				},
				Networks: []Network{defaultNetwork("blue", 1, 2)},
				Ports: []Port{{
					Name: "a", Network: "blue", PID: 1, IfName: "a", MTU: 576,
					Addresses: prefixes("10.0.0.1/8"), Line: 3,
				}},
				Log:   defaultLog,
				Admin: defaultAdmin,
			},
		},
		{
			name: "anchors, aliases and merge keys",
			in: doc(
				"underlay: {local: 192.0.2.1}",
				"networks:",
				"  - name: blue",
				"    vni: 1",
				"    flood: &peers [192.0.2.2, 192.0.2.3]",
				"  - name: green",
				"    vni: 2",
				"    flood: *peers",
				"ports:",
				"  - &c1 {name: c1-eth1, network: blue, netns: /run/netns/c1, ifname: eth1, mtu: 1400}",
				"  - <<: *c1",
				"    name: c1-eth2",
				"    network: green",
				"    ifname: eth2",
			),
			want: &Config{
				Underlay: local,
				Networks: []Network{
					func() Network { n := defaultNetwork("blue", 1, 3); n.Flood = addrs("192.0.2.2", "192.0.2.3"); return n }(),
					func() Network {
						n := defaultNetwork("green", 2, 6)
						n.Flood = addrs("192.0.2.2", "192.0.2.3")
						return n
					}(),
				},
				Ports: []Port{
					{Name: "c1-eth1", Network: "blue", Netns: "/run/netns/c1", IfName: "eth1", MTU: 1400, Line: 10},
					{Name: "c1-eth2", Network: "green", Netns: "/run/netns/c1", IfName: "eth2", MTU: 1400, Line: 11},
				},
				Log:   defaultLog,
				Admin: defaultAdmin,
			},
		},
		{
			name: "trailing empty document",
			in:   doc("---", "underlay: {local: 192.0.2.1}", "networks: [{name: blue, vni: 1}]", "---"),
			want: &Config{
				Underlay: local,
				Networks: []Network{defaultNetwork("blue", 1, 3)},
				Log:      defaultLog,
				Admin:    defaultAdmin,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("t.yaml", []byte(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpOpts...); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNetnsPath(t *testing.T) {
	tests := []struct {
		port Port
		want string
	}{
		{Port{Netns: "/run/netns/c1"}, "/run/netns/c1"},
		{Port{PID: 12345}, "/proc/12345/ns/net"},
	}
	for _, tt := range tests {
		if got := tt.port.NetnsPath(); got != tt.want {
			t.Errorf("%+v.NetnsPath() = %q, want %q", tt.port, got, tt.want)
		}
	}
}

func TestNetworkByName(t *testing.T) {
	c := &Config{Networks: []Network{{Name: "blue", VNI: 1}, {Name: "green", VNI: 2}}}
	n, ok := c.NetworkByName("green")
	if !ok || n.VNI != 2 {
		t.Fatalf("NetworkByName(green) = %+v, %v; want VNI 2, true", n, ok)
	}
	n.MaxMACs = 5 // the result points into the Config
	if c.Networks[1].MaxMACs != 5 {
		t.Errorf("NetworkByName returned a copy, want a pointer into Networks")
	}
	if n, ok := c.NetworkByName("red"); ok || n != nil {
		t.Errorf("NetworkByName(red) = %+v, %v; want nil, false", n, ok)
	}
}

func TestUnderlayOverhead(t *testing.T) {
	for _, tt := range []struct {
		local string
		want  int
	}{{"192.0.2.1", 50}, {"2001:db8::1", 70}} {
		u := Underlay{Local: netip.MustParseAddr(tt.local)}
		if got := u.Overhead(); got != tt.want {
			t.Errorf("Overhead() with local %s = %d, want %d", tt.local, got, tt.want)
		}
	}
}
