package authserver

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/caddyoauth/caddy-oauth/appdb"
)

// DefaultClaimsQuery reads the OpenID Connect claims of a user of a Laravel application's
// users table: its name, email and whether the email was verified.
const DefaultClaimsQuery = "SELECT name, email, email_verified_at FROM users WHERE id = $1"

// WithClaims adds the query that describes a user for OpenID Connect ($1, the user's id):
// each column whose name is a standard claim (name, given_name, email, email_verified,
// picture, updated_at, ...; ProfileClaimNames, EmailClaimNames) fills that claim, and
// email_verified_at (Laravel's column) fills email_verified: true when it is set. Other
// columns are ignored. It is prepared once to fail early.
func (p *SQLUsers) WithClaims(ctx context.Context, query string) error {
	q, order := appdb.Rebind(appdb.DriverOf(p.db), query)
	stmt, err := p.db.PrepareContext(ctx, q)
	if err != nil {
		return fmt.Errorf("preparing the claims query: %w", err)
	}
	_ = stmt.Close()
	p.claimsQuery, p.claimsOrder = q, order
	return nil
}

// UserClaims runs the claims query for the user; without one, it describes no one (nil).
// A user the query does not find is ErrUnknownUser.
func (p *SQLUsers) UserClaims(ctx context.Context, userID string) (*UserClaims, error) {
	if p.claimsQuery == "" {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, userQueryTimeout)
	defer cancel()
	rows, err := p.db.QueryContext(ctx, p.claimsQuery, appdb.Args(p.claimsOrder, userID)...)
	if err != nil {
		return nil, fmt.Errorf("claims query: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("claims query: %w", err)
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("claims query: %w", err)
		}
		return nil, ErrUnknownUser
	}
	values := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range values {
		ptrs[i] = &values[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, fmt.Errorf("claims query: %w", err)
	}
	c := &UserClaims{}
	for i, col := range cols {
		setClaim(c, strings.ToLower(col), values[i])
	}
	return c, rows.Err()
}

// setClaim fills the claim a column names from the value the driver returned.
func setClaim(c *UserClaims, name string, v any) {
	switch name {
	case "email_verified_at":
		verified := v != nil
		c.EmailVerified = &verified
		return
	case "email_verified":
		if v == nil {
			return
		}
		verified := truthy(v)
		c.EmailVerified = &verified
		return
	case "updated_at":
		c.UpdatedAt = unixOf(v)
		return
	}
	text := textOf(v)
	fields := map[string]*string{
		"name": &c.Name, "given_name": &c.GivenName, "family_name": &c.FamilyName, "middle_name": &c.MiddleName,
		"nickname": &c.Nickname, "preferred_username": &c.PreferredUsername, "profile": &c.Profile,
		"picture": &c.Picture, "website": &c.Website, "gender": &c.Gender, "birthdate": &c.Birthdate,
		"zoneinfo": &c.Zoneinfo, "locale": &c.Locale, "email": &c.Email,
	}
	if f, ok := fields[name]; ok {
		*f = text
	}
}

// textOf is a column value as text: drivers return strings, bytes, numbers or times.
func textOf(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	case time.Time:
		return x.UTC().Format(time.DateOnly)
	}
	return fmt.Sprint(v)
}

// truthy reads a boolean column, which MySQL returns as a number.
func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case int64:
		return x != 0
	}
	b, err := strconv.ParseBool(textOf(v))
	return err == nil && b
}

// unixOf reads a time column (a time, Unix seconds, or text as MySQL and SQLite return
// it) as Unix seconds; 0 when it cannot tell.
func unixOf(v any) int64 {
	switch x := v.(type) {
	case time.Time:
		return x.Unix()
	case int64:
		return x
	}
	text := textOf(v)
	for _, layout := range []string{time.DateTime, time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00"} {
		if t, err := time.Parse(layout, text); err == nil {
			return t.Unix()
		}
	}
	return 0
}

// Interface guard: sql providers can describe their users.
var _ UserClaimsSource = (*SQLUsers)(nil)
