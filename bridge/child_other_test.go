//go:build !linux

package bridge_test

import "os/exec"

// dieWithTest does nothing here: only Linux kills a child when its parent dies.
func dieWithTest(*exec.Cmd) {}
