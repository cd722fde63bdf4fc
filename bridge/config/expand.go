package config

import (
	"errors"
	"strings"
)

// Expansion errors; the parser adds position and key. Neither quotes the value, which may
// be a secret.
var (
	errUnterminated = errors.New("unterminated ${ (want ${NAME} or ${NAME:-default})")
	errBadName      = errors.New("invalid variable name in ${…} (want letters, digits and _, not starting with a digit)")
)

// missing is a variable that a value needs and the environment does not give: unset, or
// set to "" (Empty), with no default in the value.
type missing struct {
	Name  string
	Empty bool
}

// expand replaces ${NAME} and ${NAME:-default} in s with values from env. The default
// applies when NAME is unset or empty, and is taken literally (no expansion inside it);
// "$$" is a literal "$", and any other "$" stands for itself. It returns the variables that
// were unset or empty and had no default, each once, in order of appearance.
func expand(s string, env func(string) (string, bool)) (string, []missing, error) {
	if !strings.Contains(s, "$") {
		return s, nil, nil
	}
	var (
		b    strings.Builder
		miss []missing
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
			return "", nil, errUnterminated
		}
		name, def, hasDef := strings.Cut(s[i+2:i+2+end], ":-")
		if !validVar(name) {
			return "", nil, errBadName
		}
		switch v, ok := env(name); {
		case v != "":
			b.WriteString(v)
		case hasDef:
			b.WriteString(def)
		default:
			if !containsVar(miss, name) {
				miss = append(miss, missing{Name: name, Empty: ok})
			}
		}
		i += 2 + end
	}
	return b.String(), miss, nil
}

func containsVar(ms []missing, name string) bool {
	for _, m := range ms {
		if m.Name == name {
			return true
		}
	}
	return false
}

// validVar reports whether name is a variable name: letters, digits and underscores, not
// starting with a digit.
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

// describe turns missing variables into a sentence for an error or a disabled source:
// "GITHUB_WEBHOOK_SECRET is not set", "A and B are not set; C is empty".
func describe(ms []missing) string {
	var unset, empty []string
	for _, m := range ms {
		if m.Empty {
			empty = append(empty, m.Name)
		} else {
			unset = append(unset, m.Name)
		}
	}
	var parts []string
	if len(unset) > 0 {
		parts = append(parts, names(unset)+verb(unset, " is not set", " are not set"))
	}
	if len(empty) > 0 {
		parts = append(parts, names(empty)+verb(empty, " is empty", " are empty"))
	}
	return strings.Join(parts, "; ")
}

func names(ns []string) string {
	if len(ns) == 1 {
		return ns[0]
	}
	return strings.Join(ns[:len(ns)-1], ", ") + " and " + ns[len(ns)-1]
}

func verb(ns []string, one, many string) string {
	if len(ns) == 1 {
		return one
	}
	return many
}
