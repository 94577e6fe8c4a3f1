package caddymodule_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyoauth/caddy-oauth/caddymodule"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
)

// A broken template is refused at load with the option, its file and line.
func TestServerProvisionRefusesBrokenTemplateWithFileAndLine(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "login.html"), []byte("{{define \"content\"}}\n{{.Page.Username\n{{end}}"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := validate(t, fmt.Sprintf("oauth_server {\n\tstorage sqlite %q\n\ttemplates %q\n}", testdb.SQLitePath(t), dir))
	if err == nil || !strings.Contains(err.Error(), "templates") || !strings.Contains(err.Error(), "login.html:3") {
		t.Fatalf("broken template: %v", err)
	}
	caddymodule.PoolsEmpty(t)
}
