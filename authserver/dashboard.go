package authserver

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"net/url"

	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/scopes"
)

// PathDashboard is the page where a logged-in user manages personal access tokens,
// authorized applications and their own clients, through the JSON API.
const PathDashboard = "/oauth/dashboard"

// dashboardTemplate is the dashboard inside the pages' shared layout.
var dashboardTemplate = template.Must(template.ParseFS(templateFS, "templates/layout.html", "templates/dashboard.html"))

// dashboardPage is the data of the dashboard.
type dashboardPage struct {
	CSRF         string
	Username     string
	LogoutAction string
	Scopes       []scopes.Definition
}

// serveDashboard is GET /oauth/dashboard: the page, or the login form first.
func (s *Server) serveDashboard(w http.ResponseWriter, r *http.Request) {
	sess, err := s.currentSession(r)
	if errors.Is(err, errNoSession) {
		redirect(w, r, PathLogin+"?"+url.Values{"return_to": {PathDashboard}}.Encode())
		return
	}
	if err != nil {
		s.renderError(w, errUnavailable("reading session", err))
		return
	}
	nonce := NewSecret()
	var buf bytes.Buffer
	err = dashboardTemplate.ExecuteTemplate(&buf, "layout", pageData{Title: "Your API access", Nonce: nonce, Page: dashboardPage{
		CSRF: sess.CSRFToken, Username: sess.Username, LogoutAction: PathLogout, Scopes: s.cfg.Scopes.Definitions(),
	}})
	if err != nil {
		s.log.Error("rendering dashboard", zap.Error(err))
		securityHeaders(w, "")
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	securityHeaders(w, nonce)
	// The page's one script, allowed by the nonce, calls the JSON API on this origin.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'; form-action 'self'; style-src 'nonce-"+nonce+"'; script-src 'nonce-"+nonce+"'; connect-src 'self'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}
