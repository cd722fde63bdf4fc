package bridge_test

import (
	"os/exec"
	"syscall"
)

// dieWithTest has the kernel kill cmd's process when the test process dies, so that a test
// killed by its timeout leaves no server running behind it.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
