// Package yamlnode holds what the bridge's config and the relay's share in reading YAML as
// a node tree: one document decoded with positions, aliases followed, kinds named, key
// paths joined. Each config keeps its own walk of the keys and its own error type (agents
// never import bridge, so it lives here).
package yamlnode

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// SyntaxError is a document that is not one YAML document. Line is 1-based, 0 when the
// parser did not say; Column likewise. Msg never quotes the input beyond what the YAML
// parser's own message does.
type SyntaxError struct {
	Line, Column int
	Msg          string
}

func (e *SyntaxError) Error() string { return e.Msg }

// Decode parses data as exactly one YAML document and returns its root node: an empty
// mapping for an empty document. A second document is an error.
func Decode(data []byte) (root *yaml.Node, err error) {
	defer func() {
		// The YAML parser is not ours to fix; whatever input makes it panic is a malformed
		// document, not a crash. The panic value is not shown: it may quote the input.
		if r := recover(); r != nil {
			root, err = nil, &SyntaxError{Msg: "malformed YAML"}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return emptyMapping(), nil
	case err != nil:
		return nil, syntaxError(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxError(err)
	default:
		return nil, &SyntaxError{Line: next.Line, Column: next.Column, Msg: "a second YAML document: a config is one document"}
	}
	if len(doc.Content) == 0 {
		return emptyMapping(), nil
	}
	return doc.Content[0], nil
}

func emptyMapping() *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: 1, Column: 1}
}

// lineMsg reads the line out of the YAML parser's "yaml: line N: message".
var lineMsg = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func syntaxError(err error) *SyntaxError {
	if m := lineMsg.FindStringSubmatch(err.Error()); m != nil {
		if line, aerr := strconv.Atoi(m[1]); aerr == nil {
			return &SyntaxError{Line: line, Msg: m[2]}
		}
	}
	return &SyntaxError{Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
}

// Deref follows aliases (*name) to the anchored node, at most 16 deep.
func Deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

// IsNull says whether n is a null scalar (~, null, or nothing).
func IsNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// KindName names n's kind for an error message: "a mapping", "a list", "an alias" or "a
// single value".
func KindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	default:
		return "a single value"
	}
}

// Join appends key to the dotted path.
func Join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
