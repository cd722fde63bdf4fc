package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookbus/hookbus/bridge/verify"
	"gopkg.in/yaml.v3"
)

// Load reads and validates the config file at path. env looks variables up (nil means
// os.LookupEnv). Every problem found is reported, each as "file:line:col: key: problem",
// joined in one error wrapping ErrInvalid.
func Load(path string, env func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return Parse(path, data, env)
}

// Parse is Load for a config already in memory; name stands for the file in errors.
func Parse(name string, data []byte, env func(string) (string, bool)) (*Config, error) {
	if env == nil {
		env = os.LookupEnv
	}
	p := &parser{file: name, env: env, cfg: defaults()}
	p.cfg.Path = name
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %s: %s", ErrInvalid, name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%w: %s: empty file", ErrInvalid, name)
	}
	p.root(doc.Content[0])
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return p.cfg, nil
}

type parser struct {
	file string
	env  func(string) (string, bool)
	cfg  *Config
	errs []error
}

// fail records a problem at node n under the dotted key path.
func (p *parser) fail(n *yaml.Node, path, format string, args ...any) {
	p.failWrap(ErrInvalid, n, path, format, args...)
}

func (p *parser) failWrap(sentinel error, n *yaml.Node, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	p.errs = append(p.errs, &posError{file: p.file, line: n.Line, col: n.Column, msg: msg, err: sentinel})
}

type posError struct {
	file      string
	line, col int
	msg       string
	err       error
}

func (e *posError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.file, e.line, e.col, e.msg)
}

func (e *posError) Unwrap() []error {
	if e.err == ErrInvalid {
		return []error{ErrInvalid}
	}
	return []error{ErrInvalid, e.err}
}

// fields walks a mapping, calling set for every known key and reporting unknown ones.
func (p *parser) fields(n *yaml.Node, path string, set map[string]func(v *yaml.Node, path string)) {
	if n.Kind != yaml.MappingNode {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return
		}
		p.fail(n, path, "want a mapping of keys")
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		sub := join(path, k.Value)
		f, ok := set[k.Value]
		if !ok {
			keys := make([]string, 0, len(set))
			for name := range set {
				keys = append(keys, name)
			}
			slices.Sort(keys)
			where := path
			if where == "" {
				where = "the top level"
			}
			p.fail(k, "", "unknown key %q in %s (known: %s)", k.Value, where, strings.Join(keys, ", "))
			continue
		}
		if seen[k.Value] {
			p.fail(k, sub, "key appears twice")
			continue
		}
		seen[k.Value] = true
		f(v, sub)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// scalar returns the expanded value of a scalar node and the variables that were unset.
func (p *parser) scalar(n *yaml.Node, path string) (string, []string, bool) {
	if n.Kind != yaml.ScalarNode {
		p.fail(n, path, "want a single value")
		return "", nil, false
	}
	if n.Tag == "!!null" {
		return "", nil, true
	}
	s, unset, err := expand(n.Value, p.env)
	if err != nil {
		p.fail(n, path, "%v", err)
		return "", nil, false
	}
	return s, unset, true
}

func (p *parser) str(dst *string) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		if s, _, ok := p.scalar(n, path); ok {
			*dst = s
		}
	}
}

func (p *parser) oneOf(dst *string, allowed ...string) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		s, _, ok := p.scalar(n, path)
		if !ok {
			return
		}
		if !slices.Contains(allowed, s) {
			p.fail(n, path, "invalid value %q (want %s)", s, strings.Join(allowed, ", "))
			return
		}
		*dst = s
	}
}

func (p *parser) duration(dst *time.Duration, min time.Duration) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		s, _, ok := p.scalar(n, path)
		if !ok {
			return
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			p.fail(n, path, "invalid duration %q (e.g. 10s, 2m, 72h)", s)
			return
		}
		if d < min {
			p.fail(n, path, "%s is below the minimum %s", s, min)
			return
		}
		*dst = d
	}
}

func (p *parser) boolean(dst *bool) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		s, _, ok := p.scalar(n, path)
		if !ok {
			return
		}
		b, err := strconv.ParseBool(s)
		if err != nil {
			p.fail(n, path, "invalid boolean %q (want true or false)", s)
			return
		}
		*dst = b
	}
}

func (p *parser) integer(dst *int, min, max int) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		s, _, ok := p.scalar(n, path)
		if !ok {
			return
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < min || v > max {
			p.fail(n, path, "invalid value %q (want a whole number from %d to %d)", s, min, max)
			return
		}
		*dst = v
	}
}

