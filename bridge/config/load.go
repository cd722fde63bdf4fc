package config

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookbus/hookbus/agents/yamlnode"
	"gopkg.in/yaml.v3"
)

// Load reads the config file at path and parses it with Parse. env looks environment
// variables up; nil means os.LookupEnv.
//
// A file that cannot be read is reported as the os error (matching fs.ErrNotExist and the
// like). Every problem in its content is an *Error wrapping ErrInvalid, all joined with
// errors.Join in document order, each reading "path:line:column: key: problem".
func Load(path string, env func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, env)
}

// Parse is Load for a config already in memory; name stands for the file in errors and in
// Config.Path. env looks environment variables up; nil means os.LookupEnv.
//
// Parse reads the YAML into a node tree, expands ${NAME} and ${NAME:-default} inside
// scalar values (never keys, never the raw text: a value cannot change the structure),
// checks every key and value, reads secret files, and builds each enabled source's
// verifier. It reports every problem at once: an *Error per problem, wrapping ErrInvalid
// (and ErrSecretUnset, or the verify package's error, where that applies), joined with
// errors.Join in document order. No error text holds a secret.
func Parse(name string, data []byte, env func(string) (string, bool)) (*Config, error) {
	if env == nil {
		env = os.LookupEnv
	}
	root, err := decode(name, data)
	if err != nil {
		return nil, err
	}
	p := &parser{file: name, env: env, cfg: defaults()}
	p.cfg.Path = name
	p.root(root)
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b *Error) int {
			return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
		})
		errs := make([]error, len(p.errs))
		for i, e := range p.errs {
			errs[i] = e
		}
		return nil, errors.Join(errs...)
	}
	return p.cfg, nil
}

// decode parses data as one YAML document (yamlnode.Decode), reporting a syntax error as
// an *Error of file name.
func decode(name string, data []byte) (*yaml.Node, error) {
	root, err := yamlnode.Decode(data)
	var se *yamlnode.SyntaxError
	if errors.As(err, &se) {
		return nil, &Error{File: name, Line: se.Line, Column: se.Column, Msg: se.Msg}
	}
	return root, err
}

// parser walks the node tree, filling cfg and collecting errors.
type parser struct {
	file string
	env  func(string) (string, bool)
	cfg  *Config
	errs []*Error
	// merged counts the keys copied by merges (<<), which aliases can make exponential:
	// past maxMerged the parser stops merging.
	merged  int
	tooMany bool // reported
}

// maxMerged bounds the keys that merges may copy in one config, far above any real one.
const maxMerged = 10_000

// fail records a problem at node n under the dotted key path.
func (p *parser) fail(n *yaml.Node, key, format string, args ...any) {
	p.failErr(nil, n, key, format, args...)
}

// failErr is fail with a cause besides ErrInvalid.
func (p *parser) failErr(cause error, n *yaml.Node, key, format string, args ...any) {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	p.errs = append(p.errs, &Error{File: p.file, Line: n.Line, Column: n.Column, Key: key, Msg: msg, Err: cause})
}

// entry is one key and its value in a mapping.
type entry struct{ key, value *yaml.Node }

// entries returns the pairs of mapping n with YAML merge keys (<<: *anchor) resolved: keys
// written in n win over merged ones, earlier merges over later ones. A key written twice
// in n is an error.
func (p *parser) entries(n *yaml.Node, path string, visiting map[*yaml.Node]bool) []entry {
	if visiting[n] {
		p.fail(n, path, "a merge (<<) that includes itself")
		return nil
	}
	visiting[n] = true
	defer delete(visiting, n)
	var own, merged []entry
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			v = yamlnode.Deref(v)
			items := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				items = v.Content
			}
			for _, m := range items {
				if m = yamlnode.Deref(m); m.Kind != yaml.MappingNode {
					p.fail(m, path, "a merge (<<) takes a mapping or a list of mappings, not %s", yamlnode.KindName(m))
					continue
				}
				if p.merged > maxMerged {
					continue
				}
				add := p.entries(m, path, visiting)
				if p.merged += len(add); p.merged > maxMerged {
					if !p.tooMany {
						p.tooMany = true
						p.fail(k, path, "merges (<<) copy more than %d keys: too many, or nested too deep", maxMerged)
					}
					continue
				}
				merged = append(merged, add...)
			}
			continue
		}
		if k.Kind == yaml.ScalarNode && seen[k.Value] {
			p.fail(k, yamlnode.Join(path, k.Value), "key appears twice")
			continue
		}
		seen[k.Value] = true
		own = append(own, entry{k, v})
	}
	for _, e := range merged {
		if !seen[e.key.Value] {
			seen[e.key.Value] = true
			own = append(own, e)
		}
	}
	return own
}

