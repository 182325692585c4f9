package syscalltest

import (
	"os"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
)

// TestEnteredSeesModuleCalls: netns.Get opens a file with unix.Open, which
// goes through the runtime's entry; it is reported against netns, the
// innermost module package on the stack (x/sys skipped).
func TestEnteredSeesModuleCalls(t *testing.T) {
	got := Entered(t, "github.com/vishvananda/netns", func() {
		h, err := netns.Get()
		if err != nil {
			t.Fatal(err)
		}
		h.Close()
	})
	if len(got) < 2 {
		t.Fatalf("Entered = %q, want the open and the close", got)
	}
	for _, g := range got {
		if !strings.HasPrefix(g, "github.com/vishvananda/netns.") {
			t.Errorf("entry %q not reported against netns", g)
		}
	}
}

// TestEnteredSkipsTestFiles: a test's own calls inside f, and calls from
// other packages, are not reported.
func TestEnteredSkipsTestFiles(t *testing.T) {
	got := Entered(t, "github.com/vxswitch/vxswitch/internal/syscalltest", func() {
		if _, err := os.Stat("/"); err != nil {
			t.Fatal(err)
		}
		h, err := netns.Get()
		if err != nil {
			t.Fatal(err)
		}
		h.Close()
	})
	if len(got) != 0 {
		t.Errorf("Entered = %q, want nothing", got)
	}
}

func TestPkgPath(t *testing.T) {
	for fn, want := range map[string]string{
		"net.(*conn).Close":                                     "net",
		"internal/poll.(*FD).Close":                             "internal/poll",
		"github.com/vxswitch/vxswitch/vtep.(*Conn).Close.func1": "github.com/vxswitch/vxswitch/vtep",
		"golang.org/x/sys/unix.Open":                            "golang.org/x/sys/unix",
		"main.main":                                             "main",
	} {
		if got := pkgPath(fn); got != want {
			t.Errorf("pkgPath(%q) = %q, want %q", fn, got, want)
		}
	}
}
