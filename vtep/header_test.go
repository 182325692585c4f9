package vtep

import (
	"bufio"
	"encoding/hex"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPutHeader(t *testing.T) {
	tests := []struct {
		name string
		vni  uint32
		want []byte
	}{
		{"vni 0", 0, []byte{0x08, 0, 0, 0, 0, 0, 0, 0}},
		{"vni 1", 1, []byte{0x08, 0, 0, 0, 0, 0, 0x01, 0}},
		{"vni 4097", 4097, []byte{0x08, 0, 0, 0, 0, 0x10, 0x01, 0}},
		{"vni max", MaxVNI, []byte{0x08, 0, 0, 0, 0xff, 0xff, 0xff, 0}},
		{"vni over 24 bits is masked, reserved byte stays 0", 1<<24 | 5, []byte{0x08, 0, 0, 0, 0, 0, 0x05, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := []byte{0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xbb}
			PutHeader(got, tt.vni)
			if diff := cmp.Diff(append(tt.want, 0xbb), got); diff != "" {
				t.Errorf("PutHeader(%d) (-want +got):\n%s", tt.vni, diff)
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		strict  bool
		want    uint32
		wantErr error
	}{
		{"empty", nil, false, 0, ErrRunt},
		{"7 bytes", []byte{0x08, 0, 0, 0, 0, 0, 1}, false, 0, ErrRunt},
		{"header only", []byte{0x08, 0, 0, 0, 0, 0, 1, 0}, false, 1, nil},
		{"no I flag", []byte{0x00, 0, 0, 0, 0, 0, 1, 0}, false, 0, ErrNoIFlag},
		{"only other flags", []byte{0xf7, 0, 0, 0, 0, 0, 1, 0}, false, 0, ErrNoIFlag},
		{"reserved flag bits ignored", []byte{0xff, 0, 0, 0, 0, 0, 1, 0}, false, 1, nil},
		{"reserved byte 3 not part of VNI", []byte{0x08, 0, 0, 0xee, 0, 0, 1, 0}, false, 1, nil},
		{"reserved byte 7 not part of VNI", []byte{0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0xff}, false, 0x123456, nil},
		{"strict: clean header", []byte{0x08, 0, 0, 0, 0xff, 0xff, 0xff, 0}, true, MaxVNI, nil},
		{"strict: flag bit", []byte{0x0c, 0, 0, 0, 0, 0, 1, 0}, true, 0, ErrReservedBits},
		{"strict: byte 1", []byte{0x08, 1, 0, 0, 0, 0, 1, 0}, true, 0, ErrReservedBits},
		{"strict: byte 3", []byte{0x08, 0, 0, 0x80, 0, 0, 1, 0}, true, 0, ErrReservedBits},
		{"strict: byte 7", []byte{0x08, 0, 0, 0, 0, 0, 1, 1}, true, 0, ErrReservedBits},
		{"strict: no I flag reported first", []byte{0x04, 0, 0, 0, 0, 0, 1, 0}, true, 0, ErrNoIFlag},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in, tt.strict)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Parse(% x, strict=%v) error = %v, want %v", tt.in, tt.strict, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Parse(% x) VNI = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestHeaderMarshalRoundTrip(t *testing.T) {
	h := Header{Flags: 0x0c, Reserved1: [3]byte{1, 2, 3}, VNI: 0xabcdef, Reserved2: 9}
	b, err := h.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x0c, 1, 2, 3, 0xab, 0xcd, 0xef, 9}; !cmp.Equal(want, b) {
		t.Fatalf("MarshalBinary = % x, want % x", b, want)
	}
	var got Header
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(h, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if _, err := (Header{VNI: 1 << 24}).MarshalBinary(); !errors.Is(err, ErrVNIRange) {
		t.Errorf("MarshalBinary of VNI 1<<24: err = %v, want ErrVNIRange", err)
	}
	if err := got.UnmarshalBinary(b[:7]); !errors.Is(err, ErrRunt) {
		t.Errorf("UnmarshalBinary of 7 bytes: err = %v, want ErrRunt", err)
	}
}

// kernelDatagram is one line of testdata/kernel-vxlan-ipv4.txt.
type kernelDatagram struct {
	name string
	// srcPort is the kernel's outer source port; with "srcport 0 0" it
	// hashes into net.ipv4.ip_local_port_range, not RFC 7348's range.
	srcPort uint16
	payload []byte
}

func loadKernelDatagrams(t testing.TB) []kernelDatagram {
	t.Helper()
	f, err := os.Open("../testdata/kernel-vxlan-ipv4.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []kernelDatagram
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 3 {
			t.Fatalf("bad testdata line %q", line)
		}
		port, err := strconv.ParseUint(fields[1], 10, 16)
		if err != nil {
			t.Fatal(err)
		}
		b, err := hex.DecodeString(fields[2])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, kernelDatagram{fields[0], uint16(port), b})
	}
	if len(out) == 0 {
		t.Fatal("no kernel datagrams in testdata")
	}
	return out
}

// TestKernelDatagrams checks the codec against datagrams the Linux kernel
// emitted: we parse them strictly, and our encoder writes the same 8 bytes.
func TestKernelDatagrams(t *testing.T) {
	for _, d := range loadKernelDatagrams(t) {
		t.Run(d.name, func(t *testing.T) {
			vni, err := Parse(d.payload, true)
			if err != nil {
				t.Fatalf("strict Parse of kernel datagram: %v", err)
			}
			if vni != 4097 {
				t.Errorf("VNI = %d, want 4097", vni)
			}
			var ours [HeaderLen]byte
			PutHeader(ours[:], vni)
			if diff := cmp.Diff(d.payload[:HeaderLen], ours[:]); diff != "" {
				t.Errorf("our header differs from the kernel's (-kernel +ours):\n%s", diff)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte{0x08, 0, 0, 0, 0, 0x10, 0x01, 0}, false)
	f.Add([]byte{0x08, 0, 0, 0, 0, 0x10, 0x01, 1}, true)
	f.Add([]byte{0x00}, false)
	f.Fuzz(func(t *testing.T, b []byte, strict bool) {
		vni, err := Parse(b, strict)
		if err != nil {
			return
		}
		if vni > MaxVNI {
			t.Fatalf("VNI %d over 24 bits", vni)
		}
		if len(b) < HeaderLen || b[0]&FlagI == 0 {
			t.Fatalf("accepted invalid header % x", b)
		}
		var h Header
		if err := h.UnmarshalBinary(b); err != nil || h.VNI != vni {
			t.Fatalf("Header.UnmarshalBinary disagrees: %+v, %v; Parse VNI %d", h, err, vni)
		}
		// Re-encoding keeps the VNI and yields a header a strict parser accepts.
		var enc [HeaderLen]byte
		PutHeader(enc[:], vni)
		if got, err := Parse(enc[:], true); err != nil || got != vni {
			t.Fatalf("round trip of VNI %d: got %d, %v", vni, got, err)
		}
	})
}
