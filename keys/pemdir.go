package keys

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

// privateKeyNames are the file names looked for in a `keys <dir>` folder, ours first, then
// the names Laravel Passport's `passport:keys` writes, so its keys can be reused as they are.
var privateKeyNames = []string{"private.pem", "oauth-private.key"}

// LoadDir reads the private signing key from a folder. The algorithm follows from the
// key's type (RSA: RS256, EC P-256: ES256, Ed25519: EdDSA).
func LoadDir(dir string) (*store.SigningKey, error) {
	for _, name := range privateKeyNames {
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading signing key %s: %w", path, err)
		}
		priv, err := ParsePrivatePEM(data)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", path, err)
		}
		alg, err := AlgFor(priv)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", path, err)
		}
		rec, err := Record(priv, alg, time.Unix(0, 0))
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", path, err)
		}
		return rec, nil
	}
	return nil, fmt.Errorf("keys folder %s has no private.pem or oauth-private.key", dir)
}
