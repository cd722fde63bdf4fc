package verify

import (
	"sync"
	"time"
)

// signBuf is a pooled buffer for the header texts a signature covers besides the body
// (timestamps, ids, methods, URLs): copied into it, they reach the MAC as byte slices
// without a conversion that would allocate per request. Only the Ed25519 scheme, which
// cannot stream its message, copies a body into one.
type signBuf struct{ b []byte }

// maxPooledSignBuf bounds the buffers kept for reuse, so that one huge request does not
// pin its memory in the pool.
const maxPooledSignBuf = 1 << 20

var signBufs = sync.Pool{New: func() any { return &signBuf{b: make([]byte, 0, 256)} }}

// getSignBuf returns an empty buffer; putSignBuf hands it back once nothing points into
// it any more.
func getSignBuf() *signBuf { return signBufs.Get().(*signBuf) }

func putSignBuf(s *signBuf) {
	if cap(s.b) > maxPooledSignBuf {
		return
	}
	s.b = s.b[:0]
	signBufs.Put(s)
}

// toleranceOption reads the tolerance option of a timestamped scheme: negative is refused
// (field "tolerance"), 0 means def.
func toleranceOption(o *Options, def time.Duration) (time.Duration, error) {
	switch {
	case o.Tolerance < 0:
		return 0, fieldErr("tolerance", ErrInvalidOption, "%q (want a positive duration)", o.Tolerance.String())
	case o.Tolerance == 0:
		return def, nil
	}
	return o.Tolerance, nil
}
