// Package envexpand expands ${NAME} and ${NAME:-default} in config values, for the bridge's
// config and the relay's alike (agents never import bridge, so it lives here).
//
// The default applies when NAME is unset or empty and is taken literally (no expansion
// inside it); "$$" is a literal "$", and any other "$" stands for itself. Errors never
// quote the value, which may be a secret.
package envexpand

import (
	"errors"
	"strings"
)

// Expansion errors; callers add position and key.
var (
	ErrUnterminated = errors.New("unterminated ${ (want ${NAME} or ${NAME:-default})")
	ErrBadName      = errors.New("invalid variable name in ${…} (want letters, digits and _, not starting with a digit)")
)

// Missing is a variable that a value needs and the environment does not give: unset, or
// set to "" (Empty), with no default in the value.
type Missing struct {
	Name  string
	Empty bool
}

// Expand replaces the variables in s with values from env. It returns the variables that
// were unset or empty and had no default, each once, in order of appearance.
func Expand(s string, env func(string) (string, bool)) (string, []Missing, error) {
	if !strings.Contains(s, "$") {
		return s, nil, nil
	}
	var (
		b    strings.Builder
		miss []Missing
	)
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c != '$' || i+1 == len(s):
			b.WriteByte(c)
			continue
		case s[i+1] == '$':
			b.WriteByte('$')
			i++
			continue
		case s[i+1] != '{':
			b.WriteByte('$')
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", nil, ErrUnterminated
		}
		name, def, hasDef := strings.Cut(s[i+2:i+2+end], ":-")
		if !ValidName(name) {
			return "", nil, ErrBadName
		}
		switch v, ok := env(name); {
		case v != "":
			b.WriteString(v)
		case hasDef:
			b.WriteString(def)
		default:
			if !contains(miss, name) {
				miss = append(miss, Missing{Name: name, Empty: ok})
			}
		}
		i += 2 + end
	}
	return b.String(), miss, nil
}

func contains(ms []Missing, name string) bool {
	for _, m := range ms {
		if m.Name == name {
			return true
		}
	}
	return false
}

// ValidName reports whether name is a variable name: letters, digits and underscores, not
// starting with a digit.
func ValidName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
