package csum

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"strconv"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func build(t *testing.T, v6, udp bool, payload string) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	var ip gopacket.NetworkLayer
	var l3 gopacket.SerializableLayer
	proto := layers.IPProtocolTCP
	if udp {
		proto = layers.IPProtocolUDP
	}
	if v6 {
		eth.EthernetType = layers.EthernetTypeIPv6
		x := &layers.IPv6{Version: 6, NextHeader: proto, HopLimit: 64, SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")}
		ip, l3 = x, x
	} else {
		eth.EthernetType = layers.EthernetTypeIPv4
		x := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: net.IP{10, 0, 1, 2}, DstIP: net.IP{10, 0, 1, 3}}
		ip, l3 = x, x
	}
	var l4 gopacket.SerializableLayer
	if udp {
		u := &layers.UDP{SrcPort: 1000, DstPort: 2000}
		u.SetNetworkLayerForChecksum(ip)
		l4 = u
	} else {
		c := &layers.TCP{SrcPort: 1000, DstPort: 2000, Seq: 1, ACK: true, Window: 100}
		c.SetNetworkLayerForChecksum(ip)
		l4 = c
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, l3, l4, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// makePartial puts the frame into the state a CHECKSUM_PARTIAL sender
// leaves it in: the field holds the folded pseudo-header sum.
func makePartial(f []byte) {
	l4, pseudo, field, _ := transport(f)
	binary.BigEndian.PutUint16(l4[field:], Fold(pseudo))
}

func TestFixPartial(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, udp := range []bool{false, true} {
			good := build(t, v6, udp, "partial checksum, finished here")
			f := append([]byte(nil), good...)
			makePartial(f)
			if string(f) == string(good) {
				t.Fatal("test frame already partial")
			}
			if !FixPartial(f) || string(f) != string(good) {
				t.Errorf("v6=%v udp=%v: partial checksum not finished to the sender's value", v6, udp)
			}
			if FixPartial(f) {
				t.Errorf("v6=%v udp=%v: a valid checksum was changed", v6, udp)
			}
			bad := append([]byte(nil), good...)
			bad[len(bad)-1] ^= 1
			if FixPartial(bad) {
				t.Errorf("v6=%v udp=%v: a corrupt frame was 'fixed'", v6, udp)
			}
		}
	}
}

func TestFixPartialIgnoresOthers(t *testing.T) {
	arp := make([]byte, 42)
	arp[12], arp[13] = 0x08, 0x06
	noCsum := build(t, false, true, "x")
	l4, _, _, _ := transport(noCsum)
	l4[6], l4[7] = 0, 0
	for name, f := range map[string][]byte{"ARP": arp, "runt": arp[:10], "IPv4 UDP without checksum": noCsum} {
		before := string(f)
		if FixPartial(f) || string(f) != before {
			t.Errorf("%s: changed", name)
		}
	}
	trunc := build(t, false, false, "abc")
	binary.BigEndian.PutUint16(trunc[16:18], 1000) // IP length beyond the frame
	if FixPartial(trunc) {
		t.Error("IP length past the frame: changed")
	}
}

func TestFixPartialAllocs(t *testing.T) {
	f := build(t, false, false, "payload")
	if n := testing.AllocsPerRun(100, func() { FixPartial(f) }); n != 0 {
		t.Errorf("FixPartial allocates %v", n)
	}
}

func BenchmarkFixPartialValid1500(b *testing.B) {
	t := &testing.T{}
	f := build(t, false, false, string(make([]byte, 1448)))
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		FixPartial(f)
	}
}

// refSum is RFC 1071's sum, word by word: what Sum must equal.
func refSum(b []byte, s uint32) uint32 {
	acc := uint64(s)
	for len(b) >= 2 {
		acc += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint64(b[0]) << 8
	}
	for acc>>32 != 0 {
		acc = acc&0xffffffff + acc>>32
	}
	return uint32(acc)
}

// TestSumMatchesReference compares Sum with the word-by-word sum on every
// length up to 300 and on the inputs where end-around carries pile up (all
// 0xff) or none happens (all zero): the folded sums must be equal, 0 and
// 0xffff told apart as the reference does.
func TestSumMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 0; n <= 300; n++ {
		for _, fill := range []string{"random", "ones", "zeros"} {
			b := make([]byte, n)
			for i := range b {
				switch fill {
				case "random":
					b[i] = byte(rng.Uint32())
				case "ones":
					b[i] = 0xff
				}
			}
			for _, s := range []uint32{0, 1, 0xffff, 0xfffffffe, rng.Uint32()} {
				if got, want := Fold(Sum(b, s)), Fold(refSum(b, s)); got != want {
					t.Fatalf("%s, %d bytes, s=%#x: Sum folds to %#04x, reference %#04x", fill, n, s, got, want)
				}
			}
		}
	}
}

// TestSumLongAndUnaligned compares Sum with the reference on lengths the
// vector code loops over several times, starting at every alignment.
func TestSumLongAndUnaligned(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	buf := make([]byte, 65535+8)
	for _, fill := range []byte{0, 0xff, 1} {
		for i := range buf {
			buf[i] = fill
			if fill == 1 {
				buf[i] = byte(rng.Uint32())
			}
		}
		for _, n := range []int{vectorMin - 1, vectorMin, 255, 256, 511, 1024, 1448, 1449, 4097, 9000, 65535} {
			for off := range 8 {
				b := buf[off : off+n]
				for _, s := range []uint32{0, 0xffffffff, rng.Uint32()} {
					if got, want := Fold(Sum(b, s)), Fold(refSum(b, s)); got != want {
						t.Fatalf("fill %#x, %d bytes at offset %d, s=%#x: Sum folds to %#04x, reference %#04x", fill, n, off, s, got, want)
					}
				}
			}
		}
	}
}

func FuzzSum(f *testing.F) {
	f.Add([]byte{0xff, 0xff, 0xff}, uint32(0))
	f.Add(make([]byte, 64), uint32(0xffffffff))
	f.Fuzz(func(t *testing.T, b []byte, s uint32) {
		if got, want := Fold(Sum(b, s)), Fold(refSum(b, s)); got != want {
			t.Fatalf("%d bytes, s=%#x: Sum folds to %#04x, reference %#04x", len(b), s, got, want)
		}
	})
}

func BenchmarkSum(b *testing.B) {
	for _, n := range []int{64, 1460, 65536} {
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(i * 7)
		}
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				Sum(buf, 0)
			}
		})
	}
}
