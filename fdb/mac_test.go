package fdb

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMAC(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    MAC
		wantErr bool
	}{
		{name: "colon lower", in: "02:00:0a:00:01:02", want: MAC{0x02, 0x00, 0x0a, 0x00, 0x01, 0x02}},
		{name: "colon upper", in: "02:00:0A:FF:01:BC", want: MAC{0x02, 0x00, 0x0a, 0xff, 0x01, 0xbc}},
		{name: "hyphen", in: "02-00-0a-00-01-02", want: MAC{0x02, 0x00, 0x0a, 0x00, 0x01, 0x02}},
		{name: "dotted", in: "0200.0a00.01fe", want: MAC{0x02, 0x00, 0x0a, 0x00, 0x01, 0xfe}},
		{name: "broadcast", in: "ff:ff:ff:ff:ff:ff", want: broadcast},
		{name: "zero", in: "00:00:00:00:00:00", want: MAC{}},
		{name: "empty", in: "", wantErr: true},
		{name: "short", in: "02:00:0a:00:01", wantErr: true},
		{name: "long", in: "02:00:0a:00:01:02:03", wantErr: true},
		{name: "eui64", in: "02:00:0a:ff:fe:00:01:02", wantErr: true},
		{name: "single digit octets", in: "2:0:a:0:1:2", wantErr: true},
		{name: "mixed separators", in: "02:00-0a:00:01:02", wantErr: true},
		{name: "bad separator", in: "02.00.0a.00.01.02", wantErr: true},
		{name: "not hex", in: "02:00:0g:00:01:02", wantErr: true},
		{name: "not hex dotted", in: "0200.0a0x.0102", wantErr: true},
		{name: "dotted wrong separator", in: "0200:0a00:0102", wantErr: true},
		{name: "trailing space", in: "02:00:0a:00:01:02 ", wantErr: true},
		{name: "leading space", in: " 02:00:0a:00:01:0", wantErr: true},
		{name: "no separators", in: "02000a000102", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMAC(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidMAC) {
					t.Fatalf("ParseMAC(%q) error = %v, want %v", tt.in, err, ErrInvalidMAC)
				}
				if !strings.Contains(err.Error(), `"`+tt.in+`"`) {
					t.Errorf("ParseMAC(%q) error %q does not name the input", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseMAC(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseMAC(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestMACString(t *testing.T) {
	tests := []struct {
		name string
		in   MAC
		want string
	}{
		{"zero", MAC{}, "00:00:00:00:00:00"},
		{"lower case", MAC{0x02, 0x00, 0x0a, 0xbc, 0xde, 0xf0}, "02:00:0a:bc:de:f0"},
		{"broadcast", broadcast, "ff:ff:ff:ff:ff:ff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			text, err := tt.in.MarshalText()
			if err != nil || string(text) != tt.want {
				t.Errorf("MarshalText() = %q, %v, want %q", text, err, tt.want)
			}
			var back MAC
			if err := back.UnmarshalText([]byte(tt.want)); err != nil || back != tt.in {
				t.Errorf("UnmarshalText(%q) = %v, %v, want %v", tt.want, back, err, tt.in)
			}
		})
	}
}

func TestMACUnmarshalTextError(t *testing.T) {
	m := MAC{1, 2, 3, 4, 5, 6}
	if err := m.UnmarshalText([]byte("nope")); !errors.Is(err, ErrInvalidMAC) {
		t.Fatalf("UnmarshalText(nope) error = %v, want %v", err, ErrInvalidMAC)
	}
	if m != (MAC{1, 2, 3, 4, 5, 6}) {
		t.Errorf("UnmarshalText changed the MAC on error: %v", m)
	}
}

func TestMACClass(t *testing.T) {
	type class struct{ Multicast, Broadcast, Zero bool }
	tests := []struct {
		name string
		in   string
		want class
	}{
		{"unicast", "02:00:0a:00:01:02", class{}},
		{"unicast with multicast bit in last octet", "00:00:00:00:00:01", class{}},
		{"ipv4 multicast", "01:00:5e:00:00:01", class{Multicast: true}},
		{"ipv6 multicast", "33:33:00:00:00:01", class{Multicast: true}},
		{"broadcast", "ff:ff:ff:ff:ff:ff", class{Multicast: true, Broadcast: true}},
		{"almost broadcast", "ff:ff:ff:ff:ff:fe", class{Multicast: true}},
		{"zero", "00:00:00:00:00:00", class{Zero: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMAC(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got := class{m.IsMulticast(), m.IsBroadcast(), m.IsZero()}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s class (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestMACKeyRoundTrip(t *testing.T) {
	for _, m := range []MAC{{}, broadcast, {0x02, 0x00, 0x0a, 0x00, 0x01, 0x02}, {0x80, 0, 0, 0, 0, 1}} {
		if got := macFromKey(m.key()); got != m {
			t.Errorf("macFromKey(%v.key()) = %v", m, got)
		}
	}
	// Snapshot sorts by key; that must be the MAC's byte order.
	a, b := MAC{0x01, 0xff, 0xff, 0xff, 0xff, 0xff}, MAC{0x02, 0, 0, 0, 0, 0}
	if a.key() >= b.key() {
		t.Errorf("key(%v) >= key(%v)", a, b)
	}
}
