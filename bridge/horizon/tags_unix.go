//go:build unix

package horizon

import "syscall"

// allocTags returns n zero bytes for a table's tags, mapped outside the Go heap: the
// garbage collector neither scans them nor counts them toward its next goal (which would
// let the heap grow by as much again), and pages never written are not resident.
func allocTags(n int) []byte {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]byte, n)
	}
	return b
}

// freeTags releases tags from allocTags. Callers hold the index's write lock, so no probe
// can be reading them.
func freeTags(b []byte) {
	if len(b) > 0 {
		_ = syscall.Munmap(b) // EINVAL for the heap fallback of allocTags: the collector frees it
	}
}
