package validator

import "net/http"

// Identity headers the upstream receives. Any header of these names sent by the caller, in
// any case and with '_' or '.' for '-', is removed before the token is even looked at.
const (
	HeaderUserID   = "X-Oauth-User-Id"
	HeaderClientID = "X-Oauth-Client-Id"
	HeaderScopes   = "X-Oauth-Scopes"
	HeaderTokenID  = "X-Oauth-Token-Id"
)

// stripSpoofed removes every caller header an upstream could take for one of names:
// any spelling that differs only in case or in '_' or '.' for '-'. CGI and FastCGI
// (Caddy's php_fastcgi among them), PHP, and the frameworks that read headers the CGI
// way, fold "X_OAuth_User_Id", "X.OAuth.User.Id" and "X-OAuth-User-Id" into the same
// HTTP_X_OAUTH_USER_ID variable, so deleting only the canonical name would let a caller
// choose the user id PHP sees. Caddy drops such names itself unless a site allows them
// (expected_underscore_headers, expected_dot_headers); the guard does not rely on that.
func stripSpoofed(h http.Header, names *spoofNames) {
	for key := range h {
		// Most caller headers differ in length from every protected name: one bit test
		// skips them without comparing bytes.
		if n := len(key); n < len(names.lens)*64 && names.lens[n/64]&(1<<(n%64)) == 0 {
			continue
		}
		for _, name := range names.names {
			if sameHeaderName(key, name) {
				delete(h, key) // deleting the current key while ranging is safe
				break
			}
		}
	}
}

// spoofNames are the header names stripSpoofed removes, with a bitmap of their lengths.
type spoofNames struct {
	names []string
	lens  [4]uint64 // bit n set: some name is n bytes long (names of 256 bytes or more are always compared)
}

func (s *spoofNames) add(names ...string) {
	for _, n := range names {
		s.names = append(s.names, n)
		if len(n) < len(s.lens)*64 {
			s.lens[len(n)/64] |= 1 << (len(n) % 64)
		}
	}
}

// sameHeaderName compares header names ASCII case-insensitively, '_' and '.' matching '-'.
func sameHeaderName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == '_' || x == '.' {
			x = '-'
		}
		if y == '_' || y == '.' {
			y = '-'
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
