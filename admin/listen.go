package admin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrInUse means another live process serves the admin socket.
var ErrInUse = errors.New("in use by a running process")

// umaskMu serialises the umask change in Listen: the umask is per process.
var umaskMu sync.Mutex

// Listen opens the admin socket at path: its directory is created with mode
// 0700 if missing; the socket gets mode 0600 from the moment it exists (the
// umask is 0177 while it is bound). A socket file that no process serves
// (left by a crash) is replaced; one that a live process serves is not:
// Listen returns an error wrapping ErrInUse. The returned listener records
// each connection's peer credentials (SO_PEERCRED) for Server to check,
// and removes the socket file when closed.
func Listen(path string) (net.Listener, error) {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("admin socket %s: create directory: %w", path, err)
		}
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	umaskMu.Lock()
	old := unix.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	unix.Umask(old)
	umaskMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	return &credListener{ln}, nil
}

// removeStale removes a socket file at path that nobody serves.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("admin socket %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("admin socket %s: exists and is not a socket; remove it or choose another path", path)
	}
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(context.Background(), "unix", path)
	if err == nil {
		pid := ""
		if cred, err := peerCred(c.(*net.UnixConn)); err == nil {
			pid = fmt.Sprintf(" (pid %d)", cred.Pid)
		}
		c.Close()
		return fmt.Errorf("admin socket %s: %w%s: stop it, or give this one another socket", path, ErrInUse, pid)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("admin socket %s: check for a running vxswitch: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("admin socket %s: remove stale socket: %w", path, err)
	}
	return nil
}

// credListener accepts connections with their peer's credentials.
type credListener struct {
	*net.UnixListener
}

func (l *credListener) Accept() (net.Conn, error) {
	c, err := l.AcceptUnix()
	if err != nil {
		return nil, err
	}
	cred, err := peerCred(c)
	if err != nil {
		// Fail closed: a connection without credentials is refused.
		return &credConn{UnixConn: c}, nil
	}
	return &credConn{UnixConn: c, cred: cred}, nil
}

// credConn is a connection with the credentials its peer had when it
// connected; cred is nil if the kernel did not tell.
type credConn struct {
	*net.UnixConn
	cred *unix.Ucred
}

func peerCred(c *net.UnixConn) (*unix.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var credErr error
	err = raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err == nil {
		err = credErr
	}
	if err != nil {
		return nil, fmt.Errorf("getsockopt SO_PEERCRED: %w", err)
	}
	return cred, nil
}

type credKey struct{}

// connContext stores the peer credentials of c in the connection's
// context (http.Server.ConnContext).
func connContext(ctx context.Context, c net.Conn) context.Context {
	if cc, ok := c.(*credConn); ok && cc.cred != nil {
		return context.WithValue(ctx, credKey{}, cc.cred)
	}
	return ctx
}

// peerFrom returns the credentials connContext stored; nil if none.
func peerFrom(ctx context.Context) *unix.Ucred {
	cred, _ := ctx.Value(credKey{}).(*unix.Ucred)
	return cred
}

// allowedUID says whether a peer with uid may use the API of a daemon
// running as own: root and the daemon's own user only.
func allowedUID(uid, own uint32) bool {
	return uid == 0 || uid == own
}
