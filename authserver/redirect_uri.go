package authserver

import (
	"fmt"
	"net/url"
	"strings"
)

// CheckRedirectURI reports why uri cannot be registered as a client's redirect URI, or
// nil. It must be absolute and without a fragment (RFC 6749 §3.1.2); an http(s) URI must
// name a host and no user (a user part makes "https://bank.example@evil.example/" read as
// the bank on the consent screen); and schemes that run code or read local files in a
// browser (javascript:, data:, vbscript:, file:, blob:) are refused, whatever the case.
// Control characters and spaces are refused too: the URI is compared byte for byte and
// shown on the consent screen.
func CheckRedirectURI(uri string) error {
	for _, c := range []byte(uri) {
		if c <= 0x20 || c == 0x7f {
			return fmt.Errorf("redirect URI %q: contains a space or control character", uri)
		}
	}
	u, err := url.Parse(uri)
	if err != nil {
		return fmt.Errorf("redirect URI %q: %v", uri, err)
	}
	if !u.IsAbs() {
		return fmt.Errorf("redirect URI %q: must be absolute (with a scheme)", uri)
	}
	if u.Fragment != "" || strings.Contains(uri, "#") {
		return fmt.Errorf("redirect URI %q: must not have a fragment", uri)
	}
	switch strings.ToLower(u.Scheme) {
	case "javascript", "data", "vbscript", "file", "blob":
		return fmt.Errorf("redirect URI %q: the %s: scheme is not allowed", uri, u.Scheme)
	case "http", "https":
		if u.Host == "" || u.Hostname() == "" {
			return fmt.Errorf("redirect URI %q: must name a host", uri)
		}
		if u.User != nil {
			return fmt.Errorf("redirect URI %q: must not contain a user name or password", uri)
		}
	}
	return nil
}
