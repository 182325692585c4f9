// Package vtep is vxswitch's VXLAN tunnel endpoint: the RFC 7348 header codec,
// the outer UDP source-port flow hash, and the underlay UDP sockets.
package vtep
