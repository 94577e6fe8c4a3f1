package drivers

import (
	"strings"
	"testing"
)

// No database spec the command line or Caddyfile gets wrong is echoed in the error: a
// Postgres DSN carries its password, and the error goes to terminals and CI logs.
func TestParseSpecErrorsNeverEchoTheDSN(t *testing.T) {
	for _, spec := range []string{
		"host=db user=app password=hunter2-secret dbname=oauth", // key=value DSN without a driver
		"mysql://app:hunter2-secret@db/oauth",
		"pgsql:host=db password=hunter2-secret",
	} {
		_, _, err := ParseSpec(spec)
		if err == nil {
			t.Fatalf("%q: accepted", spec)
		}
		if strings.Contains(err.Error(), "hunter2-secret") {
			t.Errorf("%q: the error echoes the password: %v", spec, err)
		}
	}
}
