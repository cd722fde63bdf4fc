package bridge

import (
	"encoding/hex"
	"math/rand/v2"
)

// traceparent returns the W3C trace context for a request: the sender's own when it is a
// valid version-00 traceparent, otherwise a new trace with a random trace and parent id, so
// every chain of events can be followed in an OpenTelemetry backend.
func traceparent(in []byte) string {
	if validTraceparent(in) {
		return string(in)
	}
	var b [55]byte
	var ids [24]byte
	for i := 0; i < len(ids); i += 8 {
		v := rand.Uint64()
		for j := range 8 {
			ids[i+j] = byte(v >> (8 * j))
		}
	}
	copy(b[:], "00-")
	hex.Encode(b[3:35], ids[:16])
	b[35] = '-'
	hex.Encode(b[36:52], ids[16:])
	copy(b[52:], "-00") // not sampled: hookbus records no spans itself
	return string(b[:])
}

// validTraceparent checks "00-<32 hex>-<16 hex>-<2 hex>" with non-zero ids, lowercase hex.
func validTraceparent(tp []byte) bool {
	if len(tp) != 55 || tp[0] != '0' || tp[1] != '0' || tp[2] != '-' || tp[35] != '-' || tp[52] != '-' {
		return false
	}
	zeroTrace, zeroSpan := true, true
	for i, c := range tp[3:] {
		p := i + 3
		if p == 35 || p == 52 {
			continue
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
		if c != '0' && p < 35 {
			zeroTrace = false
		}
		if c != '0' && p > 35 && p < 52 {
			zeroSpan = false
		}
	}
	return !zeroTrace && !zeroSpan
}