// field handles the value of one known key; path is its dotted key.
type field func(v *yaml.Node, path string)

// mapping walks the mapping n at path, handing each known key's value to its field and
// reporting unknown keys with the list of known ones. A null value (a key with nothing
// under it) is an empty mapping. It reports whether n was a mapping (or null).
func (p *parser) mapping(n *yaml.Node, path string, fields map[string]field) bool {
	n = yamlnode.Deref(n)
	if yamlnode.IsNull(n) {
		return true
	}
	if n.Kind != yaml.MappingNode {
		p.fail(n, path, "want a mapping of keys, not %s", yamlnode.KindName(n))
		return false
	}
	for _, e := range p.entries(n, path, map[*yaml.Node]bool{}) {
		f, ok := fields[e.key.Value]
		if !ok || e.key.Kind != yaml.ScalarNode {
			where := path
			if where == "" {
				where = "the top level"
			}
			p.fail(e.key, "", "unknown key %q in %s (known: %s)", e.key.Value, where, strings.Join(slices.Sorted(mapKeys(fields)), ", "))
			continue
		}
		f(e.value, yamlnode.Join(path, e.key.Value))
	}
	return true
}

func mapKeys(m map[string]field) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// text returns the expanded value of scalar n. A null value is "". A variable that is
// unset with no default is an error: a setting silently left empty is worse than a
// refusal to start ("${NAME:-}" asks for "" explicitly). ok is false after an error.
func (p *parser) text(n *yaml.Node, path string) (s string, ok bool) {
	n = yamlnode.Deref(n)
	if n.Kind != yaml.ScalarNode {
		p.fail(n, path, "want a single value, not %s", yamlnode.KindName(n))
		return "", false
	}
	if yamlnode.IsNull(n) {
		return "", true
	}
	s, miss, err := expand(n.Value, p.env)
	if err != nil {
		p.fail(n, path, "%v", err)
		return "", false
	}
	var unset []missing
	for _, m := range miss {
		if !m.Empty {
			unset = append(unset, m)
		}
	}
	if len(unset) > 0 {
		p.fail(n, path, "%s (write ${%s:-default} for a fallback)", describe(unset), unset[0].Name)
		return "", false
	}
	return s, true
}

// secret returns the expanded value of a scalar holding a secret, and the variables it
// needs that are unset or empty. Its errors never quote the value.
func (p *parser) secret(n *yaml.Node, path string) (s string, miss []missing, ok bool) {
	n = yamlnode.Deref(n)
	if n.Kind != yaml.ScalarNode {
		p.fail(n, path, "want a single value, not %s", yamlnode.KindName(n))
		return "", nil, false
	}
	if yamlnode.IsNull(n) {
		return "", nil, true
	}
	s, miss, err := expand(n.Value, p.env)
	if err != nil {
		p.fail(n, path, "%v", err)
		return "", nil, false
	}
	return s, miss, true
}

// The field constructors below parse a scalar into dst, leaving dst (the default) alone
// after an error.

func (p *parser) str(dst *string) field {
	return func(n *yaml.Node, path string) {
		if s, ok := p.text(n, path); ok {
			*dst = s
		}
	}
}

func (p *parser) oneOf(dst *string, allowed []string) field {
	return func(n *yaml.Node, path string) {
		if s, ok := p.text(n, path); ok {
			p.set(n, path, checkOneOf(s, allowed), func() { *dst = s })
		}
	}
}

