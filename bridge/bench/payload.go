package bench

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
)

// IDLen is the length of a delivery id: UUID-shaped, like GitHub's X-GitHub-Delivery.
const IDLen = 36

// MinBodySize is the smallest body a Payload can make: the JSON skeleton with no padding.
var MinBodySize = len(bodyHead) + IDLen + len(bodyMid) + sentLen + len(bodyPad) + len(bodyTail)

// The body is a GitHub "issues" payload with "action" first, the delivery id and a send
// time in fixed-width slots, and padding to the requested size.
const (
	bodyHead = `{"action":"opened","issue":{"number":1,"title":"hookbus bench","node_id":"`
	bodyMid  = `","sent":"`
	bodyPad  = `","body":"`
	bodyTail = `"},"repository":{"full_name":"hookbus/bench"},"sender":{"login":"hookbus-bench"}}`
	sentLen  = 20 // Unix nanoseconds, zero-padded
)

// Payload builds signed GitHub deliveries of one fixed size. A Payload is not safe for
// concurrent use: each sender has its own.
type Payload struct {
	size   int
	idAt   int // offset of the delivery id in the body
	sentAt int // offset of the send time
	body   []byte
	mac    hash.Hash
	sum    []byte
	sig    []byte // "sha256=" + hex digest
}

// NewPayload returns a builder of size-byte bodies signed with secret. It returns an error
// when size is below MinBodySize.
func NewPayload(size int, secret string) (*Payload, error) {
	if size < MinBodySize {
		return nil, fmt.Errorf("bench: body size %d is below the minimum %d", size, MinBodySize)
	}
	p := &Payload{size: size, mac: hmac.New(sha256.New, []byte(secret))}
	b := make([]byte, 0, size)
	b = append(b, bodyHead...)
	p.idAt = len(b)
	b = append(b, make([]byte, IDLen)...)
	b = append(b, bodyMid...)
	p.sentAt = len(b)
	b = append(b, "00000000000000000000"...)
	b = append(b, bodyPad...)
	for n := size - len(b) - len(bodyTail); n > 0; n-- {
		b = append(b, 'x')
	}
	p.body = append(b, bodyTail...)
	p.sig = make([]byte, 0, len("sha256=")+2*sha256.Size)
	return p, nil
}

// Size is the body size in bytes.
func (p *Payload) Size() int { return len(p.body) }

// Build writes id and sent (Unix nanoseconds; 0 for none) into the body and signs it. The
// returned body and signature header value are valid until the next Build.
func (p *Payload) Build(id []byte, sent int64) (body, signature []byte) {
	copy(p.body[p.idAt:p.idAt+IDLen], id)
	writeSent(p.body[p.sentAt:p.sentAt+sentLen], sent)
	p.mac.Reset()
	p.mac.Write(p.body)
	p.sum = p.mac.Sum(p.sum[:0])
	p.sig = append(p.sig[:0], "sha256="...)
	p.sig = hex.AppendEncode(p.sig, p.sum)
	return p.body, p.sig
}

// Sent reads the send time that Build wrote into a body of this payload's size; ok is false
// when the body does not have the shape.
func (p *Payload) Sent(body []byte) (sent int64, ok bool) {
	if len(body) != p.size {
		return 0, false
	}
	n, err := strconv.ParseInt(string(body[p.sentAt:p.sentAt+sentLen]), 10, 64)
	return n, err == nil
}

// Matches reports whether body is exactly what Build makes for id and the send time that
// body itself carries: the right size, the id in its slot, every other byte unchanged.
func (p *Payload) Matches(body []byte, id []byte) bool {
	sent, ok := p.Sent(body)
	if !ok {
		return false
	}
	want, _ := p.Build(id, sent)
	return string(want) == string(body)
}

func writeSent(dst []byte, v int64) {
	if v < 0 {
		v = 0
	}
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = byte('0' + v%10)
		v /= 10
	}
}

// DeliveryID is the identity of one request of a run: the run, the sender and the
// sender's count. Its text form is UUID-shaped: rrrrrrrr-wwww-nnnn-nnnn-nnnnnnnnnnnn.
type DeliveryID struct {
	Run    uint32
	Sender uint16
	N      uint64
}

const hexDigits = "0123456789abcdef"

// Append appends the text form of d.
func (d DeliveryID) Append(b []byte) []byte {
	b = appendHex(b, uint64(d.Run), 8)
	b = append(b, '-')
	b = appendHex(b, uint64(d.Sender), 4)
	b = append(b, '-', '0', '0', '0', '0', '-')
	b = appendHex(b, d.N>>48, 4)
	b = append(b, '-')
	return appendHex(b, d.N&(1<<48-1), 12)
}

// String is the text form.
func (d DeliveryID) String() string { return string(d.Append(make([]byte, 0, IDLen))) }

func appendHex(b []byte, v uint64, digits int) []byte {
	for i := digits - 1; i >= 0; i-- {
		b = append(b, hexDigits[(v>>(4*uint(i)))&0xf])
	}
	return b
}

// ParseDeliveryID reads the text form of a DeliveryID; ok is false for anything else.
func ParseDeliveryID(s string) (d DeliveryID, ok bool) {
	if len(s) != IDLen || s[8] != '-' || s[13] != '-' || s[14:19] != "0000-" || s[23] != '-' {
		return DeliveryID{}, false
	}
	run, ok1 := parseHex(s[0:8])
	sender, ok2 := parseHex(s[9:13])
	hi, ok3 := parseHex(s[19:23])
	lo, ok4 := parseHex(s[24:36])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return DeliveryID{}, false
	}
	return DeliveryID{Run: uint32(run), Sender: uint16(sender), N: hi<<48 | lo}, true
}

func parseHex(s string) (uint64, bool) {
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}
