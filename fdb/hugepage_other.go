//go:build !linux

package fdb

// adviseHuge is a no-op where transparent huge pages are not known.
func adviseHuge[E any](s []E) {}
