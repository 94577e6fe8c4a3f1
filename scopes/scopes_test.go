package scopes

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseSplitsOnWhitespaceAndDropsDuplicates(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   ", nil},
		{"a", []string{"a"}},
		{"a b", []string{"a", "b"}},
		{"  a \t b\n", []string{"a", "b"}},
		{"b a b a", []string{"b", "a"}},
		{"*", []string{"*"}},
		{"orders:read * orders:read", []string{"orders:read", "*"}},
	}
	for _, c := range cases {
		if got := Parse(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Parse(%q) = %#v, want %#v", c.in, got, c.want)
		}
	}
}

func TestFormatJoinsWithSingleSpaces(t *testing.T) {
	if got := Format([]string{"a", "b", "c"}); got != "a b c" {
		t.Errorf("Format = %q", got)
	}
	if got := Format(nil); got != "" {
		t.Errorf("Format(nil) = %q", got)
	}
	if got := Format(Parse(" x  y ")); got != "x y" {
		t.Errorf("round trip = %q", got)
	}
}

func TestGrantsHonoursTheWildcard(t *testing.T) {
	cases := []struct {
		granted []string
		scope   string
		want    bool
	}{
		{nil, "a", false},
		{[]string{"a"}, "a", true},
		{[]string{"a"}, "b", false},
		{[]string{"*"}, "anything", true},
		{[]string{"b", "*"}, "a", true},
		// Matching is exact: no prefixes, no case folding.
		{[]string{"orders"}, "orders:read", false},
		{[]string{"Orders:Read"}, "orders:read", false},
	}
	for _, c := range cases {
		if got := Grants(c.granted, c.scope); got != c.want {
			t.Errorf("Grants(%v, %q) = %v, want %v", c.granted, c.scope, got, c.want)
		}
	}
}

func TestAllAndAnyRules(t *testing.T) {
	cases := []struct {
		name     string
		granted  []string
		required []string
		all, any bool
	}{
		{"nothing required", []string{"a"}, nil, true, true},
		{"nothing required, nothing granted", nil, nil, true, true},
		{"all present", []string{"a", "b", "c"}, []string{"a", "b"}, true, true},
		{"one of two", []string{"a"}, []string{"a", "b"}, false, true},
		{"none of two", []string{"c"}, []string{"a", "b"}, false, false},
		{"nothing granted", nil, []string{"a"}, false, false},
		{"wildcard satisfies all", []string{"*"}, []string{"a", "b"}, true, true},
		{"order does not matter", []string{"b", "a"}, []string{"a", "b"}, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := HasAll(c.granted, c.required); got != c.all {
				t.Errorf("HasAll = %v, want %v", got, c.all)
			}
			if got := HasAny(c.granted, c.required); got != c.any {
				t.Errorf("HasAny = %v, want %v", got, c.any)
			}
			if got := (Rule{Mode: All, Scopes: c.required}).Satisfied(c.granted); got != c.all {
				t.Errorf("Rule all = %v, want %v", got, c.all)
			}
			if got := (Rule{Mode: Any, Scopes: c.required}).Satisfied(c.granted); got != c.any {
				t.Errorf("Rule any = %v, want %v", got, c.any)
			}
		})
	}
}

func TestSatisfiedAllNeedsEveryRule(t *testing.T) {
	rules := []Rule{
		{Mode: All, Scopes: []string{"orders:read"}},
		{Mode: Any, Scopes: []string{"admin", "support"}},
	}
	cases := []struct {
		granted []string
		want    bool
	}{
		{[]string{"orders:read", "support"}, true},
		{[]string{"orders:read"}, false},
		{[]string{"support"}, false},
		{[]string{"*"}, true},
	}
	for _, c := range cases {
		if got := SatisfiedAll(rules, c.granted); got != c.want {
			t.Errorf("SatisfiedAll(%v) = %v, want %v", c.granted, got, c.want)
		}
	}
	if !SatisfiedAll(nil, nil) {
		t.Error("no rules must always be satisfied")
	}
}

