package vtep

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// fuzzSeeds are the datagrams the Linux kernel emitted (../testdata), and
// headers that sit on every boundary the codecs care about.
func fuzzSeeds(f *testing.F) [][]byte {
	seeds := [][]byte{
		nil,
		{0x08, 0, 0, 0, 0, 0, 1},                // 7 bytes
		{0x08, 0, 0, 0, 0, 0, 1, 0},             // header only
		{0x00, 0, 0, 0, 0, 0, 1, 0},             // no I flag
		{0x88, 0x48, 0x12, 0x34, 0, 0x10, 1, 0}, // I + VXLAN-GBP: G, D, A, policy 0x1234
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{0xf7, 0, 0, 0, 0xff, 0xff, 0xff, 0}, // every flag but I
		{0x08, 0, 0, 0xee, 0, 0, 1, 0xff},    // reserved bytes 3 and 7
	}
	return append(seeds, kernelPayloads(f)...)
}

// kernelPayloads returns every datagram in ../testdata/kernel-vxlan-*.txt,
// the kernel captures (loadKernelDatagrams reads the IPv4 golden file only).
func kernelPayloads(tb testing.TB) [][]byte {
	tb.Helper()
	files, err := filepath.Glob("../testdata/kernel-vxlan-*.txt")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no kernel captures: %v", err)
	}
	var out [][]byte
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			tb.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			fields := strings.Fields(line)
			if len(fields) != 3 || strings.HasPrefix(fields[0], "#") {
				continue
			}
			p, err := hex.DecodeString(fields[2])
			if err != nil {
				tb.Fatalf("%s: %v", file, err)
			}
			out = append(out, p)
		}
	}
	return out
}

// FuzzHeaderRoundTrip checks the codec against itself: any 8 bytes decode
// to a Header that encodes to the same 8 bytes; Parse agrees with the
// Header's fields; what PutHeader writes, Parse reads back strictly; and
// MarshalBinary refuses a VNI over 24 bits where PutHeader masks it.
func FuzzHeaderRoundTrip(f *testing.F) {
	for i, s := range fuzzSeeds(f) {
		f.Add(s, uint32(i)*4097)
	}
	f.Add([]byte{0x08, 0, 0, 0, 0, 0, 0, 0}, uint32(MaxVNI))
	f.Add([]byte{0x08, 0, 0, 0, 0, 0, 0, 0}, uint32(MaxVNI+1))
	f.Fuzz(func(t *testing.T, b []byte, vni uint32) {
		var h Header
		err := h.UnmarshalBinary(b)
		if len(b) < HeaderLen {
			if !errors.Is(err, ErrRunt) {
				t.Fatalf("UnmarshalBinary of %d bytes: err = %v, want ErrRunt", len(b), err)
			}
			if _, err := Parse(b, false); !errors.Is(err, ErrRunt) {
				t.Fatalf("Parse of %d bytes: err = %v, want ErrRunt", len(b), err)
			}
			return
		}
		if err != nil {
			t.Fatalf("UnmarshalBinary(% x): %v", b[:HeaderLen], err)
		}
		if h.VNI > MaxVNI {
			t.Fatalf("UnmarshalBinary(% x): VNI %d over 24 bits", b[:HeaderLen], h.VNI)
		}
		enc, err := h.MarshalBinary()
		if err != nil || !bytes.Equal(enc, b[:HeaderLen]) {
			t.Fatalf("round trip of % x: got % x, %v", b[:HeaderLen], enc, err)
		}

		// Parse must agree with the decoded fields in both modes.
		reserved := h.Flags&^FlagI != 0 || h.Reserved1 != [3]byte{} || h.Reserved2 != 0
		for _, strict := range []bool{false, true} {
			got, err := Parse(b, strict)
			var want error
			switch {
			case h.Flags&FlagI == 0:
				want = ErrNoIFlag
			case strict && reserved:
				want = ErrReservedBits
			}
			if !errors.Is(err, want) || (err == nil && got != h.VNI) {
				t.Fatalf("Parse(% x, strict=%v) = %d, %v; header %+v wants %v", b[:HeaderLen], strict, got, err, h, want)
			}
		}

		// Encoding a VNI: PutHeader masks it to 24 bits and writes a
		// header that a strict parser accepts; MarshalBinary of the same
		// clean header writes the same bytes or refuses the VNI.
		var put [HeaderLen + 1]byte
		put[HeaderLen] = 0xa5
		PutHeader(put[:], vni)
		if put[HeaderLen] != 0xa5 {
			t.Fatal("PutHeader wrote past the header")
		}
		if got, err := Parse(put[:HeaderLen], true); err != nil || got != vni&MaxVNI {
			t.Fatalf("Parse(PutHeader(%d)) = %d, %v; want %d", vni, got, err, vni&MaxVNI)
		}
		m, err := Header{Flags: FlagI, VNI: vni}.MarshalBinary()
		switch {
		case vni > MaxVNI:
			if !errors.Is(err, ErrVNIRange) {
				t.Fatalf("MarshalBinary of VNI %d: err = %v, want ErrVNIRange", vni, err)
			}
		case err != nil || !bytes.Equal(m, put[:HeaderLen]):
			t.Fatalf("MarshalBinary of VNI %d = % x, %v; PutHeader wrote % x", vni, m, err, put[:HeaderLen])
		}
	})
}

