package config

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Validate checks a Config built or changed in code by the rules Load applies to a file:
// every value in range, exactly one of NATS.Embedded and NATS.URL, at least one source,
// valid and distinct source names, and a Verifier on every enabled source. It reports every
// problem as an *Error with the dotted key and no position, joined with errors.Join; each
// wraps ErrInvalid. A Config returned by Load or Parse always passes. Validate does not
// build verifiers, read secret files or look at the environment.
func (c *Config) Validate() error {
	v := &validator{}
	v.check("log.level", checkOneOf(c.Log.Level, logLevels))
	v.check("log.format", checkOneOf(c.Log.Format, logFormats))

	h := c.HTTP
	v.check("http.listen", checkAddress(h.Listen, false, false))
	v.duration("http.read_timeout", h.ReadTimeout, nonNegative)
	v.duration("http.write_timeout", h.WriteTimeout, nonNegative)
	v.duration("http.idle_timeout", h.IdleTimeout, nonNegative)
	v.duration("http.shutdown_timeout", h.ShutdownTimeout, nonNegative)
	v.check("http.max_body", checkSize(h.MaxBody, strconv.FormatInt(h.MaxBody, 10)))
	v.rate("http.client_rate_limit", h.ClientRate)

	v.check("admin.listen", checkAddress(c.Admin.Listen, true, false))
	v.check("memory_limit", checkMemory(c.MemoryLimit, strconv.FormatInt(c.MemoryLimit, 10)))

	n := c.NATS
	switch {
	case n.Embedded != nil && n.URL != "":
		v.check("nats", msgBothNATS)
	case n.Embedded == nil && n.URL == "":
		v.check("nats", msgNoNATS)
	case n.Embedded != nil:
		e := n.Embedded
		v.check("nats.embedded.listen", checkAddress(e.Listen, false, true))
		if e.StoreDir == "" {
			v.check("nats.embedded.store_dir", msgEmpty)
		}
		v.check("nats.embedded.sync", checkOneOf(e.Sync, syncModes))
		if a := e.Auth; a != nil {
			if a.CredentialsDir == "" {
				v.check("nats.embedded.auth.credentials_dir", msgEmpty)
			}
			seen := map[string]bool{}
			for i, ag := range a.Agents {
				key := fmt.Sprintf("nats.embedded.auth.agents[%d]", i)
				if msg := checkAgent(ag.Name); msg != "" {
					v.check(key, msg)
				} else if seen[ag.Name] {
					v.check(key, fmt.Sprintf("agent %q appears twice", ag.Name))
				}
				seen[ag.Name] = true
			}
		}
		if n.Creds != "" {
			v.check("nats.creds", msgOnlyWithURL)
		}
		if n.TLS != nil {
			v.check("nats.tls", msgOnlyWithURL)
		}
	default:
		v.check("nats.url", checkURLs(n.URL))
	}
	if t := n.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
		v.check("nats.tls", msgCertKey)
	}
	v.duration("nats.publish_timeout", n.PublishTimeout, positive)

	s := c.Streams
	v.check("streams.replicas", checkInt(s.Replicas, 1, maxReplicas, strconv.Itoa(s.Replicas)))
	if n.Embedded != nil && s.Replicas > 1 {
		v.check("streams.replicas", msgEmbeddedReplicas)
	}
	v.duration("streams.duplicate_window", s.DuplicateWindow, atLeastSecond)
	v.duration("streams.webhook_window", s.WebhookWindow, atLeastSecond)
	v.duration("streams.max_age", s.MaxAge, nonNegative)
	if s.MaxAge > 0 && s.WebhookWindow > s.MaxAge {
		v.check("streams.webhook_window", fmt.Sprintf(msgWindowOverAge, s.WebhookWindow.String(), s.MaxAge))
	}
	if s.MaxAge > 0 && s.DuplicateWindow > s.MaxAge {
		v.check("streams.duplicate_window", fmt.Sprintf(msgWindowOverAge, s.DuplicateWindow.String(), s.MaxAge))
	}
	v.duration("streams.dedupe_horizon", s.DedupeHorizon, nonNegative)

	if len(c.Sources) == 0 {
		v.check("sources", msgNoSources)
	}
	seen := map[string]bool{}
	for i, src := range c.Sources {
		key := fmt.Sprintf("sources[%d]", i)
		if src == nil {
			v.check(key, "nil source")
			continue
		}
		if msg := checkName("source", src.Name); msg != "" {
			v.check(key, msg)
			continue
		}
		key = "sources." + src.Name
		if seen[src.Name] {
			v.check(key, msgSourceTwice)
		}
		seen[src.Name] = true
		if src.Verify == "" {
			v.check(key+".verify", msgNoVerify)
		}
		v.check(key+".max_body", checkSize(src.MaxBody, strconv.FormatInt(src.MaxBody, 10)))
		v.duration(key+".dedupe_horizon", src.DedupeHorizon, nonNegative)
		v.duration(key+".tolerance", src.Options.Tolerance, nonNegative)
		v.rate(key+".rate_limit", src.Rate)
		if src.Disabled == "" && src.Verifier == nil {
			v.check(key, "enabled without a verifier (build one with verify.New, or set Disabled)")
		}
	}
	return v.err()
}

// Messages shared by the parser and Validate.
const (
	msgBothNATS         = "set either embedded or url, not both"
	msgNoNATS           = "set embedded (run NATS inside hookbus) or url (an existing NATS)"
	msgOnlyWithURL      = "only used with nats.url, not with nats.embedded"
	msgCertKey          = "cert_file and key_file go together"
	msgEmbeddedReplicas = "the embedded server is a single node: replicas must be 1 (use nats.url for a cluster)"
	msgWindowOverAge    = "%q must not exceed streams.max_age (%s)"
	msgNoSources        = "at least one source is required"
	msgSourceTwice      = "source appears twice"
	msgNoVerify         = "required: the signature scheme (github, hmac-sha256, …), or none to accept unsigned requests"
	msgEmpty            = "must not be empty"
)

func checkAgent(name string) string {
	if msg := checkName("agent", name); msg != "" {
		return msg
	}
	if name == reservedAgent {
		return fmt.Sprintf("agent name %q is reserved for hookbus itself", name)
	}
	return ""
}

// validator collects the problems Validate finds.
type validator struct{ errs []error }

func (v *validator) check(key, msg string) {
	if msg != "" {
		v.errs = append(v.errs, &Error{Key: key, Msg: msg})
	}
}

func (v *validator) duration(key string, d, min time.Duration) {
	v.check(key, checkDuration(d, min, d.String()))
}

func (v *validator) rate(key string, r RateLimit) {
	v.check(key+".per_second", checkRatePerSecond(r.PerSecond, strconv.FormatFloat(r.PerSecond, 'g', -1, 64)))
	if r.Burst != 0 {
		v.check(key+".burst", checkInt(r.Burst, 1, maxBurst, strconv.Itoa(r.Burst)))
	}
}

func (v *validator) err() error { return errors.Join(v.errs...) }
