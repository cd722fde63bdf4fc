package subjects

import "strings"

// Covers reports whether filter matches every subject that other matches; other is a
// concrete subject or a filter itself. Wildcards are NATS's: '*' matches one token, a final
// '>' one or more. Covers("agents.>", Replays("triage")) holds; Covers(Replays("triage"),
// "agents.*.replay.>") does not.
func Covers(filter, other string) bool {
	for {
		ft, frest, fmore := strings.Cut(filter, ".")
		ot, orest, omore := strings.Cut(other, ".")
		switch {
		case ft == ">":
			return ot != ""
		case ot == ">", ot == "", ft != "*" && ft != ot:
			return false
		case !fmore || !omore:
			return fmore == omore
		}
		filter, other = frest, orest
	}
}

// Overlaps reports whether some subject could match both filters.
func Overlaps(a, b string) bool {
	for {
		at, arest, amore := strings.Cut(a, ".")
		bt, brest, bmore := strings.Cut(b, ".")
		switch {
		case at == ">" || bt == ">":
			return true
		case at != "*" && bt != "*" && at != bt:
			return false
		case !amore || !bmore:
			return amore == bmore
		}
		a, b = arest, brest
	}
}
