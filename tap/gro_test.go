package tap

import (
	"bytes"
	"encoding/binary"
	"github.com/vxswitch/vxswitch/internal/csum"
	"testing"
)

// segmentsOf cuts a TSO super-frame into wire segments with valid
// checksums, the way a peer's stack would have sent them.
func segmentsOf(t *testing.T, v6 bool, payload []byte, mss int, flags string) [][]byte {
	t.Helper()
	frame, h := tcpSuperFrame(t, v6, payload, mss, flags)
	out := make([][]byte, 64)
	for i := range out {
		out[i] = make([]byte, 2000)
	}
	sizes := make([]int, 64)
	n, err := segmentTCP(frame, h, out, sizes, 0)
	if err != nil {
		t.Fatal(err)
	}
	segs := make([][]byte, n)
	for i := range segs {
		segs[i] = out[i][:sizes[i]]
	}
	return segs
}

// feed runs frames through a grow the way WriteCoalesce does and returns
// what would be written, each with its virtio header.
func feed(frames [][]byte) [][]byte { return feedUSO(frames, true) }

// feedUSO is feed with UDP merging on (uso) or off.
func feedUSO(frames [][]byte, uso bool) [][]byte {
	g := grow{buf: make([]byte, vnetHdrLen+65536)}
	var written [][]byte
	flush := func() {
		if g.segs > 0 {
			written = append(written, append([]byte(nil), g.finish()...))
		}
	}
	for _, f := range frames {
		s, ok := parseSegment(f, uso)
		ok = ok && checksumOK(f, s)
		if ok && g.canAppend(f, s) {
			g.add(f, s)
			continue
		}
		flush()
		if ok {
			g.start(f, s)
			continue
		}
		written = append(written, append(make([]byte, vnetHdrLen), f...))
	}
	flush()
	return written
}

func TestGROMergesAndResegmentsIdentically(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		payload := make([]byte, 20*1448+100)
		for i := range payload {
			payload[i] = byte(i*13 + 1)
		}
		segs := segmentsOf(t, v6, payload, 1448, "P")
		written := feed(segs)
		if len(written) != 1 {
			t.Fatalf("v6=%v: %d writes for %d segments of one flow, want 1", v6, len(written), len(segs))
		}
		h := decodeVnetHdr(written[0])
		wantType := uint8(vnetGSOTCPv4)
		if v6 {
			wantType = vnetGSOTCPv6
		}
		if h.gsoType != wantType || h.gsoSize != 1448 || h.flags != vnetFlagNeedsCsum || h.csumOffset != 16 {
			t.Fatalf("v6=%v: virtio header %+v", v6, h)
		}
		// The kernel would now resegment it: doing the same must give back
		// the original segments byte for byte, IPv4 IDs aside.
		super := written[0][vnetHdrLen:]
		out := make([][]byte, 64)
		for i := range out {
			out[i] = make([]byte, 2000)
		}
		sizes := make([]int, 64)
		n, err := segmentTCP(super, h, out, sizes, 0)
		if err != nil || n != len(segs) {
			t.Fatalf("v6=%v: resegmenting: %d segments, %v; want %d", v6, n, err, len(segs))
		}
		for i := range segs {
			got, want := out[i][:sizes[i]], segs[i]
			if !v6 { // IDs: ours count up from the first; compare the rest
				got, want = append([]byte(nil), got...), append([]byte(nil), want...)
				for _, b := range [][]byte{got, want} {
					binary.BigEndian.PutUint16(b[18:20], 0)
					binary.BigEndian.PutUint16(b[24:26], 0)
				}
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("v6=%v: segment %d differs after merge and resegment", v6, i)
			}
		}
	}
}

