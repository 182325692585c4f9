// Command vxswitch is a userspace VXLAN switch: it gives containers on
// several hosts one L2 network per VNI, with TAP ports in their network
// namespaces and its own VTEP on UDP 4789, no kernel vxlan module needed.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/vxswitch/vxswitch/config"
)

const usage = `vxswitch — a userspace VXLAN switch for containers

Usage:
  vxswitch run -c FILE [--log-level LEVEL] [--log-format console|json]
               [--admin-socket PATH] [--metrics-listen HOST:PORT]
  vxswitch validate -c FILE
  vxswitch fdb [--network N]     [--socket PATH] [-o table|json]
  vxswitch neigh [--network N]   [--socket PATH] [-o table|json]
  vxswitch ports                 [--socket PATH] [-o table|json]
  vxswitch peers                 [--socket PATH] [-o table|json]
  vxswitch stats                 [--socket PATH] [-o table|json]
  vxswitch capture [--port P | --network N | --underlay] [-w FILE|-] [-c COUNT]
  vxswitch trace [--network N] [--port P] [-c COUNT] [-o table|json]
  vxswitch explain --port P --frame HEX
  vxswitch explain --underlay --from ADDR[:PORT] --datagram HEX
  vxswitch fuzz-peer --target ADDR[:PORT] --vni N --probe ADDR [--seed S] [--count N] [--rate PPS]
  vxswitch version
  vxswitch help [COMMAND]

Commands:
  run       Create the configured TAP ports inside their container network
            namespaces, open the VTEP on the underlay (UDP 4789 by default)
            and switch frames until SIGINT or SIGTERM; then remove the TAPs
            and exit 0. SIGUSR1 prints the MAC and neighbor tables and the
            counters (with drop reasons) to standard error. Serves the admin
            API on a unix socket (default ` + config.DefaultAdminSocket + `),
            and Prometheus metrics if configured.
  validate  Check a configuration file; errors name file, line and field.
  fdb       MAC table: where each MAC is, learned or static, age, source.
  neigh     Neighbor table of the ARP/ND proxy.
  ports     Local ports with their frame and byte counters and drops.
  peers     Remote VTEPs: networks, last seen, datagrams and bytes.
  stats     Counters per network and in total, drops by reason.
  capture   Live pcapng of a port, a network or the underlay, each packet
            commented with the switch's decision.
  trace     One line per arriving frame: ingress, VNI, MACs, summary, decision.
  explain   What would the switch do with this frame or datagram, step by step?
  version   Print the version.

The admin commands talk to a running vxswitch through its admin socket
(--socket, default ` + config.DefaultAdminSocket + `), as root or as the user it
runs as. Run 'vxswitch help COMMAND' for the options of a command. The
configuration format is described in README.md; testdata/ holds examples.
`

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// exitUsage is the exit status for a bad command line or configuration.
const exitUsage = 2

func runMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "run":
		err = cmdRun(rest, stderr)
	case "validate":
		err = cmdValidate(rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "vxswitch", version())
		return 0
	case "help", "-h", "--help":
		return cmdHelp(rest, stdout, stderr)
	case "fdb", "neigh", "ports", "peers", "stats", "capture", "trace", "explain":
		err = cmdClient(cmd, rest, stdout, stderr)
	case "fuzz-peer":
		err = cmdFuzzPeer(rest, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "vxswitch: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelpShown):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "vxswitch %s: %v\n", cmd, err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "vxswitch %s: %v\n", cmd, err)
		return 1
	}
}

// usageError marks errors in the command line or configuration file.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

var errHelpShown = errors.New("help shown")

func cmdHelp(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return 0
	}
	switch args[0] {
	case "run":
		fs, _ := runFlags(stdout)
		fs.Usage()
	case "validate":
		fs, _ := validateFlags(stdout)
		fs.Usage()
	case "version":
		fmt.Fprintln(stdout, "Usage: vxswitch version\n\nPrints the version of this build.")
	case "fdb", "neigh", "ports", "peers", "stats", "capture", "trace", "explain":
		fs, _, _ := clientFlags(args[0], stdout)
		fs.Usage()
	case "fuzz-peer":
		fs, _ := fuzzPeerFlags(stdout)
		fs.Usage()
	default:
		fmt.Fprintf(stderr, "vxswitch help: unknown command %q\n", args[0])
		return exitUsage
	}
	return 0
}
