package config

import "errors"

var (
	// ErrInvalid is wrapped by every error Load and Parse return for a config they read.
	ErrInvalid = errors.New("invalid config")
	// ErrSecretUnset is wrapped (with ErrInvalid) when require_secrets is on and a
	// source's secret variable is unset.
	ErrSecretUnset = errors.New("secret not set")
)
