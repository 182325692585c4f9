// Package nsrun runs a function inside another network namespace, on an OS
// thread of its own, and leaves every other thread where it was.
package nsrun

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// Do runs f on a fresh OS thread switched into the namespace h, then
// switches the thread back. Sockets f creates belong to h and may be used
// from any goroutine afterwards; processes f starts run inside h. If the
// thread cannot be switched back, it stays locked and the runtime retires
// it with its goroutine, so nothing else ever runs in the wrong namespace.
func Do(h netns.NsHandle, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("get network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(h); err != nil {
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		ferr := f()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("leave network namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
