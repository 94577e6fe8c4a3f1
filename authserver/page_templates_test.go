package authserver_test

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyoauth/caddy-oauth/authserver"
)

func writeTemplates(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// An operator's login.html replaces the built-in one; the other pages stay built-in, and
// data reaching a custom template is escaped as in the built-in ones.
func TestTemplatesFolderOverridesLoginAndFallsBackForTheRest(t *testing.T) {
	dir := writeTemplates(t, map[string]string{"login.html": `{{define "content"}}{{with .Page}}<h1>ACME sign-in</h1>
<p id="who">{{.Username}}</p>{{if .Error}}<p id="err">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}"><input type="hidden" name="_csrf" value="{{.CSRF}}">
<input name="username"><input name="password" type="password"><button>Go</button></form>{{end}}{{end}}`})
	pages, err := authserver.LoadPageTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	eachStoreWith(t, func(c *authserver.Config) { c.Pages = pages }, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, func(c *authserver.Config) { c.Pages = pages })
		b := s.browser(t)
		form := b.get(authserver.PathLogin)
		if form.status != 200 || !strings.Contains(form.body, "ACME sign-in") || !strings.Contains(form.body, "<style nonce=") {
			t.Fatalf("custom login page: %d %.500s", form.status, form.body)
		}
		if !strings.Contains(form.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Fatal("a custom page lost its security headers")
		}
		p := b.post(authserver.PathLogin, url.Values{"_csrf": {form.csrf(t)}, "username": {`<script>alert(1)</script>`}, "password": {"x"}}, nil)
		if strings.Contains(p.body, "<script>alert(1)</script>") || !strings.Contains(p.body, "&lt;script&gt;") {
			t.Fatalf("data reached the custom template unescaped: %.800s", p.body)
		}
		e := b.get("/oauth/authorize?client_id=nope&response_type=code")
		if e.status < 400 || !strings.Contains(e.body, "<main") {
			t.Fatalf("built-in error page: %d %.300s", e.status, e.body)
		}
	})
}

// A template that does not parse is refused, naming its file and line; so is a folder
// that does not exist, or a layout without "layout".
func TestBrokenTemplateIsRefusedWithItsFileAndLine(t *testing.T) {
	dir := writeTemplates(t, map[string]string{"consent.html": "{{define \"content\"}}\n<p>ok</p>\n{{if .Page}}\n{{end}}{{end}}{{end}}\n"})
	_, err := authserver.LoadPageTemplates(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "consent.html")) || !strings.Contains(err.Error(), "consent.html:4") {
		t.Fatalf("broken template: %v", err)
	}
	if _, err := authserver.LoadPageTemplates(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing folder was accepted")
	}
	noLayout := writeTemplates(t, map[string]string{"layout.html": `{{define "frame"}}x{{end}}`})
	if _, err := authserver.LoadPageTemplates(noLayout); err == nil || !strings.Contains(err.Error(), "layout") {
		t.Fatalf("layout without layout: %v", err)
	}
}
