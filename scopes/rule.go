package scopes

import "fmt"

// Mode says how a Rule's scopes combine.
type Mode int

const (
	// All requires every scope of the rule (Passport's `scopes:` middleware).
	All Mode = iota
	// Any requires at least one scope of the rule (Passport's `scope:` middleware).
	Any
)

// String returns the Caddyfile spelling of the mode.
func (m Mode) String() string {
	if m == Any {
		return "any"
	}
	return "all"
}

// ParseMode reads the Caddyfile spelling `all` or `any`.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "all":
		return All, nil
	case "any":
		return Any, nil
	}
	return All, fmt.Errorf("scope mode must be 'all' or 'any', got %q", s)
}

// Rule is one scope requirement a token must meet.
type Rule struct {
	Mode   Mode
	Scopes []string
}

// Satisfied reports whether the granted scopes meet the rule.
func (r Rule) Satisfied(granted []string) bool {
	if r.Mode == Any {
		return HasAny(granted, r.Scopes)
	}
	return HasAll(granted, r.Scopes)
}

// SatisfiedAll reports whether granted meets every rule in rules.
func SatisfiedAll(rules []Rule, granted []string) bool {
	for _, r := range rules {
		if !r.Satisfied(granted) {
			return false
		}
	}
	return true
}