// gopacketBits masks the header bits gopacket's layers.VXLAN decodes and
// encodes: I and G in byte 0, D and A in byte 1, the group policy ID in
// bytes 2–3 and the VNI in bytes 4–6. It knows nothing of the others.
var gopacketBits = [HeaderLen]byte{0x88, 0x48, 0xff, 0xff, 0xff, 0xff, 0xff, 0}

// FuzzVXLANDifferential decodes the same bytes with Parse and with gopacket's
// layers.VXLAN and checks that they agree on length validity, the I flag,
// the VNI, the flag bits and the payload, and that both encoders write the
// same header. The documented exceptions, where the two are meant to differ:
//
//  1. I flag clear: gopacket decodes the header and reports ValidIDFlag =
//     false; Parse rejects it (ErrNoIFlag), since RFC 7348 §5 makes the I
//     flag mandatory for a valid VNI. The test checks that exactly these
//     headers are the ones Parse refuses for the I flag, and that gopacket
//     still reports the same VNI for them.
//  2. VXLAN-GBP (draft-smith-vxlan-group-policy): gopacket decodes the G bit
//     (byte 0, 0x80), the D and A bits (byte 1, 0x40 and 0x08) and the
//     16-bit group policy ID (bytes 2–3). For RFC 7348 these are reserved:
//     Parse ignores them, or with strict rejects them (ErrReservedBits),
//     where gopacket accepts.
//  3. Other reserved bits (byte 0 except G and I, byte 1 except D and A,
//     byte 7): gopacket ignores them silently and its encoder writes them
//     as zero; strict Parse rejects them.
//  4. Encoding a VNI over 24 bits: gopacket's SerializeTo returns an error,
//     PutHeader masks the VNI to 24 bits, MarshalBinary returns
//     ErrVNIRange (checked in FuzzHeaderRoundTrip).
func FuzzVXLANDifferential(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, b []byte, strict bool) {
		var g layers.VXLAN
		gerr := g.DecodeFromBytes(b, gopacket.NilDecodeFeedback)
		vni, err := Parse(b, strict)

		if len(b) < HeaderLen {
			if gerr == nil || !errors.Is(err, ErrRunt) {
				t.Fatalf("%d bytes: gopacket err = %v, Parse err = %v; both must reject", len(b), gerr, err)
			}
			return
		}
		if gerr != nil {
			t.Fatalf("gopacket rejects an %d-byte datagram: %v", len(b), gerr)
		}
		if !bytes.Equal(g.Contents, b[:HeaderLen]) || !bytes.Equal(g.Payload, b[HeaderLen:]) {
			t.Fatal("gopacket splits header and payload differently")
		}
		var h Header
		if err := h.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		// The VNI and the flags gopacket knows, whatever the verdict.
		if g.VNI != h.VNI {
			t.Fatalf("VNI: gopacket %d, ours %d (header % x)", g.VNI, h.VNI, b[:HeaderLen])
		}
		flags := [...]struct {
			name      string
			gp, ours  bool
			exception bool
		}{
			{"I", g.ValidIDFlag, h.Flags&FlagI != 0, false},
			{"G", g.GBPExtension, h.Flags&0x80 != 0, true},
			{"D", g.GBPDontLearn, h.Reserved1[0]&0x40 != 0, true},
			{"A", g.GBPApplied, h.Reserved1[0]&0x08 != 0, true},
		}
		for _, fl := range flags {
			if fl.gp != fl.ours {
				t.Fatalf("flag %s: gopacket %v, ours %v (header % x)", fl.name, fl.gp, fl.ours, b[:HeaderLen])
			}
		}
		if want := uint16(h.Reserved1[1])<<8 | uint16(h.Reserved1[2]); g.GBPGroupPolicyID != want {
			t.Fatalf("group policy ID: gopacket %#04x, reserved bytes 2–3 %#04x", g.GBPGroupPolicyID, want)
		}

		// Validity. Exception 1: the I flag.
		if errors.Is(err, ErrNoIFlag) != !g.ValidIDFlag {
			t.Fatalf("I flag: gopacket ValidIDFlag=%v, Parse err = %v", g.ValidIDFlag, err)
		}
		gbp := g.GBPExtension || g.GBPDontLearn || g.GBPApplied || g.GBPGroupPolicyID != 0
		var other bool
		for i := range HeaderLen {
			if b[i]&^gopacketBits[i] != 0 {
				other = true
			}
		}
		switch {
		case !g.ValidIDFlag:
			// Exception 1, checked above.
		case strict && (gbp || other):
			// Exceptions 2 and 3: strict refuses what gopacket accepts.
			if !errors.Is(err, ErrReservedBits) {
				t.Fatalf("strict Parse of % x: err = %v, want ErrReservedBits", b[:HeaderLen], err)
			}
		default:
			if err != nil || vni != g.VNI {
				t.Fatalf("Parse(% x, strict=%v) = %d, %v; gopacket accepts VNI %d", b[:HeaderLen], strict, vni, err, g.VNI)
			}
		}

		// Encoding: gopacket re-encodes what it decoded as the input with
		// the bits it does not know cleared (exception 3) ...
		buf := gopacket.NewSerializeBuffer()
		if err := g.SerializeTo(buf, gopacket.SerializeOptions{}); err != nil {
			t.Fatalf("gopacket re-encode: %v", err)
		}
		var masked [HeaderLen]byte
		for i := range masked {
			masked[i] = b[i] & gopacketBits[i]
		}
		if !bytes.Equal(buf.Bytes(), masked[:]) {
			t.Fatalf("gopacket re-encodes % x as % x, want % x", b[:HeaderLen], buf.Bytes(), masked)
		}
		// ... and a clean header for this VNI the same as PutHeader.
		clean := layers.VXLAN{ValidIDFlag: true, VNI: h.VNI}
		buf = gopacket.NewSerializeBuffer()
		if err := clean.SerializeTo(buf, gopacket.SerializeOptions{}); err != nil {
			t.Fatalf("gopacket encode of VNI %d: %v", h.VNI, err)
		}
		var ours [HeaderLen]byte
		PutHeader(ours[:], h.VNI)
		if !bytes.Equal(buf.Bytes(), ours[:]) {
			t.Fatalf("VNI %d: gopacket writes % x, PutHeader % x", h.VNI, buf.Bytes(), ours)
		}
	})
}
