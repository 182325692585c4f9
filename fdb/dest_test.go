package fdb

import (
	"math"
	"testing"
)

func TestDestString(t *testing.T) {
	tests := []struct {
		in   Dest
		want string
	}{
		{Dest{}, "none"},
		{Dest{KindPort, 3}, "port 3"},
		{Dest{KindVTEP, 1}, "vtep 1"},
		{Dest{KindVTEP, math.MaxUint32}, "vtep 4294967295"},
		{Dest{Kind(9), 2}, "kind(9) 2"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDestPack(t *testing.T) {
	for _, d := range []Dest{{}, {KindPort, 0}, {KindPort, 1}, {KindVTEP, 1}, {KindVTEP, math.MaxUint32}, {Kind(255), 7}} {
		if got := unpackDest(d.pack()); got != d {
			t.Errorf("unpackDest(%v.pack()) = %v", d, got)
		}
	}
	// Kind is part of the packed value: port 1 and vtep 1 must differ.
	if (Dest{KindPort, 1}).pack() == (Dest{KindVTEP, 1}).pack() {
		t.Error("port 1 and vtep 1 pack alike")
	}
}

func TestResultString(t *testing.T) {
	tests := []struct {
		in   Result
		want string
	}{
		{Refreshed, "refreshed"},
		{LearnedNew, "new"},
		{Moved, "moved"},
		{StaticKept, "static-kept"},
		{Full, "full"},
		{Invalid, "invalid"},
		{Result(42), "result(42)"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Result(%d).String() = %q, want %q", tt.in, got, tt.want)
		}
	}
	if Learned.String() != "learned" || Static.String() != "static" {
		t.Errorf("Type strings = %q, %q", Learned, Static)
	}
}
