package vtep

import (
	"encoding/binary"
	"testing"
)

// udp4Frame builds an Ethernet+IPv4+UDP frame with the given ports.
func udp4Frame(src, dst [4]byte, sport, dport uint16, payload string) []byte {
	f := make([]byte, 14+20+8+len(payload))
	copy(f[0:6], []byte{2, 0, 0, 0, 0, 2})
	copy(f[6:12], []byte{2, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(f[12:14], etherTypeIPv4)
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], uint16(20+8+len(payload)))
	ip[8], ip[9] = 64, 17
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	binary.BigEndian.PutUint16(ip[20:22], sport)
	binary.BigEndian.PutUint16(ip[22:24], dport)
	copy(ip[28:], payload)
	return f
}

func TestFlowHashSameFlowSameHash(t *testing.T) {
	a := udp4Frame([4]byte{10, 0, 1, 2}, [4]byte{10, 0, 1, 3}, 40000, 5001, "first")
	b := udp4Frame([4]byte{10, 0, 1, 2}, [4]byte{10, 0, 1, 3}, 40000, 5001, "second payload, longer")
	if FlowHash(a) != FlowHash(b) {
		t.Error("two frames of one flow hash differently: payload must not count")
	}
	c := udp4Frame([4]byte{10, 0, 1, 2}, [4]byte{10, 0, 1, 3}, 40001, 5001, "first")
	if FlowHash(a) == FlowHash(c) {
		t.Error("frames differing in source port hash alike")
	}
	d := udp4Frame([4]byte{10, 0, 1, 2}, [4]byte{10, 0, 1, 4}, 40000, 5001, "first")
	if FlowHash(a) == FlowHash(d) {
		t.Error("frames differing in destination address hash alike")
	}
}

func TestFlowHashFragmentsIgnorePorts(t *testing.T) {
	a := udp4Frame([4]byte{10, 0, 1, 2}, [4]byte{10, 0, 1, 3}, 40000, 5001, "x")
	b := udp4Frame([4]byte{10, 0, 1, 2}, [4]byte{10, 0, 1, 3}, 40001, 5001, "x")
	for _, f := range [][]byte{a, b} {
		f[14+6] = 0x20 // MF: first fragment; later fragments carry no ports
	}
	if FlowHash(a) != FlowHash(b) {
		t.Error("fragments must hash on addresses only, so all fragments of a datagram share a port")
	}
}

func TestFlowHashVLAN(t *testing.T) {
	plain := udp4Frame([4]byte{10, 0, 1, 2}, [4]byte{10, 0, 1, 3}, 1, 2, "")
	other := udp4Frame([4]byte{10, 0, 1, 2}, [4]byte{10, 0, 1, 3}, 1, 3, "")
	tag := func(f []byte) []byte {
		t := append([]byte{}, f[:12]...)
		t = append(t, 0x81, 0x00, 0x00, 0x05)
		return append(t, f[12:]...)
	}
	if FlowHash(tag(plain)) == FlowHash(tag(other)) {
		t.Error("802.1Q-tagged frames: ports behind the tag not hashed")
	}
}

func TestFlowHashShortFrames(t *testing.T) {
	f := udp4Frame([4]byte{10, 0, 1, 2}, [4]byte{10, 0, 1, 3}, 1, 2, "abcdefghijklmnop")
	for n := 0; n <= len(f); n++ {
		FlowHash(f[:n]) // must not panic on any truncation
	}
}

func TestPortRange(t *testing.T) {
	tests := []struct {
		r    PortRange
		hash uint32
		want uint16
	}{
		{DefaultPortRange, 0, 49152},
		{DefaultPortRange, 0xffffffff, 65535},
		{DefaultPortRange, 0x80000000, 49152 + 8192},
		{PortRange{1000, 1000}, 12345, 1000},
		{PortRange{2000, 1000}, 12345, 2000},
		{PortRange{0, 65535}, 0xffffffff, 65535},
	}
	for _, tt := range tests {
		if got := tt.r.Port(tt.hash); got != tt.want {
			t.Errorf("%+v.Port(%#x) = %d, want %d", tt.r, tt.hash, got, tt.want)
		}
	}
}

// TestFlowHashSpreads checks that 1000 flows land on many source ports: the
// point of the hash is ECMP entropy in the underlay.
func TestFlowHashSpreads(t *testing.T) {
	seen := map[uint16]bool{}
	for i := 0; i < 1000; i++ {
		f := udp4Frame([4]byte{10, 0, 1, 2}, [4]byte{10, 0, 1, 3}, uint16(30000+i), 443, "")
		p := DefaultPortRange.Port(FlowHash(f))
		if p < DefaultPortRange.Min {
			t.Fatalf("port %d out of range", p)
		}
		seen[p] = true
	}
	if len(seen) < 950 {
		t.Errorf("1000 flows used only %d source ports", len(seen))
	}
}

func TestFlowHashAllocs(t *testing.T) {
	f := udp4Frame([4]byte{10, 0, 1, 2}, [4]byte{10, 0, 1, 3}, 1, 2, "payload")
	if n := testing.AllocsPerRun(100, func() { FlowHash(f) }); n != 0 {
		t.Errorf("FlowHash allocates %v per call", n)
	}
}

func BenchmarkFlowHash(b *testing.B) {
	f := udp4Frame([4]byte{10, 0, 1, 2}, [4]byte{10, 0, 1, 3}, 1, 2, "payload")
	b.ReportAllocs()
	for b.Loop() {
		FlowHash(f)
	}
}

func BenchmarkEncap(b *testing.B) {
	buf := make([]byte, 16+1514)
	b.ReportAllocs()
	b.SetBytes(1514)
	for b.Loop() {
		PutHeader(buf[8:16], 4097)
		DefaultPortRange.Port(FlowHash(buf[16:]))
	}
}

func BenchmarkDecap(b *testing.B) {
	buf := make([]byte, 8+1514)
	PutHeader(buf, 4097)
	b.ReportAllocs()
	b.SetBytes(1514)
	for b.Loop() {
		if _, err := Parse(buf, false); err != nil {
			b.Fatal(err)
		}
	}
}
