// Package vswitch is vxswitch's forwarding plane: one learning bridge domain
// per VNI joining local TAP ports and remote VTEPs, with an ARP proxy,
// head-end replication, split horizon and per-reason drop counters.
//
// The directory is named switch; the package is vswitch because switch is a
// Go keyword.
package vswitch