// set records msg as a problem at n, or calls apply when msg is "".
func (p *parser) set(n *yaml.Node, path, msg string, apply func()) {
	if msg != "" {
		p.fail(yamlnode.Deref(n), path, "%s", msg)
		return
	}
	apply()
}

func (p *parser) duration(dst *time.Duration, min time.Duration) field {
	return func(n *yaml.Node, path string) {
		s, ok := p.text(n, path)
		if !ok {
			return
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			p.fail(yamlnode.Deref(n), path, "invalid duration %q (e.g. 500ms, 10s, 2m, 72h)", s)
			return
		}
		p.set(n, path, checkDuration(d, min, s), func() { *dst = d })
	}
}

func (p *parser) boolean(dst *bool) field {
	return func(n *yaml.Node, path string) {
		s, ok := p.text(n, path)
		if !ok {
			return
		}
		switch s {
		case "true":
			*dst = true
		case "false":
			*dst = false
		default:
			p.fail(yamlnode.Deref(n), path, "invalid value %q (want true or false)", s)
		}
	}
}

func (p *parser) integer(dst *int, min, max int) field {
	return func(n *yaml.Node, path string) {
		s, ok := p.text(n, path)
		if !ok {
			return
		}
		v, err := strconv.Atoi(s)
		if err != nil {
			v = min - 1 // out of range: the same message
		}
		p.set(n, path, checkInt(v, min, max, s), func() { *dst = v })
	}
}

// sizeSyntax is a byte count with an optional unit, of the units one kind of key accepts.
type sizeSyntax struct {
	re    *regexp.Regexp
	units map[string]int64
	max   int64                             // larger values are out of range
	want  string                            // what the key accepts, for the error message
	check func(v int64, text string) string // range check, as for Validate
}

var bodySize = sizeSyntax{
	re:    regexp.MustCompile(`^([0-9]+) ?(B|KiB|MiB|KB|MB)?$`),
	units: map[string]int64{"": 1, "B": 1, "KB": 1000, "KiB": 1 << 10, "MB": 1000 * 1000, "MiB": 1 << 20},
	max:   MaxBodyLimit,
	want:  "bytes, or a number with KiB, MiB, KB or MB",
	check: checkSize,
}

var memorySize = sizeSyntax{
	re:    regexp.MustCompile(`^([0-9]+) ?(B|KiB|MiB|GiB|KB|MB|GB)?$`),
	units: map[string]int64{"": 1, "B": 1, "KB": 1000, "KiB": 1 << 10, "MB": 1000 * 1000, "MiB": 1 << 20, "GB": 1000 * 1000 * 1000, "GiB": 1 << 30},
	max:   MaxMemoryLimit,
	want:  "0, bytes, or a number with KiB, MiB, GiB, KB, MB or GB",
	check: checkMemory,
}

func (p *parser) size(dst *int64) field { return p.sized(dst, bodySize) }

// memory reads a process memory size: 0 (off), or bytes with an optional unit up to GiB.
func (p *parser) memory(dst *int64) field { return p.sized(dst, memorySize) }

func (p *parser) sized(dst *int64, syn sizeSyntax) field {
	return func(n *yaml.Node, path string) {
		s, ok := p.text(n, path)
		if !ok {
			return
		}
		m := syn.re.FindStringSubmatch(s)
		if m == nil {
			p.fail(yamlnode.Deref(n), path, "invalid size %q (%s)", s, syn.want)
			return
		}
		v, err := strconv.ParseInt(m[1], 10, 64)
		unit := syn.units[m[2]]
		if err != nil || v > syn.max/unit {
			v = syn.max + 1 // out of range, without overflowing
		} else {
			v *= unit
		}
		p.set(n, path, syn.check(v, s), func() { *dst = v })
	}
}

func (p *parser) address(dst *string, emptyOK, randomOK bool) field {
	return func(n *yaml.Node, path string) {
		if s, ok := p.text(n, path); ok {
			p.set(n, path, checkAddress(s, emptyOK, randomOK), func() { *dst = s })
		}
	}
}