var sizeRe = regexp.MustCompile(`^([0-9]+)\s*(B|KB|KiB|MB|MiB)?$`)

func (p *parser) size(dst *int64) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		s, _, ok := p.scalar(n, path)
		if !ok {
			return
		}
		m := sizeRe.FindStringSubmatch(s)
		v, err := int64(0), error(nil)
		if m != nil {
			v, err = strconv.ParseInt(m[1], 10, 64)
		}
		if m == nil || err != nil {
			p.fail(n, path, "invalid size %q (bytes, or with KiB, MiB, KB, MB)", s)
			return
		}
		v *= map[string]int64{"": 1, "B": 1, "KB": 1000, "KiB": 1 << 10, "MB": 1000 * 1000, "MiB": 1 << 20}[m[2]]
		if v < 1 || v > MaxMaxBody {
			p.fail(n, path, "size %q out of range (1 byte to 64MiB)", s)
			return
		}
		*dst = v
	}
}

func (p *parser) address(dst *string, allowEmpty bool) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		s, _, ok := p.scalar(n, path)
		if !ok {
			return
		}
		if s == "" && allowEmpty {
			*dst = ""
			return
		}
		_, port, err := net.SplitHostPort(s)
		_, perr := strconv.Atoi(port)
		if err != nil || perr != nil {
			p.fail(n, path, "invalid address %q (want host:port)", s)
			return
		}
		*dst = s
	}
}

func (p *parser) root(n *yaml.Node) {
	c := p.cfg
	var natsNode *yaml.Node
	var sourcesNode *yaml.Node
	p.fields(n, "", map[string]func(*yaml.Node, string){
		"log": func(v *yaml.Node, path string) {
			p.fields(v, path, map[string]func(*yaml.Node, string){
				"level":  p.oneOf(&c.Log.Level, "trace", "debug", "info", "warn", "error"),
				"format": p.oneOf(&c.Log.Format, "auto", "console", "json"),
			})
		},
		"http": func(v *yaml.Node, path string) {
			p.fields(v, path, map[string]func(*yaml.Node, string){
				"listen":            p.address(&c.HTTP.Listen, false),
				"read_timeout":      p.duration(&c.HTTP.ReadTimeout, 0),
				"write_timeout":     p.duration(&c.HTTP.WriteTimeout, 0),
				"idle_timeout":      p.duration(&c.HTTP.IdleTimeout, 0),
				"shutdown_timeout":  p.duration(&c.HTTP.ShutdownTimeout, 0),
				"max_body":          p.size(&c.HTTP.MaxBody),
				"client_rate_limit": p.rate(&c.HTTP.ClientRate),
			})
		},
		"admin": func(v *yaml.Node, path string) {
			p.fields(v, path, map[string]func(*yaml.Node, string){"listen": p.address(&c.Admin.Listen, true)})
		},
		"nats": func(v *yaml.Node, path string) {
			natsNode = v
			p.fields(v, path, map[string]func(*yaml.Node, string){
				"embedded": func(v *yaml.Node, path string) {
					e := &Embedded{Listen: DefaultNATSListen, StoreDir: DefaultStoreDir, Sync: "default"}
					c.NATS.Embedded = e
					p.fields(v, path, map[string]func(*yaml.Node, string){
						"listen":    p.address(&e.Listen, false),
						"store_dir": p.str(&e.StoreDir),
						"sync":      p.oneOf(&e.Sync, "default", "always"),
						"auth":      func(v *yaml.Node, path string) { e.Auth = p.auth(v, path) },
					})
					if e.StoreDir == "" {
						p.fail(v, path+".store_dir", "must not be empty")
					}
					if e.Auth != nil && e.Auth.CredentialsDir == "" {
						e.Auth.CredentialsDir = filepath.Join(e.StoreDir, "credentials")
					}
				},
				"url":   p.str(&c.NATS.URL),
				"creds": p.str(&c.NATS.Creds),
				"tls": func(v *yaml.Node, path string) {
					t := &TLS{}
					c.NATS.TLS = t
					p.fields(v, path, map[string]func(*yaml.Node, string){
						"ca_file":   p.str(&t.CAFile),
						"cert_file": p.str(&t.CertFile),
						"key_file":  p.str(&t.KeyFile),
					})
					if (t.CertFile == "") != (t.KeyFile == "") {
						p.fail(v, path, "cert_file and key_file go together")
					}
				},
				"publish_timeout": p.duration(&c.NATS.PublishTimeout, time.Millisecond),
			})
		},
		"streams": func(v *yaml.Node, path string) {
			p.fields(v, path, map[string]func(*yaml.Node, string){
				"replicas":         p.integer(&c.Streams.Replicas, 1, 5),
				"duplicate_window": p.duration(&c.Streams.DuplicateWindow, time.Second),
				"max_age":          p.duration(&c.Streams.MaxAge, 0),
				"dedupe_horizon":   p.duration(&c.Streams.DedupeHorizon, 0),
			})
		},
		"require_secrets": p.boolean(&c.RequireSecrets),
		"sources": func(v *yaml.Node, path string) {
			sourcesNode = v
		},
	})
	// Sources last: require_secrets may come after them in the file.
	if sourcesNode != nil {
		p.sources(sourcesNode)
	}
	switch {
	case c.NATS.Embedded != nil && c.NATS.URL != "":
		p.fail(natsNode, "nats", "set either embedded or url, not both")
	case c.NATS.Embedded == nil && c.NATS.URL == "":
		where := natsNode
		if where == nil {
			where = n
		}
		p.fail(where, "nats", "set embedded (run a server in-process) or url (an existing NATS)")
	}
	if len(c.Sources) == 0 && sourcesNode == nil {
		p.fail(n, "sources", "at least one source is required")
	}
}

var nameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

func (p *parser) sources(n *yaml.Node) {
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		p.fail(n, "sources", "want a mapping of at least one source name to its settings")
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		path := "sources." + k.Value
		if !nameRe.MatchString(k.Value) {
			p.fail(k, path, "invalid source name %q (want [a-z0-9][a-z0-9_-]*, at most 64 bytes)", k.Value)
			continue
		}
		if seen[k.Value] {
			p.fail(k, path, "source appears twice")
			continue
		}
		seen[k.Value] = true
		p.source(k.Value, k, v, path)
	}
}

func (p *parser) source(name string, keyNode, n *yaml.Node, path string) {
	s := &Source{Name: name, MaxBody: p.cfg.HTTP.MaxBody, DedupeHorizon: -1}
	o := &s.Options
	nodes := map[string]*yaml.Node{}
	var unset []string
	var secretsNode *yaml.Node
	track := func(key string, f func(*yaml.Node, string)) func(*yaml.Node, string) {
		return func(v *yaml.Node, path string) { nodes[key] = v; f(v, path) }
	}
	p.fields(n, path, map[string]func(*yaml.Node, string){
		"verify":           track("verify", p.str(&s.Verify)),
		"header":           track("header", p.str(&o.Header)),
		"prefix":           track("prefix", p.str(&o.Prefix)),
		"encoding":         track("encoding", p.str(&o.Encoding)),
		"algorithm":        track("algorithm", p.str(&o.Algorithm)),
		"id_header":        track("id_header", p.str(&o.IDHeader)),
		"event_header":     track("event_header", p.str(&o.EventHeader)),
		"event":            track("event", p.str(&o.Event)),
		"tolerance":        track("tolerance", p.duration(&o.Tolerance, 0)),
		"allow_sha1":       track("allow_sha1", p.boolean(&o.AllowSHA1)),
		"allow_legacy":     track("allow_legacy", p.boolean(&o.AllowLegacy)),
		"public_url":       track("public_url", p.str(&o.PublicURL)),
		"public_key":       track("public_key", p.str(&o.PublicKey)),
		"timestamp_header": track("timestamp_header", p.str(&o.TimestampHeader)),
		"signed_content":   track("signed_content", p.str(&o.SignedContent)),
		"max_body":         track("max_body", p.size(&s.MaxBody)),
		"dedupe_horizon":   track("dedupe_horizon", p.duration(&s.DedupeHorizon, 0)),
		"rate_limit":       track("rate_limit", p.rate(&s.Rate)),
		"secrets": func(v *yaml.Node, path string) {
			secretsNode = v
			if v.Kind != yaml.SequenceNode {
				p.fail(v, path, "want a list of secrets")
				return
			}
			for i, item := range v.Content {
				if item.Kind != yaml.ScalarNode {
					p.fail(item, fmt.Sprintf("%s[%d]", path, i), "want a single value")
					continue
				}
				val, missing, err := expand(item.Value, p.env)
				if err != nil {
					// The raw text may hold a secret: name the position only.
					p.fail(item, fmt.Sprintf("%s[%d]", path, i), "malformed ${…} expansion")
					continue
				}
				if val == "" && len(missing) == 0 {
					p.fail(item, fmt.Sprintf("%s[%d]", path, i), "secret is empty")
					continue
				}
				unset = append(unset, missing...)
				if val != "" {
					o.Secrets = append(o.Secrets, val)
				}
			}
		},
		"secret_files": func(v *yaml.Node, path string) {
			if v.Kind != yaml.SequenceNode {
				p.fail(v, path, "want a list of file paths")
				return
			}
			for i, item := range v.Content {
				ipath := fmt.Sprintf("%s[%d]", path, i)
				f, _, ok := p.scalar(item, ipath)
				if !ok {
					continue
				}
				data, err := os.ReadFile(f)
				if err != nil {
					p.fail(item, ipath, "cannot read secret file %q: %v", f, errors.Unwrap(err))
					continue
				}
				sec := strings.TrimRight(string(data), "\r\n")
				if sec == "" {
					p.fail(item, ipath, "secret file %q is empty", f)
					continue
				}
				o.Secrets = append(o.Secrets, sec)
			}
		},
	})
	if n.Kind != yaml.MappingNode {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			p.fail(keyNode, path, "want the source's settings (at least verify)")
		}
		return
	}
	if s.DedupeHorizon < 0 {
		s.DedupeHorizon = p.cfg.Streams.DedupeHorizon
	}
	if s.Verify == "" {
		p.fail(keyNode, path+".verify", "required (github, hmac-sha256, …, or none to accept unsigned requests)")
		return
	}
	p.cfg.Sources = append(p.cfg.Sources, s)
	if s.Verify == "none" {
		s.Options.Secrets = nil
	} else if len(unset) > 0 {
		reason := strings.Join(unset, ", ") + " is not set"
		if len(unset) > 1 {
			reason = strings.Join(unset, ", ") + " are not set"
		}
		if p.cfg.RequireSecrets {
			p.failWrap(ErrSecretUnset, secretsNode, path+".secrets", "%s (require_secrets is true)", reason)
			return
		}
		s.Disabled = reason
		if len(o.Secrets) == 0 {
			return
		}
		// Some secrets are set: rotation with one variable missing still works with the others.
		s.Disabled = ""
	} else if secretsNode == nil && len(o.Secrets) == 0 {
		p.fail(keyNode, path+".secrets", "required for verify %q (or write verify: none)", s.Verify)
		return
	}
	v, err := verify.New(s.Verify, s.Options)
	if err != nil {
		var fe *verify.FieldError
		at, key := keyNode, path
		if errors.As(err, &fe) {
			key = path + "." + fe.Field
			if node := nodes[fe.Field]; node != nil {
				at = node
			} else if fe.Field == "secrets" && secretsNode != nil {
				at = secretsNode
			}
			err = fe.Err
		}
		p.fail(at, key, "%v", err)
		return
	}
	s.Verifier = v
}

