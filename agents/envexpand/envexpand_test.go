package envexpand

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func env(k string) (string, bool) {
	switch k {
	case "A":
		return "a", true
	case "EMPTY":
		return "", true
	}
	return "", false
}

func TestExpand(t *testing.T) {
	for _, tt := range []struct {
		in, out string
		miss    []Missing
		err     error
	}{
		{"plain", "plain", nil, nil},
		{"${A}-${A}", "a-a", nil, nil},
		{"${B:-x:-y}", "x:-y", nil, nil},
		{"${EMPTY:-d}", "d", nil, nil},
		{"$$ $A $", "$ $A $", nil, nil},
		{"${B} ${EMPTY} ${B}", "  ", []Missing{{Name: "B"}, {Name: "EMPTY", Empty: true}}, nil},
		{"${A", "", nil, ErrUnterminated},
		{"${1A}", "", nil, ErrBadName},
		{"${A-x}", "", nil, ErrBadName},
	} {
		out, miss, err := Expand(tt.in, env)
		if out != tt.out || !reflect.DeepEqual(miss, tt.miss) || !errors.Is(err, tt.err) {
			t.Errorf("Expand(%q) = %q, %v, %v; want %q, %v, %v", tt.in, out, miss, err, tt.out, tt.miss, tt.err)
		}
	}
}

// FuzzExpand: no panic, and a value without "${" comes out with only "$$" folded.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{"", "${A}", "$${A}", "${A:-${B}}", "${", "$"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, _, err := Expand(s, env)
		if !strings.Contains(s, "${") && (err != nil || out != strings.ReplaceAll(s, "$$", "$")) {
			t.Fatalf("Expand(%q) = %q, %v", s, out, err)
		}
	})
}