func (p *parser) rate(dst *RateLimit) field {
	return func(n *yaml.Node, path string) {
		p.mapping(n, path, map[string]field{
			"per_second": func(v *yaml.Node, path string) {
				s, ok := p.text(v, path)
				if !ok {
					return
				}
				f, err := strconv.ParseFloat(s, 64)
				if err != nil {
					f = math.NaN()
				}
				p.set(v, path, checkRatePerSecond(f, s), func() { dst.PerSecond = f })
			},
			"burst": p.integer(&dst.Burst, 1, maxBurst),
		})
	}
}

// root walks the top-level mapping. Sources come last, whatever their place in the file:
// they depend on require_secrets, http.max_body and streams.dedupe_horizon.
func (p *parser) root(n *yaml.Node) {
	c := p.cfg
	var natsNode, sourcesNode, replicasNode, windowNode *yaml.Node
	nodes := map[string]*yaml.Node{} // nats keys given, for positions
	ok := p.mapping(n, "", map[string]field{
		"log": func(v *yaml.Node, path string) {
			p.mapping(v, path, map[string]field{
				"level":  p.oneOf(&c.Log.Level, logLevels),
				"format": p.oneOf(&c.Log.Format, logFormats),
			})
		},
		"http": func(v *yaml.Node, path string) {
			p.mapping(v, path, map[string]field{
				"listen":            p.address(&c.HTTP.Listen, false, false),
				"read_timeout":      p.duration(&c.HTTP.ReadTimeout, nonNegative),
				"write_timeout":     p.duration(&c.HTTP.WriteTimeout, nonNegative),
				"idle_timeout":      p.duration(&c.HTTP.IdleTimeout, nonNegative),
				"shutdown_timeout":  p.duration(&c.HTTP.ShutdownTimeout, nonNegative),
				"max_body":          p.size(&c.HTTP.MaxBody),
				"client_rate_limit": p.rate(&c.HTTP.ClientRate),
			})
		},
		"admin": func(v *yaml.Node, path string) {
			p.mapping(v, path, map[string]field{"listen": p.address(&c.Admin.Listen, true, false)})
		},
		"nats": func(v *yaml.Node, path string) {
			natsNode = yamlnode.Deref(v)
			track := func(key string, f field) field {
				return func(v *yaml.Node, path string) { nodes[key] = yamlnode.Deref(v); f(v, path) }
			}
			p.mapping(v, path, map[string]field{
				"embedded":        track("embedded", p.embedded),
				"url":             track("url", p.natsURL),
				"creds":           track("creds", p.str(&c.NATS.Creds)),
				"tls":             track("tls", p.tls),
				"publish_timeout": p.duration(&c.NATS.PublishTimeout, positive),
			})
		},
		"streams": func(v *yaml.Node, path string) {
			p.mapping(v, path, map[string]field{
				"replicas": func(v *yaml.Node, path string) {
					replicasNode = yamlnode.Deref(v)
					p.integer(&c.Streams.Replicas, 1, maxReplicas)(v, path)
				},
				"duplicate_window": func(v *yaml.Node, path string) {
					windowNode = yamlnode.Deref(v)
					p.duration(&c.Streams.DuplicateWindow, atLeastSecond)(v, path)
				},
				"webhook_window": p.duration(&c.Streams.WebhookWindow, atLeastSecond),
				"max_age":        p.duration(&c.Streams.MaxAge, nonNegative),
				"dedupe_horizon": p.duration(&c.Streams.DedupeHorizon, nonNegative),
				"dedupe_dir":     p.str(&c.Streams.DedupeDir),
			})
		},
		"require_secrets": p.boolean(&c.RequireSecrets),
		"memory_limit":    p.memory(&c.MemoryLimit),
		"sources":         func(v *yaml.Node, path string) { sourcesNode = v },
	})
	if !ok {
		return // not a mapping: nothing else to say
	}

	// NATS: exactly one of embedded and url; the rest of the section must fit the choice.
	emb, url := nodes["embedded"], nodes["url"]
	switch {
	case emb != nil && url != nil:
		p.fail(url, "nats.url", msgBothNATS)
	case emb == nil && url == nil:
		at := natsNode
		if at == nil {
			at = n
		}
		p.fail(at, "nats", msgNoNATS)
	case emb != nil:
		for _, key := range []string{"creds", "tls"} {
			if at := nodes[key]; at != nil {
				p.fail(at, "nats."+key, msgOnlyWithURL)
			}
		}
		if c.Streams.Replicas > 1 && replicasNode != nil {
			p.fail(replicasNode, "streams.replicas", msgEmbeddedReplicas)
		}
	}
	if c.Streams.MaxAge > 0 && c.Streams.DuplicateWindow > c.Streams.MaxAge && windowNode != nil {
		p.fail(windowNode, "streams.duplicate_window", msgWindowOverAge, c.Streams.DuplicateWindow.String(), c.Streams.MaxAge)
	}

	if sourcesNode == nil {
		p.fail(n, "sources", msgNoSources)
		return
	}
	p.sources(sourcesNode)
}