func (p *parser) auth(n *yaml.Node, path string) *Auth {
	a := &Auth{}
	p.fields(n, path, map[string]func(*yaml.Node, string){
		"credentials_dir": p.str(&a.CredentialsDir),
		"agents": func(v *yaml.Node, path string) {
			if v.Kind != yaml.MappingNode {
				p.fail(v, path, "want a mapping of agent names to their settings")
				return
			}
			for i := 0; i+1 < len(v.Content); i += 2 {
				k, val := v.Content[i], v.Content[i+1]
				sub := path + "." + k.Value
				if !nameRe.MatchString(k.Value) || k.Value == "hookbus" {
					p.fail(k, sub, "invalid agent name %q (want [a-z0-9][a-z0-9_-]*, not \"hookbus\")", k.Value)
					continue
				}
				l := AgentLogin{Name: k.Value}
				p.fields(val, sub, map[string]func(*yaml.Node, string){
					"password": func(v *yaml.Node, path string) {
						s, unset, ok := p.scalar(v, path)
						if ok && len(unset) > 0 {
							p.fail(v, path, "%s is not set", strings.Join(unset, ", "))
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

func (p *parser) rate(dst *RateLimit) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		p.fields(n, path, map[string]func(*yaml.Node, string){
			"per_second": func(v *yaml.Node, path string) {
				s, _, ok := p.scalar(v, path)
				if !ok {
					return
				}
				f, err := strconv.ParseFloat(s, 64)
				if err != nil || f < 0 || f > 1e9 {
					p.fail(v, path, "invalid rate %q (want requests per second, e.g. 50 or 0.5)", s)
					return
				}
				dst.PerSecond = f
			},
			"burst": p.integer(&dst.Burst, 1, 1_000_000),
		})
	}
}
