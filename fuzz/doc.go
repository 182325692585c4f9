// Package fuzz holds fuzz harnesses that cross packages: frames and
// datagrams driven through a whole switch (vswitch, fdb, vtep) with fake
// ports and underlay, checking invariants rather than only "no panic".
package fuzz
