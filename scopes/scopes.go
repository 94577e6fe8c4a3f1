// Package scopes holds the scope rules shared by the authorization server and the guard:
// parsing the space-separated wire form, the `*` wildcard, and the all-of / any-of checks.
package scopes

import "strings"

// Wildcard is the scope that grants every other scope. It may only be requested by the
// password and client credentials grants, as in Laravel Passport.
const Wildcard = "*"

// Parse splits the space-separated scope string of RFC 6749 §3.3 into its scopes,
// dropping empty entries and duplicates while keeping the first-seen order.
func Parse(s string) []string {
	if s == "" {
		return nil
	}
	fields := strings.Fields(s)
	out := fields[:0]
	for _, f := range fields {
		if !contains(out, f) {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Format joins scopes into the space-separated wire form.
func Format(list []string) string { return strings.Join(list, " ") }

// Grants reports whether the granted list allows the one scope: it is present, or the
// wildcard is.
func Grants(granted []string, scope string) bool {
	for _, g := range granted {
		if g == scope || g == Wildcard {
			return true
		}
	}
	return false
}

// HasAll reports whether granted allows every scope in required. An empty required list
// is always satisfied.
func HasAll(granted, required []string) bool {
	for _, r := range required {
		if !Grants(granted, r) {
			return false
		}
	}
	return true
}

// HasAny reports whether granted allows at least one scope in required. An empty required
// list is always satisfied, so a rule with no scopes never refuses.
func HasAny(granted, required []string) bool {
	if len(required) == 0 {
		return true
	}
	for _, r := range required {
		if Grants(granted, r) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
