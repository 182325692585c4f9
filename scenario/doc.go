// Package scenario tests vxswitch end to end on three namespace hosts sharing one underlay bridge, asserting with the switches' own tables and counters.
package scenario
