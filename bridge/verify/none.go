package verify

func init() {
	register(func(scheme string, o Options) (Verifier, error) { return newNone(scheme, o) }, "none")
}

// none accepts every request. A config must name it explicitly (verify: none); it suits
// senders that cannot sign, behind a network boundary of their own.
type none struct{ ids fields }

var _ Verifier = (*none)(nil)

// newNone uses the options id_header, event_header and event and refuses any other,
// secrets included: a source with secrets means to verify them.
func newNone(scheme string, o Options) (*none, error) {
	if err := onlyOptions(scheme, &o, "id_header", "event_header", "event"); err != nil {
		return nil, err
	}
	ids, err := newFields(o)
	if err != nil {
		return nil, err
	}
	return &none{ids: ids}, nil
}

// Scheme returns "none".
func (n *none) Scheme() string { return "none" }

// Verify accepts the request and reads the delivery id from id_header (none without it)
// and the event from event_header, else the event option, else "webhook". It never fails.
func (n *none) Verify(r *Request) (Result, error) { return n.ids.result(r), nil }
