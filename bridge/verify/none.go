package verify

// none accepts every request. A config must name it explicitly (verify: none); it suits
// senders that cannot sign, behind a network boundary of their own.
type none struct{ ids fields }

func init() {
	register(func(_ string, o Options) (Verifier, error) { return newNone(o), nil }, "none")
}

func newNone(o Options) *none { return &none{ids: newFields(o)} }

func (n *none) Scheme() string { return "none" }

// Verify accepts the request and reads the delivery id and event as configured.
func (n *none) Verify(r *Request) (Result, error) { return n.ids.result(r), nil }
