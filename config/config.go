// Package config defines vxswitch's YAML configuration: schema, defaults, and validation errors that name file, line and field.
package config

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"
)

// Defaults for fields the file leaves out.
const (
	DefaultPort = 4789 // IANA-assigned VXLAN port, RFC 7348 §5
	DefaultMTU  = 1500
	// RFC 7348 §5: the outer UDP source port, a hash of the inner flow,
	// "SHOULD be within the dynamic/private port range 49152-65535".
	DefaultSrcPortMin = 49152
	DefaultSrcPortMax = 65535
	DefaultMaxMACs    = 8192
	DefaultAgeing     = 300 * time.Second
	DefaultLogLevel   = "info"
	DefaultLogFormat  = "console"
)

// Bytes that VXLAN encapsulation adds to a port's IP packet: outer IP header,
// UDP 8, VXLAN 8 and the inner Ethernet header 14 (RFC 7348 §5). A port's MTU
// plus this must fit in the underlay MTU.
const (
	OverheadIPv4 = 20 + 8 + 8 + 14
	OverheadIPv6 = 40 + 8 + 8 + 14
)

// Config is one parsed and validated configuration file.
type Config struct {
	Underlay Underlay
	Networks []Network
	Ports    []Port
	Log      Log
	Admin    Admin
	Metrics  Metrics
}

// Underlay is the UDP socket that carries VXLAN between VTEPs.
type Underlay struct {
	Local  netip.Addr // unicast address this VTEP sends from and listens on
	Port   uint16     // UDP destination and listening port
	MTU    int        // MTU of the underlay path, outer IP header included
	Strict bool       // drop received VXLAN packets with reserved bits set (RFC 7348: ignore them)
	// Range from which the outer UDP source port is picked by flow hash.
	SrcPortMin, SrcPortMax uint16
}

// Overhead is the encapsulation overhead for u's address family:
// OverheadIPv6 when Local is IPv6, OverheadIPv4 otherwise.
func (u *Underlay) Overhead() int {
	if u.Local.Is6() {
		return OverheadIPv6
	}
	return OverheadIPv4
}

// Network is one L2 overlay segment, identified on the wire by its VNI.
type Network struct {
	Name string
	VNI  uint32
	// Remote VTEPs that receive a copy of broadcast and unknown-unicast
	// frames (head-end replication).
	Flood []netip.Addr
	// Accept frames from VTEPs that are neither in Flood nor in FDB.
	AllowUnknownPeers bool
	Learning          bool          // learn source MACs from received frames
	ARPProxy          bool          // answer ARP and NDP from Neighbors locally
	Ageing            time.Duration // lifetime of a learned MAC
	MaxMACs           int           // limit on learned MACs
	FDB               []StaticMAC
	Neighbors         []Neighbor
	Line              int // line of this item in the file, for later messages
}

// StaticMAC pins a MAC address to a remote VTEP.
type StaticMAC struct {
	MAC  net.HardwareAddr
	VTEP netip.Addr
}

// Neighbor is a static IP-to-MAC binding for the ARP/NDP proxy.
type Neighbor struct {
	IP  netip.Addr
	MAC net.HardwareAddr
}

// Port is a TAP interface inside a network namespace, attached to a Network.
type Port struct {
	Name    string // unique in the file
	Network string // Network.Name
	Netns   string // namespace path; empty when PID is set
	PID     int    // process whose namespace to use; 0 when Netns is set
	IfName  string // interface name inside the namespace
	// Interface MAC; nil leaves the choice to the tap package.
	MAC       net.HardwareAddr
	MTU       int
	Addresses []netip.Prefix
	Line      int // line of this item in the file, for later messages
}

// NetnsPath is the path of the port's network namespace: Netns, or
// /proc/PID/ns/net when PID is set.
func (p *Port) NetnsPath() string {
	if p.PID != 0 {
		return fmt.Sprintf("/proc/%d/ns/net", p.PID)
	}
	return p.Netns
}

// Log configures logging; command-line flags override it.
type Log struct {
	Level  string // debug, info, warn or error
	Format string // console or json
}

// NetworkByName returns the network called name.
func (c *Config) NetworkByName(name string) (*Network, bool) {
	for i := range c.Networks {
		if c.Networks[i].Name == name {
			return &c.Networks[i], true
		}
	}
	return nil, false
}

// Load reads the file at path and parses it with Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}
