// Package syscalltest finds, for a test, the system calls that code makes
// through the Go runtime's system-call entry (syscall.Syscall, and the os
// and net packages), as opposed to the raw ones (unix.RawSyscall) that
// bypass it. It records a runtime execution trace while the code runs and
// reads it back with golang.org/x/exp/trace: each entry is a goroutine
// moving into the syscall state, with its stack.
package syscalltest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime/trace"
	"strings"
	"testing"

	xtrace "golang.org/x/exp/trace"
)

// Entered runs f under the runtime's execution tracer and returns one
// line per system call entered through the runtime from package pkg (an
// import path): calls whose innermost caller outside the runtime and the
// standard library is a function of pkg from a file other than a _test.go
// file. A test's own calls inside f, to set the scene, are not reported.
// Any goroutine's calls count, also those started by f.
func Entered(t testing.TB, pkg string, f func()) []string {
	t.Helper()
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Fatalf("start the execution tracer: %v", err)
	}
	f()
	trace.Stop()
	got, err := entries(&buf, pkg+".")
	if err != nil {
		t.Fatalf("read the execution trace: %v", err)
	}
	return got
}

func entries(r io.Reader, prefix string) ([]string, error) {
	tr, err := xtrace.NewReader(r)
	if err != nil {
		return nil, err
	}
	var got []string
	for {
		ev, err := tr.ReadEvent()
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		if ev.Kind() != xtrace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != xtrace.ResourceGoroutine {
			continue
		}
		if _, to := st.Goroutine(); to != xtrace.GoSyscall {
			continue
		}
		if line, ok := caller(st.Stack, prefix); ok {
			got = append(got, line)
		}
	}
}

// caller is the innermost frame of the stack outside the standard library
// and x/sys, if it is a function of the package with prefix and not from a
// test file.
func caller(s xtrace.Stack, prefix string) (string, bool) {
	for f := range s.Frames() {
		pkg := pkgPath(f.Func)
		first, _, _ := strings.Cut(pkg, "/")
		if !strings.Contains(first, ".") || strings.HasPrefix(pkg, "golang.org/x/sys/") {
			continue // runtime, syscall, os, net, internal/poll, unix, …
		}
		if !strings.HasPrefix(f.Func, prefix) || strings.HasSuffix(f.File, "_test.go") {
			return "", false
		}
		return fmt.Sprintf("%s (%s:%d)", f.Func, f.File, f.Line), true
	}
	return "", false
}

// pkgPath is the import path of a function named as in a stack trace
// ("net.(*conn).Close", "example.com/a/b.(*T).M.func1").
func pkgPath(fn string) string {
	slash := strings.LastIndex(fn, "/")
	if dot := strings.Index(fn[slash+1:], "."); dot >= 0 {
		return fn[:slash+1+dot]
	}
	return fn
}
