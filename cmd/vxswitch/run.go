package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/vxswitch/vxswitch/admin"
	"github.com/vxswitch/vxswitch/config"
	"github.com/vxswitch/vxswitch/internal/daemon"
	"github.com/vxswitch/vxswitch/tap"
)

type runOptions struct {
	file, logLevel, logFormat  string
	adminSocket, metricsListen string
	fixedSourcePort            bool
	noTAPOffload, noTAPUSO     bool
	noUDPGSO, noUDPGRO         bool
	tapQueues, tapTxQueueLen   int
}

func runFlags(out io.Writer) (*flag.FlagSet, *runOptions) {
	o := &runOptions{}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.file, "c", "", "configuration `FILE` (YAML)")
	fs.StringVar(&o.logLevel, "log-level", "", "log `LEVEL`: debug, info, warn or error (default: the file's log.level, else info); debug logs every forwarding decision")
	fs.StringVar(&o.logFormat, "log-format", "", "log `FORMAT`: console or json (default: the file's log.format, else console)")
	fs.BoolVar(&o.fixedSourcePort, "fixed-source-port", false, "send every datagram from the VXLAN port instead of a per-flow source port (no raw socket needed)")
	fs.StringVar(&o.adminSocket, "admin-socket", "", "serve the admin API (vxswitch fdb, stats, capture, …) on the unix socket `PATH` (default: the file's admin.socket, else "+config.DefaultAdminSocket+")")
	fs.StringVar(&o.metricsListen, "metrics-listen", "", "serve Prometheus metrics at http://`HOST:PORT`/metrics (default: the file's metrics.listen, else off)")
	fs.BoolVar(&o.noTAPOffload, "no-tap-offload", false, "open TAPs without virtio headers: no TCP segmentation or checksum offload, one frame per read")
	fs.BoolVar(&o.noTAPUSO, "no-tap-uso", false, "keep the other TAP offloads but write UDP datagrams to TAPs one by one (no UDP segmentation offload into the container)")
	fs.IntVar(&o.tapQueues, "tap-queues", 0, "queues per TAP, each read by its own goroutine; the kernel keeps each flow on one queue (default: one per CPU, at most 8; 1 turns multi-queue off)")
	fs.IntVar(&o.tapTxQueueLen, "tap-txqueuelen", daemon.DefaultTAPTxQueueLen, "frames each TAP queue holds for vxswitch to read (the interface's txqueuelen; the kernel's default is 1000): a container that sends a longer burst while vxswitch waits for a CPU loses the rest")
	fs.BoolVar(&o.noUDPGSO, "no-udp-gso", false, "send every underlay datagram as its own message (no UDP segmentation offload)")
	fs.BoolVar(&o.noUDPGRO, "no-udp-gro", false, "receive underlay datagrams one by one (no UDP receive offload)")
	fs.Usage = func() {
		fmt.Fprint(out, "Usage: vxswitch run -c FILE [options]\n\n"+
			"Runs the switch in the foreground, logging to standard error. Creates each\n"+
			"configured port as a TAP inside its network namespace, opens the VTEP on\n"+
			"underlay.local:underlay.port and forwards until SIGINT or SIGTERM, then\n"+
			"removes the TAPs and exits 0. A port whose namespace disappears is removed\n"+
			"with one log line; the rest keeps running. SIGUSR1 prints the MAC table,\n"+
			"the neighbor table and the counters, drops by reason, to standard error.\n"+
			"The admin API for vxswitch fdb, neigh, ports, peers, stats, capture, trace\n"+
			"and explain listens on a unix socket (mode 0600; root and this user only);\n"+
			"run refuses to start while another vxswitch serves that socket.\n"+
			"Needs CAP_NET_ADMIN (TAPs, namespaces) and CAP_NET_RAW (per-flow source ports).\n\nOptions:\n")
		fs.PrintDefaults()
	}
	return fs, o
}

