package fdb

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePage is the size of a transparent huge page on the platforms that
// have them.
const hugePage = 2 << 20

// minHuge is the smallest array adviseHuge bothers with: below a few huge
// pages the TLB covers the array anyway.
const minHuge = 4 << 20

// adviseHuge asks the kernel to back the huge-page-aligned interior of s
// with transparent huge pages, now (MADV_COLLAPSE) rather than when
// khugepaged gets round to it. A lookup in a large table touches a random
// cache line; with 4 KiB pages that is usually a TLB miss too, and a page
// walk that itself misses the cache. Kernels without THP, or with it off,
// refuse, and the array works as before, so errors are ignored.
func adviseHuge[E any](s []E) {
	size := uintptr(len(s)) * unsafe.Sizeof(*new(E))
	if size < minHuge {
		return
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	lo := (p + hugePage - 1) &^ (hugePage - 1)
	hi := (p + size) &^ (hugePage - 1)
	if hi <= lo {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(s)), lo-p)), hi-lo)
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE)
	_ = unix.Madvise(b, unix.MADV_COLLAPSE)
}
