package sign

import "github.com/hookbus/hookbus/bridge/verify"

func init() {
	register(func(_ string, o verify.Options) (Signer, error) {
		return noneSigner{idHeader: o.IDHeader, eventHeader: o.EventHeader}, nil
	}, "none")
}

// None prepares r for a source that verifies nothing: no signature, only the delivery id
// and the event type in the headers the source reads them from (each skipped when its
// header name is ""). It returns an error wrapping ErrEvent for a value that cannot be
// sent in a header.
func None(idHeader, eventHeader string, r *Request) error {
	h := r.header()
	if idHeader != "" && r.DeliveryID != "" {
		if err := headerValue("delivery id", r.DeliveryID); err != nil {
			return err
		}
		h.Set(idHeader, r.DeliveryID)
	}
	if eventHeader != "" && r.Event != "" {
		if err := headerValue("event", r.Event); err != nil {
			return err
		}
		h.Set(eventHeader, r.Event)
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	return nil
}

type noneSigner struct{ idHeader, eventHeader string }

func (s noneSigner) Scheme() string { return "none" }

func (s noneSigner) Payload(_ string, data []byte) ([]byte, error) { return data, nil }

func (s noneSigner) Sign(r *Request) error { return None(s.idHeader, s.eventHeader, r) }