func cmdRun(args []string, stderr io.Writer) error {
	fs, o := runFlags(stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if o.file == "" {
		return usageError{errors.New("-c FILE is required")}
	}
	if o.tapQueues < 0 || o.tapQueues > tap.MaxQueues {
		return usageError{fmt.Errorf("--tap-queues %d: want 0 (one per CPU) to %d", o.tapQueues, tap.MaxQueues)}
	}
	if o.tapTxQueueLen < 1 || o.tapTxQueueLen > tap.MaxTxQueueLen {
		return usageError{fmt.Errorf("--tap-txqueuelen %d: want 1 to %d", o.tapTxQueueLen, tap.MaxTxQueueLen)}
	}
	cfg, err := config.Load(o.file)
	if err != nil {
		return usageError{err}
	}
	level, format := pick(o.logLevel, cfg.Log.Level), pick(o.logFormat, cfg.Log.Format)
	log, err := newLogger(stderr, level, format)
	if err != nil {
		return usageError{err}
	}
	defer log.Sync()
	socket, metricsAddr := pick(o.adminSocket, cfg.Admin.Socket), pick(o.metricsListen, cfg.Metrics.Listen)
	if err := config.CheckSocketPath(socket); err != nil {
		return usageError{fmt.Errorf("--admin-socket: %w", err)}
	}
	if metricsAddr != "" {
		if err := config.CheckListen(metricsAddr); err != nil {
			return usageError{fmt.Errorf("--metrics-listen: %w", err)}
		}
	}

	// The sockets are opened before the switch starts, so that a second
	// vxswitch on the same admin socket fails before it creates any TAP.
	adminLn, err := admin.Listen(socket)
	if err != nil {
		return err
	}
	var metricsLn net.Listener
	if metricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", metricsAddr); err != nil {
			adminLn.Close()
			return fmt.Errorf("metrics: %w", err)
		}
	}
	d, err := daemon.Start(cfg, daemon.Options{FixedSourcePort: o.fixedSourcePort, NoTAPOffload: o.noTAPOffload,
		NoTAPUSO: o.noTAPUSO, NoUDPGSO: o.noUDPGSO, NoUDPGRO: o.noUDPGRO, TAPQueues: o.tapQueues, TAPTxQueueLen: o.tapTxQueueLen, Logger: log})
	if err != nil {
		adminLn.Close()
		if metricsLn != nil {
			metricsLn.Close()
		}
		return err
	}
	sw := d.Switch
	stopServers := serveDebugging(log, d, adminLn, socket, metricsLn)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	log.Info("vxswitch running", zap.String("version", version()), zap.String("config", o.file))
	for sig := range sigs {
		if sig == syscall.SIGUSR1 {
			writeTables(stderr, sw)
			continue
		}
		log.Info("shutting down", zap.Stringer("signal", sig))
		break
	}
	stopServers()
	err = sw.Close()
	writeStats(stderr, sw)
	return err
}

// serveDebugging serves the admin API on adminLn and, if metricsLn is not
// nil, Prometheus metrics; the function it returns stops both, ending
// running captures with their final counts and removing the socket file.
func serveDebugging(log *zap.Logger, d *daemon.Daemon, adminLn net.Listener, socket string, metricsLn net.Listener) (stop func()) {
	srv := admin.NewServer(d.Switch, admin.Options{Logger: log.Named("admin"), PeerNetworks: admin.PeerNetworksOf(d.Config)})
	done := make(chan struct{}, 2)
	go func() {
		defer func() { done <- struct{}{} }()
		if err := srv.Serve(adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin API stopped", zap.Error(err))
		}
	}()
	log.Info("admin API listening", zap.String("socket", socket))
	var metrics *http.Server
	if metricsLn != nil {
		metrics = &http.Server{Handler: admin.MetricsHandler(d.Switch, srv.CaptureDrops), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			defer func() { done <- struct{}{} }()
			if err := metrics.Serve(metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics endpoint stopped", zap.Error(err))
			}
		}()
		log.Info("metrics listening", zap.String("url", "http://"+metricsLn.Addr().String()+"/metrics"))
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
		if metrics != nil {
			metrics.Shutdown(ctx)
			metrics.Close()
			<-done
		}
	}
}

func pick(flagValue, fileValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return fileValue
}

func newLogger(w io.Writer, level, format string) (*zap.Logger, error) {
	if level == "" {
		level = "info"
	}
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	switch format {
	case "", "console":
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	case "json":
		enc = zapcore.NewJSONEncoder(encCfg)
	default:
		return nil, fmt.Errorf("--log-format %q: want console or json", format)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), lvl)), nil
}
