package config

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalid is wrapped by every problem Load, Parse and Config.Validate report about a
	// config's content: malformed YAML, an unknown key, a wrong type or value, a missing
	// setting. A file that cannot be read at all is reported by Load as the os error instead.
	ErrInvalid = errors.New("invalid config")
	// ErrSecretUnset is wrapped (besides ErrInvalid) by the error of a source whose secret
	// uses an environment variable that is unset or empty, when require_secrets is true.
	// Without require_secrets such a source is disabled instead (Source.Disabled).
	ErrSecretUnset = errors.New("secret not set")
)

// Error is one problem in a config: where it is, which key, and what is wrong. Load and
// Parse return every problem found as an *Error, joined with errors.Join in document order;
// errors.As finds the first. The text never holds a secret: a problem with a secret names
// its position and list index instead of its value.
type Error struct {
	// File is the name the config was read under ("" from Config.Validate).
	File string
	// Line and Column are 1-based; 0 when unknown (Column is 0 for YAML syntax errors,
	// which the YAML parser reports by line only).
	Line, Column int
	// Key is the dotted path of the offending key, e.g. "http.read_timeout" or
	// "sources.github.secrets[0]"; "" for problems of the file as a whole and for unknown
	// keys, whose Msg names the key and its section.
	Key string
	// Msg says what is wrong, quoting the offending value unless it is a secret.
	Msg string
	// Err is a more specific cause besides ErrInvalid, or nil: ErrSecretUnset, or the
	// verify error (verify.ErrUnknownScheme, verify.ErrNoSecret, verify.ErrInvalidOption)
	// of a source option the verify package refused.
	Err error
}

// Error reads "file:line:column: key: message", leaving out the parts that are unknown,
// e.g. `hookbus.yaml:5:17: http.read_timeout: invalid duration "10x"`.
func (e *Error) Error() string {
	var s string
	switch {
	case e.Line > 0 && e.Column > 0:
		s = fmt.Sprintf("%s:%d:%d: ", e.File, e.Line, e.Column)
	case e.Line > 0:
		s = fmt.Sprintf("%s:%d: ", e.File, e.Line)
	case e.File != "":
		s = e.File + ": "
	}
	if e.Key != "" {
		s += e.Key + ": "
	}
	return s + e.Msg
}

// Unwrap returns ErrInvalid and, when set, Err, so that errors.Is matches either.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalid}
	}
	return []error{ErrInvalid, e.Err}
}
