package relay

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookbus/hookbus/agents/yamlnode"
	"gopkg.in/yaml.v3"
)

// Load reads the relay config file at path and parses it with Parse. env looks environment
// variables up; nil means os.LookupEnv. A file that cannot be read is reported as the os
// error.
func Load(path string, env func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, env)
}

// Parse reads a relay config from data; name stands for the file in errors. env looks
// environment variables up; nil means os.LookupEnv.
//
// ${NAME} and ${NAME:-default} expand inside values (never keys); "$$" is a literal "$". A
// variable that is unset or empty with no default is an error. Parse reports every problem
// at once, as *Error values wrapping ErrInvalid joined in document order, each reading
// "name:line:column: key: problem"; none quotes a secret or a header value. What Parse
// returns has passed Config.Validate.
func Parse(name string, data []byte, env func(string) (string, bool)) (*Config, error) {
	if env == nil {
		env = os.LookupEnv
	}
	root, err := decode(name, data)
	if err != nil {
		return nil, err
	}
	p := &parser{file: name, env: env, cfg: &Config{}}
	p.root(root)
	if len(p.errs) == 0 {
		if err := p.cfg.Validate(); err != nil {
			// Every check Validate makes is made above with a position; this is a backstop.
			var ve *Error
			for _, e := range unjoin(err) {
				if errors.As(e, &ve) {
					p.errs = append(p.errs, &Error{File: name, Key: ve.Key, Msg: ve.Msg})
				}
			}
		}
	}
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

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
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
}

func (p *parser) fail(n *yaml.Node, key, format string, args ...any) {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	p.errs = append(p.errs, &Error{File: p.file, Line: n.Line, Column: n.Column, Key: key, Msg: msg})
}

// pair is one key and its value in a mapping.
type pair struct{ key, value *yaml.Node }

// pairs returns the entries of mapping n at path, or nil (after an error) when n is not a
// mapping. A null value is an empty mapping. Keys must be plain, distinct scalars.
func (p *parser) pairs(n *yaml.Node, path string) ([]pair, bool) {
	n = yamlnode.Deref(n)
	if yamlnode.IsNull(n) {
		return nil, true
	}
	if n.Kind != yaml.MappingNode {
		p.fail(n, path, "want a mapping of keys, not %s", yamlnode.KindName(n))
		return nil, false
	}
	var out []pair
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind != yaml.ScalarNode || k.Tag == "!!merge":
			p.fail(k, path, "keys are plain names (no merges or complex keys)")
			continue
		case seen[k.Value]:
			p.fail(k, yamlnode.Join(path, k.Value), "key appears twice")
			continue
		}
		seen[k.Value] = true
		out = append(out, pair{k, v})
	}
	return out, true
}

// field handles the value of one known key.
type field func(v *yaml.Node, path string)

// mapping hands each known key of mapping n to its field and reports unknown keys.
func (p *parser) mapping(n *yaml.Node, path string, fields map[string]field) bool {
	ps, ok := p.pairs(n, path)
	for _, e := range ps {
		f, known := fields[e.key.Value]
		if !known {
			where := path
			if where == "" {
				where = "the top level"
			}
			p.fail(e.key, "", "unknown key %q in %s (known: %s)", e.key.Value, where, strings.Join(slices.Sorted(maps.Keys(fields)), ", "))
			continue
		}
		f(e.value, yamlnode.Join(path, e.key.Value))
	}
	return ok
}

// text returns the expanded value of scalar n; a null value is "". Its errors never quote
// the value.
func (p *parser) text(n *yaml.Node, path string) (string, bool) {
	n = yamlnode.Deref(n)
	if n.Kind != yaml.ScalarNode {
		p.fail(n, path, "want a single value, not %s", yamlnode.KindName(n))
		return "", false
	}
	if yamlnode.IsNull(n) {
		return "", true
	}
	s, unset, err := expand(n.Value, p.env)
	if err != nil {
		p.fail(n, path, "%v", err)
		return "", false
	}
	if len(unset) > 0 {
		verb := " is not set"
		if len(unset) > 1 {
			verb = " are not set"
		}
		p.fail(n, path, "%s%s (write ${%s:-default} for a fallback)", strings.Join(unset, ", "), verb, unset[0])
		return "", false
	}
	return s, true
}

