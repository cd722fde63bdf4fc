package relay

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hookbus/hookbus/subjects"
)

// Name is the relay's agent name: its delivery events are agents.relay.events.delivery.<outcome>.
// Its consumers are named relay-<endpoint>, relay-tasks and relay-cb-<destination>; agent names
// starting with "relay-" belong to the relay.
const Name = "relay"

// Defaults applied by Config.Validate to zero fields.
const (
	DefaultTimeout         = 15 * time.Second
	DefaultConcurrency     = 4
	DefaultJitter          = 0.1
	DefaultBreakerFailures = 5
	DefaultBreakerCooldown = 30 * time.Second
	DefaultMaxHold         = time.Minute
)

// StandardSchedule is the retry schedule the Standard Webhooks spec recommends: after the
// first attempt, retries 5 seconds, 5 minutes, 30 minutes, 2 hours, 5 hours, 10 hours and
// 10 hours later, eight attempts over about 28 hours.
var StandardSchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// Limits of the settings, far beyond any sensible value.
const (
	maxConcurrency = 1024
	maxSteps       = 64
	maxStep        = 7 * 24 * time.Hour
	maxTimeout     = 10 * time.Minute
	maxCooldown    = 24 * time.Hour
	maxHold        = 24 * time.Hour
	maxRate        = 1e6
	maxFailures    = 10_000
	maxNameLen     = subjects.MaxTokenLen - len("relay-cb-")
)

// Config is the relay's whole configuration. Its zero value relays nothing; Validate fills
// defaults and checks it.
type Config struct {
	// Endpoints receive the events matching their subjects, each through its own durable
	// consumer relay-<name>.
	Endpoints []Endpoint
	// Callbacks says where tasks may ask their outcome to be delivered.
	Callbacks Callbacks
	// SSRF allows destination addresses beyond public ones.
	SSRF SSRF
	// Admin is the operator listener: /metrics, /healthz, /readyz.
	Admin Admin
}

// Admin configures the relay's operator listener, which serves /metrics (Prometheus),
// /healthz (the process runs) and /readyz (NATS connected, every consumer running).
type Admin struct {
	// Listen is its host:port, e.g. "127.0.0.1:8082"; port 0 picks a free one. "" (the
	// default) turns it off.
	Listen string
}

// Endpoint is one subscription: the events matching Subjects are POSTed to URL.
type Endpoint struct {
	// Name names the endpoint in logs, events and its consumer relay-<Name>: 1 to 55 bytes
	// of [a-z0-9_-], starting with a letter or digit.
	Name string
	// URL is the http or https URL the events are POSTed to.
	URL string
	// Subjects are the filters of the events to deliver, e.g. "agents.triage.events.>".
	// The relay's own events and dead letters are never delivered.
	Subjects []string
	Delivery
}

// Delivery is how deliveries to one destination are made. Zero fields mean their defaults.
type Delivery struct {
	// Secrets sign every request (webhook-signature carries one signature per secret, so a
	// rotation lists the new secret beside the old). At least one.
	Secrets []Secret
	// Headers are added to every request; they cannot replace the webhook-* headers,
	// Content-Type, Content-Length or Host.
	Headers map[string]string
	// Timeout bounds one attempt, from dial to the response headers. Default DefaultTimeout.
	Timeout time.Duration
	// Concurrency bounds the attempts in flight, and the events being retried, for this
	// destination. Default DefaultConcurrency.
	Concurrency int
	// RateLimit bounds the attempts per second; zero means no limit.
	RateLimit RateLimit
	// Schedule is the delay before each retry; the event is dead-lettered after
	// len(Schedule)+1 attempts. Default StandardSchedule.
	Schedule []time.Duration
	// Jitter spreads each step of Schedule by up to ±Jitter of it, drawn when the relay
	// starts. 0 means DefaultJitter; a negative value means none (what "jitter: 0" sets in
	// a config file).
	Jitter float64
	// Breaker opens the destination's circuit after consecutive failures.
	Breaker Breaker
	// MaxHold is how long an attempt waits inside the relay for a Retry-After or an open
	// circuit before it counts as a failed attempt instead. Default DefaultMaxHold.
	MaxHold time.Duration
}

// RateLimit is a token bucket; the zero value means no limit.
type RateLimit struct {
	PerSecond float64 // attempts per second
	Burst     int     // attempts at once; default: PerSecond rounded up
}

