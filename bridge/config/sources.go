package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hookbus/hookbus/agents/yamlnode"
	"github.com/hookbus/hookbus/bridge/verify"
	"gopkg.in/yaml.v3"
)

func (p *parser) sources(n *yaml.Node) {
	n = yamlnode.Deref(n)
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		p.fail(n, "sources", "want a mapping of at least one source name to its settings")
		return
	}
	for _, e := range p.entries(n, "sources", map[*yaml.Node]bool{}) {
		if p.tooMany {
			return // the rest would only repeat that error
		}
		name := e.key.Value
		path := "sources." + name
		if msg := checkName("source", name); msg != "" {
			p.fail(e.key, path, "%s", msg)
			continue
		}
		p.source(name, e.key, e.value, path)
	}
}

// lack is a value of a source that needs variables the environment does not give.
type lack struct {
	node *yaml.Node
	key  string // dotted key of the value, e.g. "sources.github.secrets[0]"
	vars []missing
}

// placeholder stands in for a secret whose variable is unset, so that the other options of
// a disabled source are checked now rather than once the variable is set.
const placeholder = "placeholder-for-an-unset-secret"

// source reads one source. Its secrets, and its public key, may come from variables that
// are unset: the source is then disabled with the reason, or refused with require_secrets.
func (p *parser) source(name string, keyNode, n *yaml.Node, path string) {
	n = yamlnode.Deref(n)
	if yamlnode.IsNull(n) {
		p.fail(keyNode, path, "want the source's settings (at least verify)")
		return
	}
	before := len(p.errs)
	s := &Source{Name: name, MaxBody: p.cfg.HTTP.MaxBody, DedupeHorizon: p.cfg.Streams.DedupeHorizon}
	o := &s.Options
	var (
		nodes   = map[string]*yaml.Node{} // value node of each key given, for positions
		lacks   []lack
		lacking = map[string]bool{} // option keys with a lacking value
		count   int                 // secrets configured, usable or not
		unset   int                 // of which lack a variable
	)
	need := func(n *yaml.Node, key, option string, vars []missing) {
		lacks = append(lacks, lack{yamlnode.Deref(n), key, vars})
		lacking[option] = true
	}
	track := func(key string, f field) field {
		return func(v *yaml.Node, path string) { nodes[key] = yamlnode.Deref(v); f(v, path) }
	}
	fields := map[string]field{
		"verify":           p.str(&s.Verify),
		"header":           p.str(&o.Header),
		"prefix":           p.str(&o.Prefix),
		"encoding":         p.str(&o.Encoding),
		"algorithm":        p.str(&o.Algorithm),
		"id_header":        p.str(&o.IDHeader),
		"event_header":     p.str(&o.EventHeader),
		"event":            p.str(&o.Event),
		"public_url":       p.str(&o.PublicURL),
		"timestamp_header": p.str(&o.TimestampHeader),
		"signed_content":   p.str(&o.SignedContent),
		"tolerance":        p.duration(&o.Tolerance, nonNegative),
		"allow_sha1":       p.boolean(&o.AllowSHA1),
		"allow_legacy":     p.boolean(&o.AllowLegacy),
		"max_body":         p.size(&s.MaxBody),
		"dedupe_horizon":   p.duration(&s.DedupeHorizon, nonNegative),
		"rate_limit":       p.rate(&s.Rate),
		// A public key is no secret, but like a secret it is what the source verifies
		// with: one from an unset variable disables the source the same way.
		"public_key": func(v *yaml.Node, path string) {
			val, miss, ok := p.secret(v, path)
			switch {
			case !ok:
			case len(miss) > 0:
				need(v, path, "public_key", miss)
			default:
				o.PublicKey = val
			}
		},
		"secrets": func(v *yaml.Node, path string) {
			v = yamlnode.Deref(v)
			if v.Kind != yaml.SequenceNode {
				p.fail(v, path, `want a list of secrets, e.g. ["${GITHUB_WEBHOOK_SECRET}"], not %s`, yamlnode.KindName(v))
				return
			}
			for i, item := range v.Content {
				key := fmt.Sprintf("%s[%d]", path, i)
				count++
				val, miss, ok := p.secret(item, key)
				switch {
				case !ok:
				case len(miss) > 0:
					// Even when the rest of the value expanded: a partial secret is a wrong one.
					unset++
					need(item, key, "secrets", miss)
				case val == "":
					p.fail(yamlnode.Deref(item), key, "secret is empty")
				default:
					o.Secrets = append(o.Secrets, val)
				}
			}
		},
		"secret_files": func(v *yaml.Node, path string) {
			v = yamlnode.Deref(v)
			if v.Kind != yaml.SequenceNode {
				p.fail(v, path, "want a list of file paths, not %s", yamlnode.KindName(v))
				return
			}
			for i, item := range v.Content {
				key := fmt.Sprintf("%s[%d]", path, i)
				count++
				if sec, ok := p.secretFile(item, key); ok {
					o.Secrets = append(o.Secrets, sec)
				}
			}
		},
	}
	for k, f := range fields {
		fields[k] = track(k, f)
	}
	if !p.mapping(n, path, fields) || p.tooMany {
		return
	}

	if s.Verify == "" {
		at := nodes["verify"]
		if at == nil {
			at = keyNode
		}
		p.fail(at, path+".verify", msgNoVerify)
		return
	}
	if s.Verify == "none" && count > 0 {
		key := "secrets"
		if nodes[key] == nil {
			key = "secret_files"
		}
		p.fail(nodes[key], path+"."+key, `not used by verify "none", which accepts every request unchecked (remove them, or choose a scheme that checks them)`)
		return
	}
	if len(p.errs) > before {
		return // no verifier built on values already refused
	}

	opts := s.Options
	if unset > 0 {
		opts.Secrets = append(opts.Secrets[:len(opts.Secrets):len(opts.Secrets)], make([]string, unset)...)
		for i := len(o.Secrets); i < len(opts.Secrets); i++ {
			opts.Secrets[i] = placeholder
		}
	}
	v, err := verify.New(s.Verify, opts)
	var fe *verify.FieldError
	switch {
	case err == nil:
	case !errors.As(err, &fe):
		p.failErr(err, keyNode, path+".verify", "%v", err)
		return
	case lacking[fe.Field]:
		// Caused by the missing value itself: reported below.
	default:
		key := fe.Field
		at := nodes[key]
		if key == "secrets" && at == nil && nodes["secret_files"] != nil {
			key = "secret_files"
			at = nodes[key]
		}
		if at == nil {
			at = keyNode
		}
		msg := fe.Err.Error()
		if errors.Is(fe, verify.ErrNoSecret) && count == 0 {
			msg = fmt.Sprintf(`required for verify %q: secrets: ["${NAME}"] or secret_files: [path] (or verify: none to accept unsigned requests)`, s.Verify)
		}
		p.failErr(fe.Err, at, path+"."+key, "%s", msg)
		return
	}

	if len(lacks) > 0 {
		if p.cfg.RequireSecrets {
			for _, l := range lacks {
				p.failErr(ErrSecretUnset, l.node, l.key, "%s (require_secrets is true)", describe(l.vars))
			}
			return
		}
		var all []missing
		for _, l := range lacks {
			for _, m := range l.vars {
				if !containsVar(all, m.Name) {
					all = append(all, m)
				}
			}
		}
		s.Disabled = describe(all)
		p.cfg.Sources = append(p.cfg.Sources, s)
		return
	}
	s.Verifier = v
	p.cfg.Sources = append(p.cfg.Sources, s)
}

