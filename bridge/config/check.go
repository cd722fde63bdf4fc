package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The checks below are shared by the parser, which adds the position and quotes the text
// as written, and by Config.Validate. Each returns "" when the value is fine, else what is
// wrong, quoting text.

var (
	logLevels   = []string{"trace", "debug", "info", "warn", "error"}
	logFormats  = []string{"auto", "console", "json"}
	syncModes   = []string{"default", "batch", "always"}
	natsSchemes = []string{"nats", "tls", "ws", "wss"}
)

// Lower bounds of durations.
const (
	nonNegative   = 0               // 0 allowed (off, or no limit)
	positive      = time.Nanosecond // more than 0
	atLeastSecond = time.Second     // streams.duplicate_window
	maxRate       = 1e9             // rate limits, requests per second
	maxBurst      = 1_000_000       // rate limits, requests at once
	maxReplicas   = 5               // JetStream's limit
	maxNameLen    = 64              // source and agent names
	reservedAgent = "hookbus"       // the bridge's own login on the embedded server
)

func checkOneOf(s string, allowed []string) string {
	if slices.Contains(allowed, s) {
		return ""
	}
	return fmt.Sprintf("invalid value %q (want %s)", s, alternatives(allowed))
}

// alternatives reads "a, b or c".
func alternatives(xs []string) string {
	if len(xs) < 2 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}

func checkDuration(d, min time.Duration, text string) string {
	switch {
	case d >= min:
		return ""
	case min == nonNegative:
		return fmt.Sprintf("%q must not be negative", text)
	case min == positive:
		return fmt.Sprintf("%q must be more than 0", text)
	default:
		return fmt.Sprintf("%q is below the minimum %s", text, min)
	}
}

func checkInt(v, min, max int, text string) string {
	if v < min || v > max {
		return fmt.Sprintf("invalid value %q (want a whole number from %d to %d)", text, min, max)
	}
	return ""
}

func checkSize(v int64, text string) string {
	if v < 1 || v > MaxBodyLimit {
		return fmt.Sprintf("%q is out of range (1 byte to 64MiB)", text)
	}
	return ""
}

func checkMemory(v int64, text string) string {
	if v != 0 && (v < MinMemoryLimit || v > MaxMemoryLimit) {
		return fmt.Sprintf("%q is out of range (0 for none, or 32MiB to 1024GiB)", text)
	}
	return ""
}

func checkRatePerSecond(f float64, text string) string {
	if !(f >= 0 && f <= maxRate) { // NaN fails too
		return fmt.Sprintf("invalid rate %q (want requests per second from 0 to 1e9, e.g. 50 or 0.5)", text)
	}
	return ""
}

// checkAddress checks a host:port listen address. emptyOK allows "" (off); randomOK allows
// port -1, the embedded NATS server's "pick a free port".
func checkAddress(s string, emptyOK, randomOK bool) string {
	if s == "" && emptyOK {
		return ""
	}
	_, port, err := net.SplitHostPort(s)
	n, perr := strconv.Atoi(port)
	min := 0
	if randomOK {
		min = -1
	}
	if err != nil || perr != nil || n < min || n > math.MaxUint16 {
		return fmt.Sprintf("invalid address %q (want host:port, e.g. 127.0.0.1:8080)", s)
	}
	return ""
}

var nameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

func checkName(kind, s string) string {
	if !nameRe.MatchString(s) {
		return fmt.Sprintf("invalid %s name %q (want lowercase letters, digits, _ and -, starting with a letter or digit, at most %d bytes)", kind, s, maxNameLen)
	}
	return ""
}

// checkURLs checks nats.url: comma-separated servers, each nats://, tls://, ws:// or
// wss:// with a host, or a bare host[:port]. A URL may carry a user and password, so a
// URL is only quoted with its password redacted.
func checkURLs(s string) string {
	if strings.TrimSpace(s) == "" {
		return "must not be empty (or use nats.embedded)"
	}
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		raw := part
		if !strings.Contains(part, "://") {
			raw = "nats://" + part
		}
		u, err := url.Parse(raw)
		switch {
		case part == "":
			return fmt.Sprintf("server %d of the list is empty", i+1)
		case err != nil:
			return fmt.Sprintf("server %d of the list is not a URL (want nats://host:port)", i+1)
		case !slices.Contains(natsSchemes, u.Scheme) || u.Hostname() == "" || u.Path != "" && u.Path != "/":
			return fmt.Sprintf("invalid server URL %q (want nats://host:port; tls://, ws://, wss:// also work)", u.Redacted())
		}
	}
	return ""
}
