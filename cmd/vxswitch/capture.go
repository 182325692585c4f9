package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vxswitch/vxswitch/admin"
)

// How long an interrupted capture or trace waits for the server's last
// packets and counts before it gives up on them.
const (
	stopTimeout = 2 * time.Second
	tailTimeout = 3 * time.Second
)

func captureFlags(fs *flag.FlagSet, o *clientOptions) runner {
	var req admin.CaptureRequest
	var file string
	fs.StringVar(&req.Port, "port", "", "capture the frames of port `NAME`")
	fs.StringVar(&req.Network, "network", "", "capture the frames of network `NAME` (its ports' and the inner frames of its datagrams)")
	fs.BoolVar(&req.Underlay, "underlay", false, "capture the VXLAN datagrams, with outer Ethernet/IP/UDP headers")
	fs.StringVar(&file, "w", "-", "write pcapng to `FILE`; - is standard output (not a terminal)")
	fs.Uint64Var(&req.Count, "c", 0, "stop after `COUNT` packets (0: until interrupted)")
	return func(ctx context.Context, c *admin.Client, stdout, stderr io.Writer) error {
		given := 0
		for _, set := range []bool{req.Port != "", req.Network != "", req.Underlay} {
			if set {
				given++
			}
		}
		if given > 1 {
			return usageError{errors.New("give at most one of --port, --network and --underlay")}
		}
		out := stdout
		if file == "-" {
			if f, ok := stdout.(*os.File); ok && isTerminal(f) {
				return usageError{errors.New("refusing to write pcapng to a terminal: give -w FILE, or pipe it (… -w - | tshark -r -)")}
			}
		} else {
			f, err := os.Create(file)
			if err != nil {
				return err
			}
			defer f.Close()
			out = f
		}
		s, err := c.Capture(ctx, req)
		if err != nil {
			return err
		}
		defer s.Close()
		return follow(s, "capture", "packets captured", stderr, func(r io.Reader) error {
			_, err := io.Copy(out, r)
			return err
		})
	}
}

func traceFlags(fs *flag.FlagSet, o *clientOptions) runner {
	var req admin.TraceRequest
	fs.StringVar(&req.Network, "network", "", "only frames of network `NAME`")
	fs.StringVar(&req.Port, "port", "", "only frames arriving on port `NAME`")
	fs.Uint64Var(&req.Count, "c", 0, "stop after `COUNT` frames (0: until interrupted)")
	return func(ctx context.Context, c *admin.Client, stdout, stderr io.Writer) error {
		s, err := c.Trace(ctx, req)
		if err != nil {
			return err
		}
		defer s.Close()
		return follow(s, "trace", "frames traced", stderr, func(r io.Reader) error {
			return printTrace(r, stdout, o.output == "json")
		})
	}
}

// printTrace prints each TraceEvent line of r as a trace line, or as it
// came with raw set.
func printTrace(r io.Reader, w io.Writer, raw bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if raw {
			if _, err := fmt.Fprintf(w, "%s\n", sc.Bytes()); err != nil {
				return err
			}
			continue
		}
		var ev admin.TraceEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("bad trace event: %w", err)
		}
		if _, err := fmt.Fprintln(w, admin.FormatTrace(ev, time.Local)); err != nil {
			return err
		}
	}
	return sc.Err()
}

// follow runs consume on the stream until it ends. On SIGINT or SIGTERM it
// asks the server to finish, so that what is queued and the final counts
// still arrive; a second signal gives up at once. Then it reports on
// stderr how many packets came and how many the switch had to drop.
func follow(s *admin.Stream, what, counted string, stderr io.Writer, consume func(io.Reader) error) error {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan error, 1)
	go func() { done <- consume(s) }()

	var err error
	select {
	case err = <-done:
	case <-sigs:
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		stopErr := s.Stop(ctx)
		cancel()
		if stopErr != nil {
			s.Close()
			<-done
			return fmt.Errorf("stop %s: %w", what, stopErr)
		}
		select {
		case err = <-done:
		case <-sigs:
			s.Close()
			return nil
		case <-time.After(tailTimeout):
			s.Close()
			return fmt.Errorf("%s did not end within %v of stopping it", what, tailTimeout)
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	packets, drops, ok := s.Counts()
	if !ok {
		return fmt.Errorf("%s: the stream broke off (did vxswitch stop?)", what)
	}
	fmt.Fprintf(stderr, "vxswitch %s: %d %s, %d dropped because the %s could not keep up\n", what, packets, counted, drops, what)
	return nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