// maxSecretFile bounds what is read of a secret file, so that a wrong path (a log, a
// device) fails clearly instead of filling memory.
const maxSecretFile = 64 << 10

// readSmall reads up to max+1 bytes of the file at path.
func readSmall(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, max+1))
}

// secretFile reads the secret file named by item: its content with trailing line breaks
// removed. A relative path is relative to the working directory.
func (p *parser) secretFile(item *yaml.Node, key string) (string, bool) {
	path, ok := p.text(item, key)
	if !ok {
		return "", false
	}
	if path == "" {
		p.fail(yamlnode.Deref(item), key, "empty file path")
		return "", false
	}
	data, err := readSmall(path, maxSecretFile)
	if err != nil {
		// The *PathError's own text repeats the path; keep only the reason.
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		p.fail(yamlnode.Deref(item), key, "cannot read secret file %q: %v", path, err)
		return "", false
	}
	if len(data) > maxSecretFile {
		p.fail(yamlnode.Deref(item), key, "secret file %q is larger than %d bytes: not a secret", path, maxSecretFile)
		return "", false
	}
	sec := strings.TrimRight(string(data), "\r\n")
	if sec == "" {
		p.fail(yamlnode.Deref(item), key, "secret file %q is empty", path)
		return "", false
	}
	return sec, true
}
