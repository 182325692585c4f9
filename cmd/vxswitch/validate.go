package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/vxswitch/vxswitch/config"
)

func validateFlags(out io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(out)
	file := fs.String("c", "", "configuration `FILE` (YAML)")
	fs.Usage = func() {
		fmt.Fprint(out, "Usage: vxswitch validate -c FILE\n\n"+
			"Parses and checks FILE without touching the system. Prints a summary\n"+
			"and exits 0 when valid; otherwise prints every error as\n"+
			"FILE:LINE: FIELD: MESSAGE and exits 2.\n\nOptions:\n")
		fs.PrintDefaults()
	}
	return fs, file
}

func cmdValidate(args []string, stdout, stderr io.Writer) error {
	fs, file := validateFlags(stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *file == "" {
		return usageError{fmt.Errorf("-c FILE is required")}
	}
	cfg, err := config.Load(*file)
	if err != nil {
		return usageError{err}
	}
	fmt.Fprintf(stdout, "%s: valid: underlay %s port %d, %d network(s), %d port(s)\n",
		*file, cfg.Underlay.Local, cfg.Underlay.Port, len(cfg.Networks), len(cfg.Ports))
	return nil
}

// parseFlags parses args and refuses stray arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return errHelpShown
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}
