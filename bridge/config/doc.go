// Package config loads the hookbus YAML config: it expands ${NAME} and ${NAME:-default}
// from the environment inside values, checks every key and value, builds each source's
// verifier, and reports every problem at once with file:line:column and the dotted key.
//
// Secrets are never quoted in an error: a problem with one names its position and index.
package config
