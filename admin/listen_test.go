package admin

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestListenCreatesPrivateSocket(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run", "vxswitch")
	path := filepath.Join(dir, "vxswitch.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	di, err := os.Stat(dir)
	if err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v (%v), want 0700", di.Mode(), err)
	}
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v (%v), want a socket with 0600", fi.Mode(), err)
	}
	ln.Close()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket file still there after Close: %v", err)
	}
}

func TestListenKeepsExistingDirectory(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	ln, err := Listen(filepath.Join(dir, "a.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o755 {
		t.Errorf("existing directory changed to %v", di.Mode())
	}
}

func TestListenRefusesLiveSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.sock")
	first, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	_, err = Listen(path)
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "(pid ") {
		t.Fatalf("second Listen: %v, want ErrInUse naming the pid", err)
	}
	// The first is untouched.
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("first listener lost its socket: %v", err)
	}
	c.Close()
}

func TestListenReplacesStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.sock")
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close() // what a crash leaves behind
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("stale socket file missing: %v", err)
	}
	ln, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	defer ln.Close()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestListenRefusesOtherFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.sock")
	os.WriteFile(path, []byte("not a socket"), 0o600)
	_, err := Listen(path)
	if err == nil || !strings.Contains(err.Error(), "exists and is not a socket") {
		t.Fatalf("Listen over a regular file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "not a socket" {
		t.Error("the file was touched")
	}
}
