package verify

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Readers of routing fields inside a verified body (event types, actions). They read only
// as far as they must, copy nothing they can point into, and treat any input they cannot
// read as "field absent": the body came with a genuine signature, but its shape is still
// the sender's business, never a reason to reject the event.

// jsonField returns the raw JSON text of the value of key in the top-level object of body,
// e.g. `"opened"` or `{"a":1}`. The first occurrence of key wins. body is read only up to
// the end of that value and not validated beyond what the walk there needs; ok is false
// when body is not an object, breaks off or is malformed before the value, or lacks key.
// Keys are compared exactly, after decoding escapes.
func jsonField(body []byte, key string) (raw []byte, ok bool) {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, false
	}
	i++
	for {
		i = skipSpace(body, i)
		if i >= len(body) || body[i] != '"' { // also the '}' of an empty object
			return nil, false
		}
		end := stringEnd(body, i)
		if end < 0 {
			return nil, false
		}
		k := body[i:end]
		i = skipSpace(body, end)
		if i >= len(body) || body[i] != ':' {
			return nil, false
		}
		i = skipSpace(body, i+1)
		vend := valueEnd(body, i)
		if vend < 0 {
			return nil, false
		}
		if jsonKeyIs(k, key) {
			return body[i:vend], true
		}
		i = skipSpace(body, vend)
		if i >= len(body) || body[i] != ',' { // '}': the object ends without key
			return nil, false
		}
		i++
	}
}

// jsonText returns the text of a raw JSON string, escapes decoded and invalid UTF-8 replaced
// as encoding/json does; ok is false when raw is not a string. Without escapes it points
// into raw and allocates nothing.
func jsonText(raw []byte) (text []byte, ok bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, false
	}
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return raw[1 : len(raw)-1], true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return nil, false
	}
	return []byte(s), true
}

// jsonKeyIs reports whether the raw JSON string k (quotes included) is key.
func jsonKeyIs(k []byte, key string) bool {
	if len(k) >= 2 && bytes.IndexByte(k, '\\') < 0 {
		return string(k[1:len(k)-1]) == key
	}
	t, ok := jsonText(k)
	return ok && string(t) == key
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the JSON string starting at b[i] (a '"'), or -1
// when it does not end.
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++ // the escaped byte cannot end the string
		case '"':
			return j + 1
		}
	}
	return -1
}

// valueEnd returns the index just past the JSON value starting at b[i], or -1 when there
// is none or it does not end. Objects and arrays are skipped by matching brackets outside
// strings, without checking what lies between.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end := stringEnd(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	case ',', ':', '}', ']':
		return -1
	}
	// A number, true, false or null: up to the next delimiter.
	j := i
	for j < len(b) && strings.IndexByte(",:{}[]\" \t\r\n", b[j]) < 0 {
		j++
	}
	return j
}

// isForm reports whether a Content-Type is application/x-www-form-urlencoded, parameters
// and case aside.
func isForm(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/x-www-form-urlencoded")
}

// formValue returns the decoded value of the first validly escaped field named key in an
// application/x-www-form-urlencoded body; ok is false when there is none. It reads body in
// place and allocates only the decoded value.
func formValue(body []byte, key string) (value []byte, ok bool) {
	for len(body) > 0 {
		var field []byte
		field, body, _ = bytes.Cut(body, []byte{'&'})
		k, v, _ := bytes.Cut(field, []byte{'='})
		if bytes.ContainsAny(k, "%+") {
			dk, ok := unescapeForm(k)
			if !ok || string(dk) != key {
				continue
			}
		} else if string(k) != key {
			continue
		}
		if value, ok := unescapeForm(v); ok {
			return value, true
		}
	}
	return nil, false
}

// unescapeForm decodes form escaping: '+' is a space, %XX a byte. ok is false on a broken
// %-escape.
func unescapeForm(s []byte) ([]byte, bool) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			out = append(out, ' ')
		case '%':
			if i+2 >= len(s) {
				return nil, false
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return nil, false
			}
			out = append(out, hi<<4|lo)
			i += 2
		default:
			out = append(out, c)
		}
	}
	return out, true
}