func TestParseModeAcceptsOnlyAllAndAny(t *testing.T) {
	for in, want := range map[string]Mode{"all": All, "any": Any} {
		m, err := ParseMode(in)
		if err != nil || m != want || m.String() != in {
			t.Errorf("ParseMode(%q) = %v, %v", in, m, err)
		}
	}
	for _, bad := range []string{"", "ALL", "some", "every"} {
		if _, err := ParseMode(bad); err == nil {
			t.Errorf("ParseMode(%q) accepted", bad)
		}
	}
}

func testCatalog(t *testing.T) *Catalog {
	t.Helper()
	c, err := NewCatalog([]Definition{
		{Name: "orders:read", Description: "Read orders"},
		{Name: "orders:write", Description: "Write orders"},
		{Name: "profile"},
	}, []string{"orders:read", "profile"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCatalogResolveGivesDefaultsWhenNoneRequested(t *testing.T) {
	c := testCatalog(t)
	for _, allow := range []bool{true, false} {
		got, err := c.Resolve(nil, allow)
		if err != nil || !reflect.DeepEqual(got, []string{"orders:read", "profile"}) {
			t.Errorf("Resolve(nil, %v) = %v, %v", allow, got, err)
		}
	}
	// The defaults are a copy: changing the result leaves the catalog alone.
	got, _ := c.Resolve(nil, false)
	got[0] = "mutated"
	if again, _ := c.Resolve(nil, false); again[0] != "orders:read" {
		t.Fatal("Resolve returned the catalog's own slice")
	}
}

func TestCatalogResolveWildcardOnlyWhenAllowed(t *testing.T) {
	c := testCatalog(t)
	got, err := c.Resolve([]string{"*"}, true)
	if err != nil || !reflect.DeepEqual(got, []string{"*"}) {
		t.Fatalf("Resolve(*, allowed) = %v, %v", got, err)
	}
	if _, err := c.Resolve([]string{"orders:read", "*"}, false); !errors.Is(err, ErrWildcardNotAllowed) {
		t.Fatalf("Resolve(*, not allowed) err = %v", err)
	}
}

func TestCatalogResolveRefusesUndefinedScopes(t *testing.T) {
	c := testCatalog(t)
	_, err := c.Resolve([]string{"orders:read", "admin"}, true)
	var undef *UndefinedError
	if !errors.As(err, &undef) || undef.Scope != "admin" {
		t.Fatalf("err = %v", err)
	}
	got, err := c.Resolve([]string{"orders:write"}, false)
	if err != nil || !reflect.DeepEqual(got, []string{"orders:write"}) {
		t.Fatalf("defined scope: %v %v", got, err)
	}
}

func TestNewCatalogRefusesBadDefinitions(t *testing.T) {
	cases := map[string]struct {
		defs     []Definition
		defaults []string
	}{
		"empty name":              {[]Definition{{Name: ""}}, nil},
		"wildcard defined":        {[]Definition{{Name: "*"}}, nil},
		"defined twice":           {[]Definition{{Name: "a"}, {Name: "a"}}, nil},
		"default not defined":     {[]Definition{{Name: "a"}}, []string{"b"}},
		"wildcard as default":     {[]Definition{{Name: "a"}}, []string{"*"}},
		"default with no catalog": {nil, []string{"a"}},
	}
	for name, c := range cases {
		if _, err := NewCatalog(c.defs, c.defaults); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCatalogListsDefinitionsInOrderAndNamesSorted(t *testing.T) {
	c := testCatalog(t)
	defs := c.Definitions()
	if len(defs) != 3 || defs[0].Name != "orders:read" || defs[0].Description != "Read orders" || defs[2].Name != "profile" {
		t.Errorf("Definitions = %+v", defs)
	}
	if got := c.Names(); !reflect.DeepEqual(got, []string{"orders:read", "orders:write", "profile"}) {
		t.Errorf("Names = %v", got)
	}
	if !c.Defined("profile") || c.Defined("*") || c.Defined("admin") {
		t.Error("Defined is wrong")
	}
	var zero Catalog
	if zero.Defined("a") || len(zero.Definitions()) != 0 {
		t.Error("the zero catalog defines something")
	}
	if got, err := zero.Resolve(nil, true); err != nil || len(got) != 0 {
		t.Errorf("zero catalog Resolve = %v %v", got, err)
	}
}
