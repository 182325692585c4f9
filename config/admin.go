package config

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// DefaultAdminSocket is where the admin API listens unless admin.socket or
// run --admin-socket says otherwise.
const DefaultAdminSocket = "/run/vxswitch/vxswitch.sock"

// maxSocketPath is the longest path a unix socket can bind: sun_path holds
// 108 bytes including the terminating NUL (unix(7)).
const maxSocketPath = 107

// Admin configures the admin API, HTTP/JSON on a unix socket that the
// vxswitch commands (fdb, stats, capture, …) talk to.
type Admin struct {
	Socket string // absolute path of the socket
}

// Metrics configures the Prometheus endpoint; it is off when Listen is
// empty.
type Metrics struct {
	Listen string // host:port serving /metrics
}

func (p *parser) adminSection(root object) Admin {
	a := Admin{Socket: DefaultAdminSocket}
	path, n := root.field("admin")
	if n == nil {
		return a
	}
	o, ok := p.object(n, path, "socket")
	if !ok {
		return a
	}
	if f, n := o.field("socket"); n != nil {
		if s, ok := p.str(n, f); ok {
			if err := CheckSocketPath(s); err != nil {
				p.errorf(n.Line, f, "%v", err)
			} else {
				a.Socket = s
			}
		}
	}
	return a
}

func (p *parser) metricsSection(root object) Metrics {
	var m Metrics
	path, n := root.field("metrics")
	if n == nil {
		return m
	}
	o, ok := p.object(n, path, "listen")
	if !ok {
		return m
	}
	if f, n := o.field("listen"); n != nil {
		if s, ok := p.str(n, f); ok {
			if err := CheckListen(s); err != nil {
				p.errorf(n.Line, f, "%v", err)
			} else {
				m.Listen = s
			}
		}
	}
	return m
}

// CheckSocketPath reports why s cannot be the admin socket's path: it must
// be absolute and short enough for a unix socket address. The run command
// checks its --admin-socket flag with it too.
func CheckSocketPath(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("must not be empty")
	case !strings.HasPrefix(s, "/"):
		return fmt.Errorf("%s is not an absolute path", quote(s))
	case strings.HasSuffix(s, "/"):
		return fmt.Errorf("%s names a directory; want the socket file's path", quote(s))
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("%s contains a NUL byte", quote(s))
	case len(s) > maxSocketPath:
		return fmt.Errorf("%s is %d bytes; a unix socket path has at most %d", quote(s), len(s), maxSocketPath)
	}
	return nil
}

// hostname is an RFC 1123 host name: dot-separated labels of letters,
// digits and inner hyphens.
var hostname = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)

// CheckListen reports why s is not a TCP listen address host:port: the host
// is an IP address (IPv6 in brackets), a host name, or empty for every
// address; the port is a number in 1..65535. The run command checks its
// --metrics-listen flag with it too.
func CheckListen(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%s is not host:port (like 127.0.0.1:9489 or [::1]:9489)", quote(s))
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("%s: port %s is not a number in 1..65535", quote(s), quote(port))
	}
	if host == "" {
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return fmt.Errorf("%s: IPv6 zones are not allowed", quote(s))
		}
		if a.IsMulticast() {
			return fmt.Errorf("%s: %s is a multicast address", quote(s), a)
		}
		return nil
	}
	if len(host) > 253 || !hostname.MatchString(host) {
		return fmt.Errorf("%s: %s is neither an IP address nor a host name", quote(s), quote(host))
	}
	return nil
}
