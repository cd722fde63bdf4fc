package relay

import (
	"errors"
	"strings"
)

// Expansion errors; the parser adds position and key. Neither quotes the value, which may be
// a secret.
var (
	errUnterminated = errors.New("unterminated ${ (want ${NAME} or ${NAME:-default})")
	errBadVar       = errors.New("invalid variable name in ${…} (want letters, digits and _, not starting with a digit)")
)

// expand replaces ${NAME} and ${NAME:-default} in s with values from env. The default
// applies when NAME is unset or empty and is taken literally; "$$" is a literal "$", and any
// other "$" stands for itself. unset lists the variables that were unset or empty with no
// default, each once.
func expand(s string, env func(string) (string, bool)) (out string, unset []string, err error) {
	if !strings.Contains(s, "$") {
		return s, nil, nil
	}
	var b strings.Builder
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
			return "", nil, errUnterminated
		}
		name, def, hasDef := strings.Cut(s[i+2:i+2+end], ":-")
		if !validVar(name) {
			return "", nil, errBadVar
		}
		switch v, _ := env(name); {
		case v != "":
			b.WriteString(v)
		case hasDef:
			b.WriteString(def)
		default:
			found := false
			for _, u := range unset {
				found = found || u == name
			}
			if !found {
				unset = append(unset, name)
			}
		}
		i += 2 + end
	}
	return b.String(), unset, nil
}

func validVar(name string) bool {
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