// Breaker is a circuit breaker: after Failures consecutive failed attempts (network errors,
// timeouts, 408 and 5xx) no attempt is made for Cooldown; then one probe decides whether it
// closes again.
type Breaker struct {
	Failures int           // default DefaultBreakerFailures
	Cooldown time.Duration // default DefaultBreakerCooldown
}

// Callbacks allows tasks to name a callback URL (the Hookbus-Callback-Url header of the task
// message, or InputField of its JSON input): when it lies under one of Destinations, the
// relay delivers the task's completed or failed update there, signed with the destination's
// secrets. With no destinations, callback URLs are ignored.
type Callbacks struct {
	// InputField, when set, is a top-level string field of a task's JSON input that holds
	// the callback URL, for tasks sent without the header.
	InputField string
	// Destinations are the allowed callback URL prefixes, each with its own delivery
	// settings and its own consumer relay-cb-<name>.
	Destinations []Destination
}

// Destination is an allowed place for task callbacks.
type Destination struct {
	// Name names the destination (like Endpoint.Name).
	Name string
	// URLPrefix is an http or https URL: a callback URL is allowed when it has the same
	// scheme, host and port and its path lies under the prefix's path.
	URLPrefix string
	Delivery
}

// HeaderCallbackURL is the task message header naming the URL that the task's outcome is
// delivered to.
const HeaderCallbackURL = "Hookbus-Callback-Url"

// reservedHeaders are set by the relay itself.
var reservedHeaders = map[string]bool{
	"Webhook-Id": true, "Webhook-Timestamp": true, "Webhook-Signature": true,
	"Content-Type": true, "Content-Length": true, "Host": true, "Transfer-Encoding": true,
	"Connection": true, "Te": true, "Trailer": true, "Upgrade": true,
}

// Validate checks the config and fills defaults. Its errors wrap ErrInvalid and name the
// field; none quotes a secret or a header value.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	for _, p := range c.SSRF.AllowCIDRs {
		if !p.IsValid() {
			bad("ssrf.allow_cidrs", "invalid prefix")
		}
	}
	if msg := checkListen(c.Admin.Listen); msg != "" {
		bad("admin.listen", "%s", msg)
	}
	agentNames := map[string]string{"relay-tasks": "the task recorder"}
	claim := func(key, agent string) {
		if other, ok := agentNames[agent]; ok {
			bad(key, "its consumer name %q is taken by %s", agent, other)
			return
		}
		agentNames[agent] = key
	}
	for i := range c.Endpoints {
		e := &c.Endpoints[i]
		key := "endpoints." + e.Name
		if msg := checkName(e.Name); msg != "" {
			bad(fmt.Sprintf("endpoints[%d]", i), "%s", msg)
		} else {
			claim(key, endpointAgent(e.Name))
		}
		if _, msg := checkURL(e.URL, &c.SSRF); msg != "" {
			bad(key+".url", "%s", msg)
		}
		if len(e.Subjects) == 0 {
			bad(key+".subjects", "at least one subject filter is required")
		}
		for j, s := range e.Subjects {
			if msg := checkFilter(s); msg != "" {
				bad(fmt.Sprintf("%s.subjects[%d]", key, j), "%s", msg)
			}
		}
		errs = append(errs, e.Delivery.validate(key)...)
	}
	if msg := checkInputField(c.Callbacks.InputField); msg != "" {
		bad("callbacks.input_field", "%s", msg)
	}
	for i := range c.Callbacks.Destinations {
		d := &c.Callbacks.Destinations[i]
		key := "callbacks.destinations." + d.Name
		if msg := checkName(d.Name); msg != "" {
			bad(fmt.Sprintf("callbacks.destinations[%d]", i), "%s", msg)
		} else {
			claim(key, destinationAgent(d.Name))
		}
		if _, msg := checkPrefix(d.URLPrefix, &c.SSRF); msg != "" {
			bad(key+".url_prefix", "%s", msg)
		}
		errs = append(errs, d.Delivery.validate(key)...)
	}
	return errors.Join(errs...)
}

