package dpop

import (
	"errors"
	"net/url"
	"strings"
)

// NormalizeURL returns the form of an http(s) URL that the htu comparison uses (RFC 9449
// §4.3 item 9, RFC 3986 §6.2.2 and §6.2.3): scheme and host lower-cased, the scheme's
// default port dropped, dot segments removed, percent-encodings of unreserved characters
// decoded and the others upper-cased, an empty path made "/", and the query and fragment
// left out (the htu names neither).
func NormalizeURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "https" && scheme != "http") || u.Host == "" || u.User != nil {
		return "", errors.New("not an absolute http(s) URL")
	}
	host := strings.ToLower(u.Host)
	if scheme == "https" {
		host = strings.TrimSuffix(host, ":443")
	} else {
		host = strings.TrimSuffix(host, ":80")
	}
	return scheme + "://" + host + normalizePath(u.EscapedPath()), nil
}

// RequestURL is the htu a proof for a request to scheme, host and path (as escaped on
// the wire, without the query) must name, normalized as NormalizeURL does.
func RequestURL(scheme, host, escapedPath string) string {
	host = strings.ToLower(host)
	switch scheme {
	case "https":
		host = strings.TrimSuffix(host, ":443")
	case "http":
		host = strings.TrimSuffix(host, ":80")
	}
	return scheme + "://" + host + normalizePath(escapedPath)
}

// HasDotSegments reports whether an escaped request path has a "." or ".." segment,
// written plainly or percent-encoded ("%2e"). Such a path matches, after the
// normalization htu comparison uses, a proof made for another path (/admin/%2e%2e/public
// fits a proof for /public), while the host or the upstream may route the raw path
// elsewhere. Browsers and most URL libraries remove dot segments before sending, though
// some HTTP clients (Go's net/http, curl --path-as-is) send a path as written; a
// verifier refuses such requests rather than guess the route.
func HasDotSegments(escapedPath string) bool {
	p := escapedPath
	if strings.IndexByte(p, '%') >= 0 {
		p = normalizePercent(p)
	}
	for len(p) > 0 {
		i := strings.IndexByte(p, '/')
		seg := p
		if i >= 0 {
			seg, p = p[:i], p[i+1:]
		} else {
			p = ""
		}
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// normalizePath applies the path parts of RFC 3986 §6.2.2: percent-encoding
// normalization, then dot-segment removal (§5.2.4); "" becomes "/".
func normalizePath(p string) string {
	if p == "" {
		return "/"
	}
	if strings.IndexByte(p, '%') >= 0 {
		p = normalizePercent(p)
	}
	if strings.Contains(p, "/.") || strings.HasPrefix(p, ".") {
		p = removeDotSegments(p)
	}
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	return p
}

// normalizePercent decodes %XX of unreserved characters and upper-cases the hex digits
// of the others. A malformed escape is left as it is (it then matches only itself).
func normalizePercent(p string) string {
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '%' || i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
			b.WriteByte(c)
			continue
		}
		v := unhex(p[i+1])<<4 | unhex(p[i+2])
		if isUnreserved(v) {
			b.WriteByte(v)
		} else {
			b.WriteByte('%')
			b.WriteString(strings.ToUpper(p[i+1 : i+3]))
		}
		i += 2
	}
	return b.String()
}

// removeDotSegments is RFC 3986 §5.2.4.
func removeDotSegments(in string) string {
	var out []string
	segs := strings.Split(in, "/")
	for i, s := range segs {
		switch s {
		case ".":
			if i == len(segs)-1 {
				out = append(out, "")
			}
		case "..":
			if len(out) > 1 {
				out = out[:len(out)-1]
			}
			if i == len(segs)-1 {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	return strings.Join(out, "/")
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// isUnreserved is RFC 3986 §2.3.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
