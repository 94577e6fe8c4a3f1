package scopes

import (
	"errors"
	"fmt"
	"sort"
)

// ErrWildcardNotAllowed is returned when `*` is requested by a grant that may not have it.
var ErrWildcardNotAllowed = errors.New("the scope * may only be requested by the password and client_credentials grants")

// Definition is one scope the server knows, with the text the consent screen shows.
type Definition struct {
	Name        string `json:"id"`
	Description string `json:"description"`
}

// Catalog is the set of scopes a server defines and the default given when a client asks
// for none. The zero value defines no scopes.
type Catalog struct {
	defs     map[string]string
	order    []string
	defaults []string
}

// NewCatalog builds a catalog. Every default scope must be defined.
func NewCatalog(defs []Definition, defaults []string) (*Catalog, error) {
	c := &Catalog{defs: make(map[string]string, len(defs))}
	for _, d := range defs {
		if d.Name == "" || d.Name == Wildcard {
			return nil, fmt.Errorf("scope name %q is reserved or empty", d.Name)
		}
		if _, dup := c.defs[d.Name]; dup {
			return nil, fmt.Errorf("scope %q defined twice", d.Name)
		}
		c.defs[d.Name] = d.Description
		c.order = append(c.order, d.Name)
	}
	for _, d := range defaults {
		if _, ok := c.defs[d]; !ok {
			return nil, fmt.Errorf("default_scope %q is not a defined scope", d)
		}
	}
	c.defaults = append([]string(nil), defaults...)
	return c, nil
}

// Including returns a catalog that also defines each of defs the catalog does not define
// yet, after its own, with the same defaults; c itself is unchanged.
func (c *Catalog) Including(defs []Definition) *Catalog {
	out := &Catalog{defs: make(map[string]string, len(c.defs)+len(defs)), order: append([]string(nil), c.order...),
		defaults: c.defaults}
	for k, v := range c.defs {
		out.defs[k] = v
	}
	for _, d := range defs {
		if _, ok := out.defs[d.Name]; !ok {
			out.defs[d.Name] = d.Description
			out.order = append(out.order, d.Name)
		}
	}
	return out
}

// Defined reports whether name is a defined scope.
func (c *Catalog) Defined(name string) bool {
	_, ok := c.defs[name]
	return ok
}

// Definitions lists the defined scopes in the order they were declared.
func (c *Catalog) Definitions() []Definition {
	out := make([]Definition, 0, len(c.order))
	for _, n := range c.order {
		out = append(out, Definition{Name: n, Description: c.defs[n]})
	}
	return out
}

// Names lists the defined scope names, sorted, for server metadata.
func (c *Catalog) Names() []string {
	out := append([]string(nil), c.order...)
	sort.Strings(out)
	return out
}

// Defaults returns the scopes granted when none are requested.
func (c *Catalog) Defaults() []string { return append([]string(nil), c.defaults...) }

// UndefinedError names a requested scope the server does not define.
type UndefinedError struct{ Scope string }

func (e *UndefinedError) Error() string { return fmt.Sprintf("scope %q is not defined", e.Scope) }

// Resolve turns a request's scope parameter into the scopes to grant: the defaults when
// none are asked for, otherwise the requested ones, each of which must be defined. The
// wildcard is accepted only when allowWildcard is true.
func (c *Catalog) Resolve(requested []string, allowWildcard bool) ([]string, error) {
	if len(requested) == 0 {
		return c.Defaults(), nil
	}
	for _, s := range requested {
		if s == Wildcard {
			if !allowWildcard {
				return nil, ErrWildcardNotAllowed
			}
			continue
		}
		if !c.Defined(s) {
			return nil, &UndefinedError{Scope: s}
		}
	}
	return append([]string(nil), requested...), nil
}