// validate checks d and fills its defaults.
func (d *Delivery) validate(key string) []error {
	var errs []error
	bad := func(k, format string, args ...any) {
		errs = append(errs, &Error{Key: key + k, Msg: fmt.Sprintf(format, args...)})
	}
	if len(d.Secrets) == 0 {
		bad(".secrets", "at least one signing secret (%s…) is required", SecretPrefix)
	}
	for i, s := range d.Secrets {
		if s.IsZero() {
			bad(fmt.Sprintf(".secrets[%d]", i), "empty secret (use ParseSecret)")
		}
	}
	for name, v := range d.Headers {
		if msg := checkHeader(name, v); msg != "" {
			bad(".headers", "%s", msg)
		}
	}
	if msg := checkDuration(d.Timeout, 0, maxTimeout); msg != "" {
		bad(".timeout", "%s", msg)
	}
	if d.Concurrency < 0 || d.Concurrency > maxConcurrency {
		bad(".concurrency", "%d is out of range (1 to %d)", d.Concurrency, maxConcurrency)
	}
	if r := d.RateLimit; r.PerSecond < 0 || r.PerSecond > maxRate || math.IsNaN(r.PerSecond) || r.Burst < 0 || r.Burst > maxRate {
		bad(".rate_limit", "per_second must be in (0, %g] and burst in [1, %g]", float64(maxRate), float64(maxRate))
	}
	if len(d.Schedule) > maxSteps {
		bad(".schedule", "%d steps; at most %d", len(d.Schedule), maxSteps)
	}
	for i, s := range d.Schedule {
		if msg := checkDuration(s, time.Millisecond, maxStep); msg != "" || s == 0 {
			bad(fmt.Sprintf(".schedule[%d]", i), "step %s must be positive and at most %s", s, maxStep)
		}
	}
	if d.Jitter >= 1 || math.IsNaN(d.Jitter) {
		bad(".jitter", "%g must be below 1", d.Jitter)
	}
	if d.Breaker.Failures < 0 || d.Breaker.Failures > maxFailures {
		bad(".breaker.failures", "%d is out of range (1 to %d)", d.Breaker.Failures, maxFailures)
	}
	if msg := checkDuration(d.Breaker.Cooldown, 0, maxCooldown); msg != "" {
		bad(".breaker.cooldown", "%s", msg)
	}
	if msg := checkDuration(d.MaxHold, 0, maxHold); msg != "" {
		bad(".max_hold", "%s", msg)
	}
	if len(errs) > 0 {
		return errs
	}
	if d.Timeout == 0 {
		d.Timeout = DefaultTimeout
	}
	if d.Concurrency == 0 {
		d.Concurrency = DefaultConcurrency
	}
	if d.RateLimit.PerSecond > 0 && d.RateLimit.Burst == 0 {
		d.RateLimit.Burst = int(math.Ceil(d.RateLimit.PerSecond))
	}
	if len(d.Schedule) == 0 {
		d.Schedule = slices.Clone(StandardSchedule)
	}
	if d.Jitter == 0 {
		d.Jitter = DefaultJitter
	}
	if d.Breaker.Failures == 0 {
		d.Breaker.Failures = DefaultBreakerFailures
	}
	if d.Breaker.Cooldown == 0 {
		d.Breaker.Cooldown = DefaultBreakerCooldown
	}
	if d.MaxHold == 0 {
		d.MaxHold = DefaultMaxHold
	}
	return nil
}

func endpointAgent(name string) string    { return "relay-" + name }
func destinationAgent(name string) string { return "relay-cb-" + name }

// checkName returns "" for a valid endpoint or destination name, or what is wrong.
func checkName(name string) string {
	if err := subjects.ValidName(name); err != nil {
		return fmt.Sprintf("name %q: want 1 to %d bytes of [a-z0-9_-], starting with a letter or digit", name, maxNameLen)
	}
	if len(name) > maxNameLen {
		return fmt.Sprintf("name %q is longer than %d bytes", name, maxNameLen)
	}
	return ""
}

func checkDuration(d, min, max time.Duration) string {
	if d < min || d > max {
		return fmt.Sprintf("%s is out of range (%s to %s)", d, min, max)
	}
	return ""
}

