// Package interop tests vxswitch against the Linux kernel's vxlan driver, a Docker-overlay-style bridge and vxlan device on the far host.
package interop
