package vswitch_test

import (
	"fmt"
	"testing"

	"github.com/vxswitch/vxswitch/fdb"
)

// benchSizes are a minimum Ethernet frame (with FCS room) and a full
// 1500-byte-MTU frame.
var benchSizes = []int{64, 1514}

// benchUnderlayMTU carries a 1514-byte inner frame: 1514 + 8 + 8 + 20.
const benchUnderlayMTU = 1550

func benchFromPort(b *testing.B, dst fdb.MAC, want string) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			h := newHotPath(b, benchUnderlayMTU)
			fn := h.fromPortFn(h.f.port["p1"], portBuf(udpFrame(b, mac(1), dst, 40000, size)))
			if got := verdict(fn()); got != want {
				b.Fatalf("verdict = %q, want %q", got, want)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				fn()
			}
		})
	}
}

func BenchmarkFromPortLocal(b *testing.B)  { benchFromPort(b, mac(2), "port p2") }
func BenchmarkFromPortRemote(b *testing.B) { benchFromPort(b, mac(7), "vtep 192.0.2.2") }

// BenchmarkFromPortFlood: two other ports and two flood-list VTEPs.
func BenchmarkFromPortFlood(b *testing.B) { benchFromPort(b, macBroadcast, "flood 4") }

func BenchmarkFromUnderlay(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			h := newHotPath(b, benchUnderlayMTU)
			fn := h.fromUnderlayFn(encapsulate(vniBlue, udpFrame(b, mac(7), mac(1), 40000, size)))
			if got := verdict(fn()); got != "port p1" {
				b.Fatalf("verdict = %q, want port p1", got)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				fn()
			}
		})
	}
}

func BenchmarkFromPortARPProxy(b *testing.B) {
	h := newHotPath(b, benchUnderlayMTU)
	fn := h.fromPortFn(h.f.port["p1"], portBuf(arpRequest(b, mac(1), ip(1), ip(8))))
	if got := verdict(fn()); got != "proxy p1" {
		b.Fatalf("verdict = %q, want proxy p1", got)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		fn()
	}
}
