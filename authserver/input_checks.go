package authserver

import (
	"strings"
	"unicode/utf8"
)

// storableText reports whether s can name something in the store: valid UTF-8 without
// NUL. PostgreSQL refuses any other parameter with an error, so a caller's garbage id
// or username would otherwise be answered as a storage outage (503, an error log) rather
// than refused like any unknown one.
func storableText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}
