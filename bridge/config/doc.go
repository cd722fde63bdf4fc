// Package config loads the hookbus YAML config (configs/hookbus.yaml documents every key):
// it expands environment variables inside values, checks every key and value, reads secret
// files, builds each source's verifier, and reports every problem at once with
// file:line:column and the dotted key.
//
// # Environment variables
//
// ${NAME} is replaced by the variable's value, ${NAME:-default} by the default when NAME is
// unset or empty (the default is taken literally); $$ is a literal $, and any other $
// stands for itself. Expansion happens on the parsed values, never on the raw text, so a
// value full of YAML syntax (quotes, brackets, colons, line breaks) stays one value. Keys,
// source names included, are not expanded.
//
// A variable that is unset, with no default, is an error in an ordinary value. In a
// secret (and in a source's public_key) it is not: the source is disabled, with a reason
// naming the variable ("GITHUB_WEBHOOK_SECRET is not set"), and loading succeeds, unless
// require_secrets is true, which makes it an error wrapping ErrSecretUnset. A variable set
// to "" counts as unset there. A source with one of several secrets unset is disabled as
// well: no secret is dropped silently.
//
// # Secrets
//
// Secrets come from secrets (a list, usually of ${NAME}) and secret_files (a list of
// paths, each file's content with trailing line breaks removed being one more secret).
// Every scheme but "none" needs at least one; "none" takes none. No error text, and no
// String or JSON form of a Source, contains a secret: errors about a secret name its key
// and list index (sources.github.secrets[0]). Secrets live in Source.Options.Secrets only.
//
// # Paths
//
// Relative paths (nats.embedded.store_dir, secret_files, nats.creds, nats.tls files) are
// used as written: relative to the working directory of the process, not to the config
// file.
//
// # YAML
//
// The config is one YAML document. Anchors, aliases and merge keys (<<: *common) work as
// YAML defines them; a key written twice in one mapping is an error.
package config