func TestGROKeepsApart(t *testing.T) {
	flow := segmentsOf(t, false, make([]byte, 4*1448), 1448, "")
	other := segmentsOf(t, false, make([]byte, 2*1448), 1448, "")
	for _, s := range other { // another flow: different source port
		binary.BigEndian.PutUint16(s[34:36], 40001)
		s[34+16], s[34+17] = 0, 0
		l4 := s[34:]
		binary.BigEndian.PutUint16(l4[16:18], ^csum.Fold(csum.Sum(l4, csum.Sum(s[26:34], protoTCP+uint32(len(l4))))))
	}
	corrupt := append([]byte(nil), flow[2]...)
	corrupt[len(corrupt)-1] ^= 0xff
	gap := [][]byte{flow[0], flow[1], flow[3]} // flow[2] missing

	tests := []struct {
		name   string
		frames [][]byte
		want   []int // segments per write, in order
	}{
		{"one flow", flow, []int{4}},
		{"interleaved flows stay in order", [][]byte{flow[0], flow[1], other[0], flow[2], flow[3], other[1]}, []int{2, 1, 2, 1}},
		{"sequence gap", gap, []int{2, 1}},
		{"bad checksum is written alone and never merged", [][]byte{flow[0], flow[1], corrupt, flow[3]}, []int{2, 1, 1}},
		// A short segment may end a merge but never sits inside one: the
		// next, contiguous segment starts a new write.
		{"short segment ends a merge", [][]byte{flow[0], flow[1][:len(flow[1])-100], flow[2]}, []int{2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "short segment ends a merge" {
				// Fix the truncated segment's lengths and checksum so it is
				// a valid short segment, not a corrupt one.
				s := append([]byte(nil), tt.frames[1]...)
				binary.BigEndian.PutUint16(s[16:18], uint16(len(s)-14))
				s[24], s[25] = 0, 0
				binary.BigEndian.PutUint16(s[24:26], ^csum.Fold(csum.Sum(s[14:34], 0)))
				l4 := s[34:]
				l4[16], l4[17] = 0, 0
				binary.BigEndian.PutUint16(l4[16:18], ^csum.Fold(csum.Sum(l4, csum.Sum(s[26:34], protoTCP+uint32(len(l4))))))
				tt.frames[1] = s
				next := append([]byte(nil), tt.frames[2]...)
				seq := binary.BigEndian.Uint32(next[34+4:]) - 100
				binary.BigEndian.PutUint32(next[34+4:], seq)
				nl4 := next[34:]
				nl4[16], nl4[17] = 0, 0
				binary.BigEndian.PutUint16(nl4[16:18], ^csum.Fold(csum.Sum(nl4, csum.Sum(next[26:34], protoTCP+uint32(len(nl4))))))
				tt.frames[2] = next
			}
			var got []int
			for _, w := range feed(tt.frames) {
				h := decodeVnetHdr(w)
				if h.gsoType == vnetGSONone {
					got = append(got, 1)
					continue
				}
				payload := len(w) - vnetHdrLen - int(h.hdrLen)
				got = append(got, (payload+int(h.gsoSize)-1)/int(h.gsoSize))
			}
			if !equalInts(got, tt.want) {
				t.Errorf("writes carry %v segments, want %v", got, tt.want)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParseSegmentRefuses(t *testing.T) {
	seg := segmentsOf(t, false, make([]byte, 1448), 1448, "")[0]
	mut := func(f func(b []byte)) []byte { b := append([]byte(nil), seg...); f(b); return b }
	for name, frame := range map[string][]byte{
		"SYN":        mut(func(b []byte) { b[34+13] |= 0x02 }),
		"FIN":        mut(func(b []byte) { b[34+13] |= tcpFlagFIN }),
		"IP options": mut(func(b []byte) { b[14] = 0x46 }),
		"fragment":   mut(func(b []byte) { b[14+6] |= 0x20 }),
		"UDP":        mut(func(b []byte) { b[14+9] = 17 }),
		"padded":     append(append([]byte(nil), seg...), 0, 0),
		"ARP":        mut(func(b []byte) { b[12], b[13] = 0x08, 0x06 }),
		"no payload": seg[:14+20+32],
	} {
		if _, ok := parseSegment(frame, true); ok {
			t.Errorf("%s: parseSegment accepted it", name)
		}
	}
	if s, ok := parseSegment(seg, true); !ok || !checksumOK(seg, s) {
		t.Fatal("a valid segment was refused")
	}
}
