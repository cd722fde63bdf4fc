//go:build !unix

package horizon

import (
	"fmt"
	"os"
	"path/filepath"
)

// lock creates dir's lock file; without flock it does not exclude another process.
func lock(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("horizon: %w", err)
	}
	return f, nil
}
