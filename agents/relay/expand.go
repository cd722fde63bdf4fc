package relay

import "github.com/hookbus/hookbus/agents/envexpand"

// expand replaces ${NAME} and ${NAME:-default} in s with values from env (see package
// envexpand). unset lists the variables that were unset or empty with no default, each once.
func expand(s string, env func(string) (string, bool)) (out string, unset []string, err error) {
	var miss []envexpand.Missing
	out, miss, err = envexpand.Expand(s, env)
	for _, m := range miss {
		unset = append(unset, m.Name)
	}
	return out, unset, err
}
