package authserver

import (
	"bytes"
	"embed"
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"
)

// The HTML pages (login, consent, errors) are rendered from embedded templates, so the
// plugin ships as one binary and pages load nothing from elsewhere: the one stylesheet
// is inline, allowed by a per-response CSP nonce.
//
//go:embed templates/*.html
var templateFS embed.FS

// pageData is what the layout receives; Page is the page's own data.
type pageData struct {
	Title string
	Nonce string
	Page  any
}

// errorPage is the data of the error page, shown when the request cannot be sent back
// to a client (RFC 6749 §4.1.2.1: never redirect to an unverified redirect URI).
type errorPage struct {
	Heading string
	Message string
	Code    string
}

// securityHeaders are sent with every page and every redirect of the browser flows.
// formTargets are the origins (besides this one) a form on the page may lead to: the
// consent form's answer redirects to the client, and browsers apply form-action to
// where a form submission is redirected too.
func securityHeaders(w http.ResponseWriter, nonce string, formTargets ...string) {
	h := w.Header()
	csp := "default-src 'none'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
	for _, t := range formTargets {
		csp += " " + t
	}
	if nonce != "" {
		csp += "; style-src 'nonce-" + nonce + "'"
	}
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: under no-referrer browsers send "Origin: null" with
	// the pages' own form posts, which the CSRF check's origin test must refuse.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// renderPage writes a page with its security headers.
func (s *Server) renderPage(w http.ResponseWriter, status int, name, title string, page any, formTargets ...string) {
	nonce := NewSecret()
	var buf bytes.Buffer
	if err := s.pages().sets[name].ExecuteTemplate(&buf, "layout", pageData{Title: title, Nonce: nonce, Page: page}); err != nil {
		s.log.Error("rendering page", zap.String("page", name), zap.Error(err))
		securityHeaders(w, "")
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	securityHeaders(w, nonce, formTargets...)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// redirect sends the browser on with the security headers of the pages. A POST is
// answered 303, so the browser follows with a GET.
func redirect(w http.ResponseWriter, r *http.Request, to string) {
	securityHeaders(w, "")
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	w.Header().Set("Location", to)
	w.WriteHeader(status)
}

// readPageForm parses a form posted by one of the pages, refusing repeated parameters;
// its error is for the error page.
func readPageForm(r *http.Request) (url.Values, *Error) {
	form, oerr := readForm(r)
	if oerr != nil {
		return nil, errPage(http.StatusBadRequest, oerr.Code, "Bad request", "The form could not be read: "+oerr.Description+".")
	}
	return form, nil
}

// safeReturnTo accepts a place to go after login or logout only if it is a path on this
// server: it starts with one "/", names no scheme, host or user, and holds no backslash
// or control character (browsers read "/\evil.example" as "//evil.example").
func safeReturnTo(raw string) (string, bool) {
	if raw == "" || len(raw) > 4096 || raw[0] != '/' || strings.HasPrefix(raw, "//") {
		return "", false
	}
	for _, c := range []byte(raw) {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return "", false
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "", false
	}
	return raw, true
}
