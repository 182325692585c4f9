// Command vxswitch is a userspace VXLAN switch: it gives containers on
// several hosts one L2 network per VNI, with TAP ports in their network
// namespaces and its own VTEP on UDP 4789, no kernel vxlan module needed.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

const usage = `vxswitch — a userspace VXLAN switch for containers

Usage:
  vxswitch run -c FILE [--log-level LEVEL] [--log-format console|json]
  vxswitch validate -c FILE
  vxswitch version
  vxswitch help [COMMAND]

Commands:
  run       Create the configured TAP ports inside their container network
            namespaces, open the VTEP on the underlay (UDP 4789 by default)
            and switch frames until SIGINT or SIGTERM; then remove the TAPs
            and exit 0. SIGUSR1 prints the MAC and neighbor tables and the
            counters (with drop reasons) to standard error.
  validate  Check a configuration file; errors name file, line and field.
  version   Print the version.

Run 'vxswitch help run' for the options of a command. The configuration
format is described in README.md; testdata/ holds examples.
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
	default:
		fmt.Fprintf(stderr, "vxswitch help: unknown command %q\n", args[0])
		return exitUsage
	}
	return 0
}
