package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseAdminAndMetrics(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		wantAdmin   Admin
		wantMetrics Metrics
	}{
		{"defaults: default socket, no metrics", doc(u4, n1), defaultAdmin, Metrics{}},
		{"null sections count as absent", doc(u4, n1, "admin:", "metrics: ~"), defaultAdmin, Metrics{}},
		{"socket and IPv4 listen", doc(u4, n1, "admin: {socket: /run/vx/h1.sock}", "metrics: {listen: 127.0.0.1:9489}"),
			Admin{Socket: "/run/vx/h1.sock"}, Metrics{Listen: "127.0.0.1:9489"}},
		{"IPv6 listen", doc(u4, n1, "metrics:", "  listen: '[::1]:9489'"), defaultAdmin, Metrics{Listen: "[::1]:9489"}},
		{"host name listen", doc(u4, n1, "metrics: {listen: 'localhost:9489'}"), defaultAdmin, Metrics{Listen: "localhost:9489"}},
		{"every address", doc(u4, n1, "metrics: {listen: ':9489'}"), defaultAdmin, Metrics{Listen: ":9489"}},
		{"longest socket path", doc(u4, n1, "admin: {socket: /"+strings.Repeat("s", 106)+"}"),
			Admin{Socket: "/" + strings.Repeat("s", 106)}, Metrics{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("t.yaml", []byte(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.wantAdmin, got.Admin); diff != "" {
				t.Errorf("Admin mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantMetrics, got.Metrics); diff != "" {
				t.Errorf("Metrics mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseAdminAndMetricsErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"admin not a mapping", doc(u4, n1, "admin: /run/x.sock"), `t.yaml:3: admin: expected a mapping, got string "/run/x.sock"`},
		{"unknown admin field", doc(u4, n1, "admin:", "  path: /run/x.sock"), "t.yaml:4: admin.path: unknown field (known fields: socket)"},
		{"socket relative", doc(u4, n1, "admin:", "  socket: run/x.sock"), `t.yaml:4: admin.socket: "run/x.sock" is not an absolute path`},
		{"socket empty", doc(u4, n1, "admin: {socket: ''}"), "t.yaml:3: admin.socket: must not be empty"},
		{"socket a directory", doc(u4, n1, "admin: {socket: /run/vxswitch/}"), `t.yaml:3: admin.socket: "/run/vxswitch/" names a directory; want the socket file's path`},
		{"socket too long", doc(u4, n1, "admin: {socket: /"+strings.Repeat("s", 107)+"}"), "is 108 bytes; a unix socket path has at most 107"},
		{"socket a list", doc(u4, n1, "admin: {socket: [/a]}"), "t.yaml:3: admin.socket: expected a string, got a list"},
		{"metrics not a mapping", doc(u4, n1, "metrics: [127.0.0.1:9489]"), "t.yaml:3: metrics: expected a mapping, got a list"},
		{"unknown metrics field", doc(u4, n1, "metrics: {address: 127.0.0.1:9489}"), "t.yaml:3: metrics.address: unknown field (known fields: listen)"},
		{"listen without port", doc(u4, n1, "metrics:", "  listen: 127.0.0.1"), `t.yaml:4: metrics.listen: "127.0.0.1" is not host:port (like 127.0.0.1:9489 or [::1]:9489)`},
		{"listen port zero", doc(u4, n1, "metrics: {listen: '127.0.0.1:0'}"), `t.yaml:3: metrics.listen: "127.0.0.1:0": port "0" is not a number in 1..65535`},
		{"listen port too big", doc(u4, n1, "metrics: {listen: '127.0.0.1:65536'}"), `port "65536" is not a number in 1..65535`},
		{"listen port a name", doc(u4, n1, "metrics: {listen: 'localhost:http'}"), `port "http" is not a number in 1..65535`},
		{"listen IPv6 without brackets", doc(u4, n1, "metrics: {listen: '::1:9489'}"), `t.yaml:3: metrics.listen: "::1:9489" is not host:port`},
		{"listen IPv6 zone", doc(u4, n1, "metrics: {listen: '[fe80::1%eth0]:9489'}"), "IPv6 zones are not allowed"},
		{"listen multicast", doc(u4, n1, "metrics: {listen: '239.0.0.1:9489'}"), "239.0.0.1 is a multicast address"},
		{"listen bad host", doc(u4, n1, "metrics: {listen: 'my_host:9489'}"), `t.yaml:3: metrics.listen: "my_host:9489": "my_host" is neither an IP address nor a host name`},
		{"listen an integer", doc(u4, n1, "metrics: {listen: 9489}"), `t.yaml:3: metrics.listen: "9489" is not host:port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("t.yaml", []byte(tt.in))
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want error containing %q", cfg, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse error:\n%v\nwant it to contain:\n%s", err, tt.wantErr)
			}
			checkLines(t, err)
		})
	}
}

func TestCheckFlags(t *testing.T) {
	if err := CheckSocketPath("/tmp/x.sock"); err != nil {
		t.Errorf("CheckSocketPath(/tmp/x.sock) = %v, want nil", err)
	}
	if err := CheckListen("127.0.0.1:9489"); err != nil {
		t.Errorf("CheckListen(127.0.0.1:9489) = %v, want nil", err)
	}
	for _, s := range []string{"x.sock", ""} {
		if CheckSocketPath(s) == nil {
			t.Errorf("CheckSocketPath(%q) = nil, want an error", s)
		}
	}
	for _, s := range []string{"9489", "localhost", "[::1]", "1.2.3.4:-1"} {
		if CheckListen(s) == nil {
			t.Errorf("CheckListen(%q) = nil, want an error", s)
		}
	}
}