// list returns the items of sequence n; a null value is an empty list.
func (p *parser) list(n *yaml.Node, path string) ([]*yaml.Node, bool) {
	n = yamlnode.Deref(n)
	if yamlnode.IsNull(n) {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		p.fail(n, path, "want a list, not %s", yamlnode.KindName(n))
		return nil, false
	}
	return n.Content, true
}

func (p *parser) duration(dst *time.Duration, min, max time.Duration) field {
	return func(n *yaml.Node, path string) {
		if d, ok := p.durationValue(n, path, min, max); ok {
			*dst = d
		}
	}
}

func (p *parser) durationValue(n *yaml.Node, path string, min, max time.Duration) (time.Duration, bool) {
	s, ok := p.text(n, path)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.fail(yamlnode.Deref(n), path, "invalid duration %q (e.g. 500ms, 10s, 2m, 72h)", s)
		return 0, false
	}
	if msg := checkDuration(d, min, max); msg != "" {
		p.fail(yamlnode.Deref(n), path, "%s", msg)
		return 0, false
	}
	return d, true
}

func (p *parser) integer(dst *int, min, max int) field {
	return func(n *yaml.Node, path string) {
		s, ok := p.text(n, path)
		if !ok {
			return
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < min || v > max {
			p.fail(yamlnode.Deref(n), path, "invalid value %q (want a whole number from %d to %d)", s, min, max)
			return
		}
		*dst = v
	}
}

func (p *parser) number(n *yaml.Node, path string, min, max float64, minOpen bool) (float64, bool) {
	s, ok := p.text(n, path)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < min || f > max || minOpen && f == min {
		lo := "["
		if minOpen {
			lo = "("
		}
		p.fail(yamlnode.Deref(n), path, "invalid value %q (want a number in %s%g, %g])", s, lo, min, max)
		return 0, false
	}
	return f, true
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

// root walks the top-level mapping. ssrf comes first and defaults before endpoints and
// destinations, whatever their order in the file.
func (p *parser) root(n *yaml.Node) {
	nodes := map[string]*yaml.Node{}
	keep := func(key string) field { return func(v *yaml.Node, _ string) { nodes[key] = v } }
	if !p.mapping(n, "", map[string]field{
		"ssrf":      keep("ssrf"),
		"defaults":  keep("defaults"),
		"endpoints": keep("endpoints"),
		"callbacks": keep("callbacks"),
		"admin":     keep("admin"),
	}) {
		return
	}
	if v := nodes["ssrf"]; v != nil {
		p.ssrf(v, "ssrf")
	}
	var base Delivery
	if v := nodes["defaults"]; v != nil {
		p.mapping(v, "defaults", p.deliveryFields(&base))
	}
	if v := nodes["endpoints"]; v != nil {
		p.endpoints(v, "endpoints", base)
	}
	if v := nodes["callbacks"]; v != nil {
		p.callbacks(v, "callbacks", base)
	}
	if v := nodes["admin"]; v != nil {
		p.admin(v, "admin")
	}
	if len(p.cfg.Endpoints) == 0 && len(p.cfg.Callbacks.Destinations) == 0 {
		at := n
		if v := nodes["endpoints"]; v != nil {
			at = yamlnode.Deref(v)
		}
		p.fail(at, "endpoints", "nothing to relay: add an endpoint (or a callback destination)")
	}
}

func (p *parser) admin(n *yaml.Node, path string) {
	p.mapping(n, path, map[string]field{
		"listen": func(v *yaml.Node, path string) {
			if s, ok := p.text(v, path); ok {
				if msg := checkListen(s); msg != "" {
					p.fail(yamlnode.Deref(v), path, "%s", msg)
					return
				}
				p.cfg.Admin.Listen = s
			}
		},
	})
}

func (p *parser) ssrf(n *yaml.Node, path string) {
	s := &p.cfg.SSRF
	p.mapping(n, path, map[string]field{
		"allow_loopback": p.boolean(&s.AllowLoopback),
		"allow_private":  p.boolean(&s.AllowPrivate),
		"allow_cidrs": func(v *yaml.Node, path string) {
			items, _ := p.list(v, path)
			for i, it := range items {
				key := fmt.Sprintf("%s[%d]", path, i)
				t, ok := p.text(it, key)
				if !ok {
					continue
				}
				pre, err := netip.ParsePrefix(t)
				if err != nil {
					if ip, aerr := netip.ParseAddr(t); aerr == nil {
						pre, err = ip.Prefix(ip.BitLen())
					}
				}
				if err != nil {
					p.fail(yamlnode.Deref(it), key, "invalid CIDR %q (e.g. 10.1.2.0/24, fd00::/64, 10.1.2.3)", t)
					continue
				}
				s.AllowCIDRs = append(s.AllowCIDRs, pre.Masked())
			}
		},
	})
}

// deliveryFields are the keys shared by defaults, endpoints and destinations.
func (p *parser) deliveryFields(d *Delivery) map[string]field {
	return map[string]field{
		"secrets": func(v *yaml.Node, path string) {
			items, ok := p.list(v, path)
			if !ok {
				return
			}
			d.Secrets = nil
			for i, it := range items {
				key := fmt.Sprintf("%s[%d]", path, i)
				s, ok := p.text(it, key)
				if !ok {
					continue
				}
				sec, err := ParseSecret(s)
				if err != nil {
					p.fail(yamlnode.Deref(it), key, "%v", err)
					continue
				}
				d.Secrets = append(d.Secrets, sec)
			}
			if len(items) == 0 {
				p.fail(yamlnode.Deref(v), path, "an empty list: at least one secret is required")
			}
		},
		"headers": func(v *yaml.Node, path string) {
			ps, _ := p.pairs(v, path)
			h := maps.Clone(d.Headers)
			if h == nil {
				h = map[string]string{}
			}
			for _, e := range ps {
				key := yamlnode.Join(path, e.key.Value)
				val, ok := p.text(e.value, key)
				if !ok {
					continue
				}
				if msg := checkHeader(e.key.Value, val); msg != "" {
					p.fail(e.key, key, "%s", msg)
					continue
				}
				h[e.key.Value] = val
			}
			d.Headers = h
		},
		"timeout":     p.duration(&d.Timeout, time.Millisecond, maxTimeout),
		"concurrency": p.integer(&d.Concurrency, 1, maxConcurrency),
		"rate_limit": func(v *yaml.Node, path string) {
			var r RateLimit
			p.mapping(v, path, map[string]field{
				"per_second": func(v *yaml.Node, path string) {
					if f, ok := p.number(v, path, 0, maxRate, true); ok {
						r.PerSecond = f
					}
				},
				"burst": p.integer(&r.Burst, 1, maxRate),
			})
			if r.PerSecond == 0 && r.Burst != 0 {
				p.fail(yamlnode.Deref(v), path, "burst without per_second")
			}
			d.RateLimit = r
		},
		"schedule": func(v *yaml.Node, path string) {
			items, ok := p.list(v, path)
			if !ok {
				return
			}
			switch {
			case len(items) == 0:
				p.fail(yamlnode.Deref(v), path, "an empty list: at least one retry step is required")
				return
			case len(items) > maxSteps:
				p.fail(yamlnode.Deref(v), path, "%d steps; at most %d", len(items), maxSteps)
				return
			}
			var steps []time.Duration
			for i, it := range items {
				if s, ok := p.durationValue(it, fmt.Sprintf("%s[%d]", path, i), time.Millisecond, maxStep); ok {
					steps = append(steps, s)
				}
			}
			if len(steps) == len(items) {
				d.Schedule = steps
			}
		},
		"jitter": func(v *yaml.Node, path string) {
			f, ok := p.number(v, path, 0, 0.99, false)
			if !ok {
				return
			}
			if f == 0 {
				f = -1 // none
			}
			d.Jitter = f
		},
		"breaker": func(v *yaml.Node, path string) {
			p.mapping(v, path, map[string]field{
				"failures": p.integer(&d.Breaker.Failures, 1, maxFailures),
				"cooldown": p.duration(&d.Breaker.Cooldown, time.Millisecond, maxCooldown),
			})
		},
		"max_hold": p.duration(&d.MaxHold, time.Millisecond, maxHold),
	}
}

// clone copies d so that settings given to one endpoint do not leak into another.
func (d Delivery) clone() Delivery {
	d.Secrets = slices.Clone(d.Secrets)
	d.Headers = maps.Clone(d.Headers)
	d.Schedule = slices.Clone(d.Schedule)
	return d
}

func (p *parser) endpoints(n *yaml.Node, path string, base Delivery) {
	ps, _ := p.pairs(n, path)
	for _, e := range ps {
		name := e.key.Value
		key := yamlnode.Join(path, name)
		if msg := checkName(name); msg != "" {
			p.fail(e.key, key, "%s", msg)
			continue
		}
		ep := Endpoint{Name: name, Delivery: base.clone()}
		var urlNode, subjNode *yaml.Node
		fields := p.deliveryFields(&ep.Delivery)
		fields["url"] = func(v *yaml.Node, path string) {
			urlNode = yamlnode.Deref(v)
			if s, ok := p.text(v, path); ok {
				if _, msg := checkURL(s, &p.cfg.SSRF); msg != "" {
					p.fail(urlNode, path, "%s", msg)
					return
				}
				ep.URL = s
			}
		}
		fields["subjects"] = func(v *yaml.Node, path string) {
			subjNode = yamlnode.Deref(v)
			items, _ := p.list(v, path)
			for i, it := range items {
				k := fmt.Sprintf("%s[%d]", path, i)
				if s, ok := p.text(it, k); ok {
					if msg := checkFilter(s); msg != "" {
						p.fail(yamlnode.Deref(it), k, "%s", msg)
						continue
					}
					ep.Subjects = append(ep.Subjects, s)
				}
			}
		}
		before := len(p.errs)
		if !p.mapping(e.value, key, fields) {
			continue
		}
		if urlNode == nil {
			p.fail(e.key, key+".url", "missing: where the events go")
		}
		if subjNode == nil || len(ep.Subjects) == 0 && len(p.errs) == before {
			p.fail(e.key, key+".subjects", "missing: at least one subject filter, e.g. agents.triage.events.>")
		}
		if len(ep.Secrets) == 0 && len(p.errs) == before {
			p.fail(e.key, key+".secrets", "missing: at least one signing secret (%s…), here or in defaults", SecretPrefix)
		}
		p.claim(e.key, key, endpointAgent(name))
		p.cfg.Endpoints = append(p.cfg.Endpoints, ep)
	}
}

// claim reports a consumer name used twice (relay-cb-x for endpoint cb-x and destination x).
func (p *parser) claim(n *yaml.Node, key, agent string) {
	for _, e := range p.cfg.Endpoints {
		if endpointAgent(e.Name) == agent {
			p.fail(n, key, "its consumer name %q is taken by endpoint %q", agent, e.Name)
			return
		}
	}
	for _, d := range p.cfg.Callbacks.Destinations {
		if destinationAgent(d.Name) == agent {
			p.fail(n, key, "its consumer name %q is taken by callback destination %q", agent, d.Name)
			return
		}
	}
	if agent == recorderAgent {
		p.fail(n, key, "its consumer name %q is the relay's task recorder", agent)
	}
}

func (p *parser) callbacks(n *yaml.Node, path string, base Delivery) {
	c := &p.cfg.Callbacks
	var dests *yaml.Node
	p.mapping(n, path, map[string]field{
		"input_field": func(v *yaml.Node, path string) {
			if s, ok := p.text(v, path); ok {
				if msg := checkInputField(s); msg != "" {
					p.fail(yamlnode.Deref(v), path, "%s", msg)
					return
				}
				c.InputField = s
			}
		},
		"destinations": func(v *yaml.Node, _ string) { dests = v },
	})
	if dests == nil {
		return
	}
	ps, _ := p.pairs(dests, path+".destinations")
	for _, e := range ps {
		name := e.key.Value
		key := yamlnode.Join(path+".destinations", name)
		if msg := checkName(name); msg != "" {
			p.fail(e.key, key, "%s", msg)
			continue
		}
		d := Destination{Name: name, Delivery: base.clone()}
		var prefixNode *yaml.Node
		fields := p.deliveryFields(&d.Delivery)
		fields["url_prefix"] = func(v *yaml.Node, path string) {
			prefixNode = yamlnode.Deref(v)
			if s, ok := p.text(v, path); ok {
				if _, msg := checkPrefix(s, &p.cfg.SSRF); msg != "" {
					p.fail(prefixNode, path, "%s", msg)
					return
				}
				d.URLPrefix = s
			}
		}
		before := len(p.errs)
		if !p.mapping(e.value, key, fields) {
			continue
		}
		if prefixNode == nil {
			p.fail(e.key, key+".url_prefix", "missing: the URLs that callbacks may go to")
		}
		if len(d.Secrets) == 0 && len(p.errs) == before {
			p.fail(e.key, key+".secrets", "missing: at least one signing secret (%s…), here or in defaults", SecretPrefix)
		}
		p.claim(e.key, key, destinationAgent(name))
		c.Destinations = append(c.Destinations, d)
	}
}