func (p *parser) natsURL(n *yaml.Node, path string) {
	// The URL may carry a password: checkURLs quotes it redacted only.
	s, miss, ok := p.secret(n, path)
	if !ok {
		return
	}
	if len(miss) > 0 {
		p.fail(yamlnode.Deref(n), path, "%s (write ${%s:-default} for a fallback)", describe(miss), miss[0].Name)
		return
	}
	p.set(n, path, checkURLs(s), func() { p.cfg.NATS.URL = s })
}

func (p *parser) embedded(n *yaml.Node, path string) {
	e := defaultEmbedded()
	p.cfg.NATS.Embedded = e
	p.mapping(n, path, map[string]field{
		"listen": p.address(&e.Listen, false, true),
		"store_dir": func(v *yaml.Node, path string) {
			if s, ok := p.text(v, path); ok {
				p.set(v, path, emptyMsg(s), func() { e.StoreDir = s })
			}
		},
		"sync": p.oneOf(&e.Sync, syncModes),
		"auth": func(v *yaml.Node, path string) { e.Auth = p.auth(v, path) },
	})
	if e.Auth != nil && e.Auth.CredentialsDir == "" {
		e.Auth.CredentialsDir = filepath.Join(e.StoreDir, "credentials")
	}
}

func emptyMsg(s string) string {
	if s == "" {
		return msgEmpty
	}
	return ""
}

func (p *parser) tls(n *yaml.Node, path string) {
	t := &TLS{}
	p.cfg.NATS.TLS = t
	p.mapping(n, path, map[string]field{
		"ca_file":   p.str(&t.CAFile),
		"cert_file": p.str(&t.CertFile),
		"key_file":  p.str(&t.KeyFile),
	})
	if (t.CertFile == "") != (t.KeyFile == "") {
		p.fail(yamlnode.Deref(n), path, msgCertKey)
	}
}

func (p *parser) auth(n *yaml.Node, path string) *Auth {
	a := &Auth{}
	p.mapping(n, path, map[string]field{
		"credentials_dir": func(v *yaml.Node, path string) {
			if s, ok := p.text(v, path); ok {
				p.set(v, path, emptyMsg(s), func() { a.CredentialsDir = s })
			}
		},
		"agents": func(v *yaml.Node, path string) {
			v = yamlnode.Deref(v)
			if yamlnode.IsNull(v) {
				return
			}
			if v.Kind != yaml.MappingNode {
				p.fail(v, path, "want a mapping of agent names to their settings, not %s", yamlnode.KindName(v))
				return
			}
			for _, e := range p.entries(v, path, map[*yaml.Node]bool{}) {
				sub := yamlnode.Join(path, e.key.Value)
				if msg := checkAgent(e.key.Value); msg != "" {
					p.fail(e.key, sub, "%s", msg)
					continue
				}
				l := AgentLogin{Name: e.key.Value}
				p.mapping(e.value, sub, map[string]field{
					"password": func(v *yaml.Node, path string) {
						s, miss, ok := p.secret(v, path)
						if ok && len(miss) > 0 {
							p.fail(yamlnode.Deref(v), path, "%s (or leave password out to have one generated)", describe(miss))
							return
						}
						l.Password = s
					},
				})
				a.Agents = append(a.Agents, l)
			}
		},
	})
	return a
}
