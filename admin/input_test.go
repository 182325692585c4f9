package admin

import (
	"bytes"
	"net/netip"
	"os"
	"strings"
	"testing"

	vswitch "github.com/vxswitch/vxswitch/switch"
)

func TestDecodeHex(t *testing.T) {
	tests := []struct {
		name, in string
		want     []byte
		wantErr  string
	}{
		{"plain", "ffff0a", []byte{0xff, 0xff, 0x0a}, ""},
		{"spaced and colons", " ff:ff 0A\n01 ", []byte{0xff, 0xff, 0x0a, 0x01}, ""},
		{"0x prefix", "0x0800", []byte{8, 0}, ""},
		{"empty", "  ", nil, "empty"},
		{"odd", "abc", nil, "not hex"},
		{"not hex", "zz", nil, "not hex"},
		{"too long", strings.Repeat("00", 65537), nil, "65537 bytes; at most 65536"},
	}
	for _, tt := range tests {
		got, err := DecodeHex(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, tt.want) {
			t.Errorf("%s: %x, %v; want %x", tt.name, got, err, tt.want)
		}
	}
}

func TestParseFrom(t *testing.T) {
	tests := []struct {
		in      string
		want    netip.AddrPort
		wantErr bool
	}{
		{"192.0.2.2", netip.MustParseAddrPort("192.0.2.2:4789"), false},
		{"192.0.2.2:50000", netip.MustParseAddrPort("192.0.2.2:50000"), false},
		{"2001:db8::2", netip.MustParseAddrPort("[2001:db8::2]:4789"), false},
		{"[2001:db8::2]:1", netip.MustParseAddrPort("[2001:db8::2]:1"), false},
		{"fe80::1%eth0", netip.AddrPort{}, true},
		{"vtep2", netip.AddrPort{}, true},
		{"", netip.AddrPort{}, true},
	}
	for _, tt := range tests {
		got, err := ParseFrom(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseFrom(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestREADMEDocumentsDropReasons keeps the README's table of drop reasons
// in step with the switch.
func TestREADMEDocumentsDropReasons(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range vswitch.Reasons() {
		if !strings.Contains(string(b), "| `"+r.String()+"` | ") {
			t.Errorf("README.md has no row for drop reason %s", r)
		}
	}
}
