package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestFuzzPeerRefuses: fuzz-peer exits with a usage error, sending
// nothing, for targets that are not one literal unicast address and for
// settings it cannot honour.
func TestFuzzPeerRefuses(t *testing.T) {
	base := []string{"fuzz-peer", "--vni", "4097", "--probe", "10.0.1.3"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"host name", []string{"--target", "localhost"}, "not an IP address"},
		{"host name with port", []string{"--target", "vtep.example:4789"}, "not an IP address"},
		{"prefix", []string{"--target", "192.0.2.0/24"}, "prefix, list or range"},
		{"range", []string{"--target", "192.0.2.1-192.0.2.9"}, "prefix, list or range"},
		{"multicast", []string{"--target", "239.1.1.1"}, "multicast"},
		{"limited broadcast", []string{"--target", "255.255.255.255"}, "broadcast"},
		{"unspecified", []string{"--target", "0.0.0.0"}, "unspecified"},
		{"no target", nil, "required"},
		{"target is local", []string{"--target", "127.0.0.1", "--local", "127.0.0.1"}, "is the target itself"},
		{"rate too high", []string{"--target", "127.0.0.1", "--local", "127.0.0.2", "--rate", "1000000"}, "--rate"},
		{"vni too big", []string{"--target", "127.0.0.1", "--local", "127.0.0.2", "--vni", "16777216"}, "out of range"},
		{"unknown class", []string{"--target", "127.0.0.1", "--local", "127.0.0.2", "--classes", "flags,bogus"}, "unknown mutation class"},
		{"probe not IPv4", []string{"--target", "127.0.0.1", "--local", "127.0.0.2", "--probe", "fd00::3"}, "IPv4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := runMain(append(append([]string(nil), base...), tt.args...), &stdout, &stderr); code != exitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr does not say %q:\n%s", tt.want, stderr.String())
			}
		})
	}
}
