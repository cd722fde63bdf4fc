package subjects

import "errors"

var (
	// ErrInvalidName is returned for a configured name (source, agent, task kind) that is not a
	// valid subject token: 1 to 64 bytes of [a-z0-9_-], starting with a letter or digit.
	ErrInvalidName = errors.New("subjects: invalid name")

	// ErrInvalidSubject is returned when a subject does not follow the hookbus grammar.
	ErrInvalidSubject = errors.New("subjects: invalid subject")
)
