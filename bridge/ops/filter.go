package ops

import (
	"fmt"
	"strings"

	"github.com/hookbus/hookbus/subjects"
)

// ValidFilter checks a subject filter given on the command line: tokens separated by
// dots, none empty or holding whitespace, '*' and '>' only as whole tokens, '>' only last.
// It returns an error wrapping ErrInvalid that quotes the filter otherwise.
func ValidFilter(f string) error {
	if f == "" {
		return fmt.Errorf("%w: empty subject filter", ErrInvalid)
	}
	toks := strings.Split(f, ".")
	for i, t := range toks {
		switch {
		case t == "":
			return fmt.Errorf("%w: subject filter %q has an empty token", ErrInvalid, f)
		case strings.ContainsAny(t, " \t\r\n\x00"):
			return fmt.Errorf("%w: subject filter %q holds whitespace", ErrInvalid, f)
		case t == ">" && i != len(toks)-1:
			return fmt.Errorf("%w: subject filter %q: '>' must be the last token", ErrInvalid, f)
		case len(t) > 1 && strings.ContainsAny(t, "*>"):
			return fmt.Errorf("%w: subject filter %q: '*' and '>' must stand alone as tokens", ErrInvalid, f)
		}
		for j := 0; j < len(t); j++ {
			if t[j] < ' ' || t[j] == 0x7f {
				return fmt.Errorf("%w: subject filter %q holds a control character", ErrInvalid, f)
			}
		}
	}
	return nil
}

// ValidSubject checks a concrete subject given on the command line: a valid filter without
// wildcards, stored by one of the hookbus streams. Errors wrap ErrInvalid.
func ValidSubject(s string) error {
	if err := ValidFilter(s); err != nil {
		return err
	}
	for _, t := range strings.Split(s, ".") {
		if t == "*" || t == ">" {
			return fmt.Errorf("%w: subject %q: want a subject without wildcards", ErrInvalid, s)
		}
	}
	if subjects.StreamFor(s) == "" {
		return fmt.Errorf("%w: subject %q is not under a hookbus stream (webhooks.>, agents.>, dlq.>)", ErrInvalid, s)
	}
	return nil
}

// Match reports whether subject matches filter, with NATS wildcards: '*' matches one token,
// a final '>' one or more.
func Match(filter, subject string) bool {
	for {
		ft, frest, fmore := strings.Cut(filter, ".")
		st, srest, smore := strings.Cut(subject, ".")
		switch {
		case ft == ">":
			return st != ""
		case ft != "*" && ft != st, st == "":
			return false
		case !fmore || !smore:
			return fmore == smore
		}
		filter, subject = frest, srest
	}
}

// Overlaps reports whether some subject could match both filters (subjects.Overlaps).
func Overlaps(a, b string) bool { return subjects.Overlaps(a, b) }

// streamFilters splits a filter into one per hookbus stream it can match: a filter under
// one root goes to that root's stream; one whose first token is a wildcard goes to every
// stream, with the root put in ("*.github.>" reads webhooks.github.>, agents.github.>, …;
// ">" reads everything).
func streamFilters(filter string) map[string]string {
	if s := subjects.StreamFor(filter); s != "" {
		return map[string]string{s: filter}
	}
	first, rest, more := strings.Cut(filter, ".")
	out := map[string]string{}
	roots := map[string]string{subjects.StreamWebhooks: subjects.WebhooksRoot, subjects.StreamAgents: subjects.AgentsRoot, subjects.StreamDLQ: subjects.DLQRoot}
	for stream, root := range roots {
		switch {
		case first == ">":
			out[stream] = root + ".>"
		case first == "*" && more:
			out[stream] = root + "." + rest
		}
	}
	return out
}
