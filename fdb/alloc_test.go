package fdb

import (
	"net/netip"
	"testing"
	"time"
)

// The data path calls these once or twice per frame; they must not allocate.

func TestTableAllocs(t *testing.T) {
	tab := NewTable(10, time.Hour)
	a := testMAC(1)
	tab.Learn(a, port(1), 0)
	tab.AddStatic(testMAC(2), port(2))
	now := int64(0)
	tests := []struct {
		name string
		f    func()
	}{
		{"Lookup hit", func() { tab.Lookup(a, now) }},
		{"Lookup aged", func() { tab.Lookup(a, now+int64(time.Hour)+1) }},         // the exact check
		{"Lookup near the limit", func() { tab.Lookup(a, now+int64(time.Hour)) }}, // the stamp cannot tell
		{"Lookup past the horizon", func() { tab.Lookup(a, 1<<62) }},
		{"Lookup static", func() { tab.Lookup(testMAC(2), now) }},
		{"Lookup miss", func() { tab.Lookup(testMAC(3), now) }},
		{"Learn refresh", func() { now++; tab.Learn(a, port(1), now) }},
		{"Learn move", func() { now++; tab.Learn(a, port(uint32(now&1)), now) }},
		{"Learn over static", func() { tab.Learn(testMAC(2), port(1), now) }},
		{"Learn invalid", func() { tab.Learn(broadcast, port(1), now) }},
	}
	for _, tt := range tests {
		if got := testing.AllocsPerRun(100, tt.f); got != 0 {
			t.Errorf("%s: %v allocs, want 0", tt.name, got)
		}
	}
}

func TestNeighborsAllocs(t *testing.T) {
	n := NewNeighbors(10, time.Hour)
	n.Learn(ip1, testMAC(1), 0)
	n.Learn(ip6a, testMAC(1), 0)
	mapped := netip.MustParseAddr("::ffff:10.0.0.1")
	now := int64(0)
	tests := []struct {
		name string
		f    func()
	}{
		{"Lookup v4", func() { n.Lookup(ip1, now) }},
		{"Lookup v6", func() { n.Lookup(ip6a, now) }},
		{"Lookup mapped", func() { n.Lookup(mapped, now) }},
		{"Lookup miss", func() { n.Lookup(ip2, now) }},
		{"Learn refresh", func() { now++; n.Learn(ip1, testMAC(1), now) }},
		{"Learn move", func() { now++; n.Learn(ip6a, testMAC(byte(1+now&1)), now) }},
	}
	for _, tt := range tests {
		if got := testing.AllocsPerRun(100, tt.f); got != 0 {
			t.Errorf("%s: %v allocs, want 0", tt.name, got)
		}
	}
}