// checkURL parses an endpoint URL: http or https, a host, no user info or fragment. A
// literal IP host must pass the SSRF rules (names are checked at every dial).
func checkURL(s string, ssrf *SSRF) (*url.URL, string) {
	u, err := url.Parse(s)
	if err != nil || s == "" {
		return nil, fmt.Sprintf("%q is not a URL", redactURL(s))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Sprintf("%q: want an http or https URL", redactURL(s))
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Sprintf("%q has no host", redactURL(s))
	case u.User != nil:
		return nil, "a URL with user info (user:password@) is refused; send credentials in headers"
	case u.Fragment != "" || strings.Contains(s, "#"):
		return nil, fmt.Sprintf("%q has a fragment", redactURL(s))
	}
	if port := u.Port(); port != "" {
		if n, ok := atoiPort(port); !ok || n == 0 {
			return nil, fmt.Sprintf("%q: invalid port", redactURL(s))
		}
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
		if err := ssrf.Check(ip); err != nil {
			return nil, err.Error()
		}
	}
	return u, ""
}

func atoiPort(s string) (int, bool) {
	if len(s) > 5 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n <= 65535
}

// checkPrefix parses a callback destination prefix: an endpoint URL without a query.
func checkPrefix(s string, ssrf *SSRF) (*url.URL, string) {
	u, msg := checkURL(s, ssrf)
	if msg != "" {
		return nil, msg
	}
	if u.RawQuery != "" || u.ForceQuery {
		return nil, fmt.Sprintf("%q: a prefix has no query", redactURL(s))
	}
	if msg := checkPath(u.Path); msg != "" {
		return nil, msg
	}
	return u, ""
}

// checkPath refuses dot segments, which could climb out of a prefix.
func checkPath(p string) string {
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return "a path with . or .. segments"
		}
	}
	return ""
}

// redactURL keeps scheme, host and path of a URL for messages: its query may hold a token.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if len(s) > 64 {
			s = s[:64] + "…"
		}
		return strings.ToValidUTF8(s, "?")
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	return u.String()
}

// checkFilter checks a subject filter: tokens of printable bytes, wildcards only as whole
// tokens, '>' only last, under a hookbus stream.
func checkFilter(s string) string {
	if s == "" {
		return "empty subject filter"
	}
	toks := strings.Split(s, ".")
	for i, t := range toks {
		switch {
		case t == "":
			return fmt.Sprintf("filter %q has an empty token", s)
		case t == ">" && i != len(toks)-1:
			return fmt.Sprintf("filter %q: > must be the last token", s)
		case t != "*" && t != ">" && strings.ContainsAny(t, "*>"):
			return fmt.Sprintf("filter %q: wildcards stand alone as a token", s)
		}
		for j := 0; j < len(t); j++ {
			if t[j] <= ' ' || t[j] >= 0x7f {
				return fmt.Sprintf("filter %q: whitespace or a control byte", s)
			}
		}
	}
	if subjects.StreamFor(s) == "" {
		return fmt.Sprintf("filter %q is not under webhooks., agents. or dlq.", s)
	}
	return ""
}

// checkHeader checks an extra header; it never quotes the value.
func checkHeader(name, value string) string {
	if name == "" {
		return "empty header name"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return fmt.Sprintf("header name %q is not a token", name)
		}
	}
	if reservedHeaders[http.CanonicalHeaderKey(name)] {
		return fmt.Sprintf("header %q is set by the relay", name)
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
			return fmt.Sprintf("the value of header %q has a control byte", name)
		}
	}
	return ""
}

// checkListen checks a listen address: "" (off), or host:port with a port from 0 to 65535
// and a host that is empty (every interface), an IP address or a DNS name.
func checkListen(s string) string {
	if s == "" {
		return ""
	}
	bad := fmt.Sprintf("invalid address %q (want host:port, e.g. 127.0.0.1:8082, or \"\" for none)", s)
	host, port, err := net.SplitHostPort(s)
	if err != nil || port == "" {
		return bad
	}
	if _, ok := atoiPort(port); !ok {
		return bad
	}
	if _, err := netip.ParseAddr(host); host != "" && err != nil && !dnsName(host) {
		return bad
	}
	return ""
}

// dnsName reports whether s is a DNS name: dot-separated labels of letters, digits and
// inner hyphens.
func dnsName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c == '-' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
				return false
			}
		}
	}
	return true
}

func checkInputField(f string) string {
	if len(f) > 128 {
		return "longer than 128 bytes"
	}
	return ""
}
