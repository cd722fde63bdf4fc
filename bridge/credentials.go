package bridge

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/hookbus/hookbus/bridge/config"
	"github.com/hookbus/hookbus/bridge/embedded"
)

// logins returns the users of an embedded server with auth: the admin and every configured
// agent. A password the config does not give is read from <credentials_dir>/<name>.password,
// or generated into that file (mode 0600, directory 0700) on first start.
func logins(a *config.Auth) ([]embedded.User, error) {
	if err := os.MkdirAll(a.CredentialsDir, 0o700); err != nil {
		return nil, fmt.Errorf("bridge: credentials_dir: %w", err)
	}
	admin, err := password(a.CredentialsDir, embedded.AdminUser)
	if err != nil {
		return nil, err
	}
	users := []embedded.User{{Name: embedded.AdminUser, Password: admin, Admin: true}}
	for _, ag := range a.Agents {
		pw := ag.Password
		if pw == "" {
			if pw, err = password(a.CredentialsDir, ag.Name); err != nil {
				return nil, err
			}
		}
		users = append(users, embedded.User{Name: ag.Name, Password: pw})
	}
	return users, nil
}

// password reads the password of name from its file in dir (embedded.PasswordFile), or
// generates it into that file when there is none.
func password(dir, name string) (string, error) {
	path := embedded.PasswordFile(dir, name)
	b, err := os.ReadFile(path)
	if err == nil {
		if pw := strings.TrimSpace(string(b)); pw != "" {
			return pw, nil
		}
		return "", fmt.Errorf("bridge: password file %s is empty", path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("bridge: %w", err)
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	pw := base64.RawURLEncoding.EncodeToString(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("bridge: %w", err)
	}
	if _, err := f.WriteString(pw + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("bridge: %w", err)
	}
	return pw, f.Close()
}
