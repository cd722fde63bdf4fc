package verify

import (
	"net/url"
	"strings"
)

// signedURL is the public URL of a source whose sender signs the URL it posts to (hubspot,
// twilio). The sender signs the URL as it sees it, before any proxy, so the bridge cannot
// rebuild it from its own listener: the configured public_url supplies the scheme, host
// and path, and the query comes from the request, since senders add their own parameters
// (Twilio's bodySHA256) to each delivery.
type signedURL struct {
	base string // public_url as configured: scheme, host and path, no query
}

// newSignedURL checks public_url: required, an absolute http or https URL with a host, and
// without user info, query or fragment (the query is the request's own). Errors are
// *FieldError values for field "public_url" wrapping ErrInvalidOption.
func newSignedURL(scheme, raw string) (signedURL, error) {
	if raw == "" {
		return signedURL{}, fieldErr("public_url", ErrInvalidOption, "required for scheme %q: the URL the sender posts to", scheme)
	}
	if strings.ContainsAny(raw, " \t\r\n") {
		return signedURL{}, fieldErr("public_url", ErrInvalidOption, "%q holds white space", raw)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return signedURL{}, fieldErr("public_url", ErrInvalidOption, "%q is not a URL", raw)
	case u.Scheme != "https" && u.Scheme != "http":
		return signedURL{}, fieldErr("public_url", ErrInvalidOption, "%q: want an absolute http or https URL", raw)
	case u.Host == "" || u.Opaque != "":
		return signedURL{}, fieldErr("public_url", ErrInvalidOption, "%q has no host", raw)
	case u.User != nil:
		return signedURL{}, fieldErr("public_url", ErrInvalidOption, "%q holds user info", raw)
	case strings.ContainsAny(raw, "?#"):
		return signedURL{}, fieldErr("public_url", ErrInvalidOption, "%q: leave out the query and fragment, the request brings its own", raw)
	}
	return signedURL{base: raw}, nil
}

// split returns the URL the sender signed as its part before the query and the query
// with its "?" ("" when there is none): the request's own URL when the caller set
// Request.URL, else public_url joined with the query of Request.RequestURI.
func (u signedURL) split(r *Request) (base, query string) {
	if r.URL != "" {
		if i := strings.IndexByte(r.URL, '?'); i >= 0 {
			return r.URL[:i], r.URL[i:]
		}
		return r.URL, ""
	}
	if i := strings.IndexByte(r.RequestURI, '?'); i >= 0 {
		return u.base, r.RequestURI[i:]
	}
	return u.base, ""
}
