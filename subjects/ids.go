package subjects

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// maxReadableID is the longest provider delivery id kept readable inside an event id.
const maxReadableID = 128

// WebhookID returns the event id of an ingress delivery: "<source>:<delivery id>" when the
// provider's delivery id is short printable ASCII, and "<source>:sha256:<hex>" of the id
// otherwise. It is deterministic, so every retry of one delivery gets the same id, and it
// is scoped by source, so two providers' ids never collide.
func WebhookID(source, deliveryID string) string {
	if readable(deliveryID) {
		return source + ":" + deliveryID
	}
	sum := sha256.Sum256([]byte(deliveryID))
	return source + ":sha256:" + hex.EncodeToString(sum[:])
}

// BodyID returns the event id of a delivery that carries no delivery id: "<source>:body:<hex>"
// of the SHA-256 of the body, so the same body retried is the same event.
func BodyID(source string, body []byte) string {
	sum := sha256.Sum256(body)
	return source + ":body:" + hex.EncodeToString(sum[:])
}

// DerivedID returns the id of the n-th event (counting from 0) that agent emits with type typ
// while handling the event causeID. The same cause always yields the same id, so a handler
// that runs again after a redelivery emits nothing new: the stream drops the repeat by its
// Nats-Msg-Id. Any NATS client can compute it: the lowercase hex SHA-256 of
// causeID, agent, typ and the decimal n, each followed by a zero byte, cut to 32 characters.
func DerivedID(causeID, agent, typ string, n int) string {
	h := sha256.New()
	for _, s := range [...]string{causeID, agent, typ, strconv.Itoa(n)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func readable(id string) bool {
	if id == "" || len(id) > maxReadableID {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] >= 0x7f {
			return false
		}
	}
	return true
}
