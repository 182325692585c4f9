package tap

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	ok := Config{Name: "web", Netns: "/run/netns/c1", IfName: "eth1"}
	tests := []struct {
		name    string
		modify  func(*Config)
		wantErr string // substring; "" means valid
	}{
		{name: "minimal", modify: func(*Config) {}},
		{name: "full", modify: func(c *Config) {
			c.MAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
			c.MTU = 1450
			c.Addresses = []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24"), netip.MustParsePrefix("2001:db8::1/64")}
		}},
		{name: "15-byte ifname", modify: func(c *Config) { c.IfName = "abcdefghijklmno" }},
		{name: "no netns", modify: func(c *Config) { c.Netns = "" }, wantErr: "no netns path"},
		{name: "no ifname", modify: func(c *Config) { c.IfName = "" }, wantErr: "no ifname"},
		{name: "16-byte ifname", modify: func(c *Config) { c.IfName = "abcdefghijklmnop" }, wantErr: "longer than 15 bytes"},
		{name: "dot ifname", modify: func(c *Config) { c.IfName = ".." }, wantErr: "not a valid name"},
		{name: "slash in ifname", modify: func(c *Config) { c.IfName = "a/b" }, wantErr: "contains"},
		{name: "colon in ifname", modify: func(c *Config) { c.IfName = "eth0:1" }, wantErr: "contains"},
		{name: "space in ifname", modify: func(c *Config) { c.IfName = "eth 1" }, wantErr: "contains"},
		{name: "short mac", modify: func(c *Config) { c.MAC = net.HardwareAddr{2, 0, 0} }, wantErr: "6-byte"},
		{name: "multicast mac", modify: func(c *Config) { c.MAC = net.HardwareAddr{0x01, 0, 0x5e, 0, 0, 1} }, wantErr: "multicast"},
		{name: "zero mac", modify: func(c *Config) { c.MAC = make(net.HardwareAddr, 6) }, wantErr: "zero"},
		{name: "negative mtu", modify: func(c *Config) { c.MTU = -1 }, wantErr: "negative"},
		{name: "256 queues", modify: func(c *Config) { c.Queues = 256 }},
		{name: "negative queues", modify: func(c *Config) { c.Queues = -1 }, wantErr: "queues -1: not between 0 and 256"},
		{name: "257 queues", modify: func(c *Config) { c.Queues = 257 }, wantErr: "queues 257: not between 0 and 256"},
		{name: "txqueuelen 65536", modify: func(c *Config) { c.TxQueueLen = 65536 }},
		{name: "negative txqueuelen", modify: func(c *Config) { c.TxQueueLen = -1 }, wantErr: "txqueuelen -1: not between 0 and 65536"},
		{name: "txqueuelen 65537", modify: func(c *Config) { c.TxQueueLen = 65537 }, wantErr: "txqueuelen 65537: not between 0 and 65536"},
		{name: "zero prefix", modify: func(c *Config) { c.Addresses = []netip.Prefix{{}} }, wantErr: "invalid prefix"},
		{name: "4in6 prefix", modify: func(c *Config) { c.Addresses = []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.1/120")} }, wantErr: "IPv4-mapped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.modify(&c)
			err := c.validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("validate = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestErrorf(t *testing.T) {
	cause := errors.New("invalid argument")
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "port named after ifname", cfg: Config{Name: "eth1", Netns: "/run/netns/c1", IfName: "eth1"},
			want: `open tap "eth1" in netns /run/netns/c1: set mtu 1450: invalid argument`},
		{name: "no port name", cfg: Config{Netns: "/run/netns/c1", IfName: "eth1"},
			want: `open tap "eth1" in netns /run/netns/c1: set mtu 1450: invalid argument`},
		{name: "port name", cfg: Config{Name: "web", Netns: "/proc/42/ns/net", IfName: "eth1"},
			want: `open tap "eth1" (port "web") in netns /proc/42/ns/net: set mtu 1450: invalid argument`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.errorf(cause, "set mtu %d", 1450)
			if got := err.Error(); got != tt.want {
				t.Errorf("error = %q, want %q", got, tt.want)
			}
			if !errors.Is(err, cause) {
				t.Errorf("error does not wrap its cause")
			}
		})
	}
}

func TestRandomMAC(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		mac := RandomMAC()
		if len(mac) != 6 {
			t.Fatalf("RandomMAC() = %v, want 6 bytes", mac)
		}
		if !isLocalUnicast(mac) {
			t.Fatalf("RandomMAC() = %v, want locally administered unicast", mac)
		}
		seen[mac.String()] = true
	}
	if len(seen) < 990 {
		t.Errorf("1000 RandomMAC calls gave only %d distinct addresses", len(seen))
	}
}

// isLocalUnicast reports whether mac has the locally administered bit set and
// the group bit clear.
func isLocalUnicast(mac net.HardwareAddr) bool {
	return mac[0]&0x02 != 0 && mac[0]&0x01 == 0
}
