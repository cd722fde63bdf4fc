package embedded

import "path/filepath"

// AdminUser is the login of the bridge itself and of operator tools on an embedded server
// with auth.
const AdminUser = "hookbus"

// PasswordFile is where the password of the login name lives when the config does not give
// it: <dir>/<name>.password in the credentials directory, generated on the bridge's first
// start.
func PasswordFile(dir, name string) string { return filepath.Join(dir, name+".password") }
