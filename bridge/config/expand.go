package config

import (
	"strings"

	"github.com/hookbus/hookbus/agents/envexpand"
)

// Expansion is envexpand's, shared with the relay's config; the parser adds position and
// key to its errors.
var (
	errUnterminated = envexpand.ErrUnterminated
	errBadName      = envexpand.ErrBadName
)

// missing is a variable that a value needs and the environment does not give.
type missing = envexpand.Missing

// expand replaces ${NAME} and ${NAME:-default} in s (see package envexpand).
func expand(s string, env func(string) (string, bool)) (string, []missing, error) {
	return envexpand.Expand(s, env)
}

func containsVar(ms []missing, name string) bool {
	for _, m := range ms {
		if m.Name == name {
			return true
		}
	}
	return false
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
