package yamlnode

import (
	"errors"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestDecode(t *testing.T) {
	for _, c := range []struct {
		in        string
		kind      yaml.Kind
		line, col int // of the error; 0 0: no error
		msg       string
	}{
		{in: "", kind: yaml.MappingNode},
		{in: "# only a comment\n", kind: yaml.MappingNode},
		{in: "a: 1\nb: [2]\n", kind: yaml.MappingNode},
		{in: "- x\n", kind: yaml.SequenceNode},
		{in: "a: 1\n---\nb: 2\n", line: 2, col: 1, msg: "a second YAML document: a config is one document"},
		{in: "a: 1\n  b: 2\n", line: 2, msg: "mapping values are not allowed in this context"},
		{in: "a: [1\n", line: 1, msg: "did not find expected ',' or ']'"},
	} {
		root, err := Decode([]byte(c.in))
		if c.msg == "" {
			if err != nil || root == nil || root.Kind != c.kind {
				t.Errorf("Decode(%q) = %v, %v; want kind %v", c.in, root, err, c.kind)
			}
			continue
		}
		var se *SyntaxError
		if !errors.As(err, &se) || root != nil {
			t.Errorf("Decode(%q) = %v, %v; want a *SyntaxError", c.in, root, err)
			continue
		}
		if se.Line != c.line || (c.col != 0 && se.Column != c.col) || se.Msg != c.msg {
			t.Errorf("Decode(%q): %+v; want line %d column %d %q", c.in, *se, c.line, c.col, c.msg)
		}
	}
}

func TestNodes(t *testing.T) {
	root, err := Decode([]byte("base: &b {x: 1}\nuse: *b\nnothing: ~\nlist: [1]\n"))
	if err != nil {
		t.Fatal(err)
	}
	v := map[string]*yaml.Node{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		v[root.Content[i].Value] = root.Content[i+1]
	}
	if v["use"].Kind != yaml.AliasNode || Deref(v["use"]) != v["base"] {
		t.Fatal("Deref did not follow the alias to its anchor")
	}
	for name, want := range map[string]string{"base": "a mapping", "use": "an alias", "nothing": "a single value", "list": "a list"} {
		if got := KindName(v[name]); got != want {
			t.Errorf("KindName(%s) = %q, want %q", name, got, want)
		}
	}
	if !IsNull(v["nothing"]) || IsNull(v["list"].Content[0]) {
		t.Error("IsNull")
	}
	if Join("", "a") != "a" || Join("a.b", "c") != "a.b.c" {
		t.Error("Join")
	}
}

// FuzzDecode: no input panics, and every error is a *SyntaxError.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"", "a: 1", "a: &x [*x]", "a: 1\n---\nb", "{[", "a: !!binary x", "<<: *y"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		root, err := Decode(b)
		var se *SyntaxError
		if err != nil && !errors.As(err, &se) {
			t.Fatalf("error %T %v", err, err)
		}
		if (root == nil) == (err == nil) {
			t.Fatalf("root %v with error %v", root, err)
		}
	})
}
