// Package vxtest runs vxswitch instances inside test namespaces, in the
// test's own process, so integration tests can read the switch's tables and
// counters directly.
package vxtest

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/vxswitch/vxswitch/config"
	"github.com/vxswitch/vxswitch/internal/daemon"
	"github.com/vxswitch/vxswitch/internal/nstest"
)

// Start parses yaml (named name in errors), then starts a vxswitch whose
// underlay sockets live in host's namespace. It is closed when the test
// ends; Close earlier to test shutdown or restart.
func Start(t testing.TB, host *nstest.NS, name, yaml string) *daemon.Daemon {
	t.Helper()
	return StartWith(t, host, name, yaml, daemon.Options{})
}

// StartWith is Start with run-time options (offloads off, fixed source
// port); its Logger is replaced by the test's.
func StartWith(t testing.TB, host *nstest.NS, name, yaml string, o daemon.Options) *daemon.Daemon {
	t.Helper()
	cfg, err := config.Parse(name, []byte(yaml))
	if err != nil {
		t.Fatalf("config %s: %v", name, err)
	}
	log := zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)).Named(name)
	var d *daemon.Daemon
	if err := host.Do(func() (err error) {
		o.Logger = log
		d, err = daemon.Start(cfg, o)
		return err
	}); err != nil {
		t.Fatalf("start vxswitch %s in %s: %v", name, host.Name, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
