package authserver

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
)

// TestSubjectDNIsComparedAsAParsedName: a registered subject_dn matches a certificate's
// subject as a distinguished name (RFC 8705 §2.1.2, RFC 4514), not as a string.
func TestSubjectDNIsComparedAsAParsedName(t *testing.T) {
	cn, o, ou, c, uid := asn1.ObjectIdentifier{2, 5, 4, 3}, asn1.ObjectIdentifier{2, 5, 4, 10},
		asn1.ObjectIdentifier{2, 5, 4, 11}, asn1.ObjectIdentifier{2, 5, 4, 6}, asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}
	atv := func(oid asn1.ObjectIdentifier, v string) pkix.AttributeTypeAndValue {
		return pkix.AttributeTypeAndValue{Type: oid, Value: v}
	}
	// C=DE, O=Example Corp, CN=app: written "CN=app,O=Example Corp,C=DE".
	std := pkix.RDNSequence{{atv(c, "DE")}, {atv(o, "Example Corp")}, {atv(cn, "app")}}
	cases := []struct {
		dn      string
		subject pkix.RDNSequence
		want    bool
	}{
		{"CN=app,O=Example Corp,C=DE", std, true},
		{"cn=APP, o = example   corp , c=de", std, true},
		{"2.5.4.3=app,2.5.4.10=Example Corp,2.5.4.6=DE", std, true},
		{`CN=a\,b\+c\\d,O=Example Corp,C=DE`, pkix.RDNSequence{{atv(c, "DE")}, {atv(o, "Example Corp")}, {atv(cn, `a,b+c\d`)}}, true},
		{`CN=caf\C3\A9,O=Example Corp,C=DE`, pkix.RDNSequence{{atv(c, "DE")}, {atv(o, "Example Corp")}, {atv(cn, "café")}}, true},
		{"CN=app+UID=7,C=DE", pkix.RDNSequence{{atv(c, "DE")}, {atv(uid, "7"), atv(cn, "app")}}, true},
		// Refused: order, a missing or extra attribute, a value that only contains the other,
		// the string of one attribute smuggling another's separator.
		{"C=DE,O=Example Corp,CN=app", std, false},
		{"CN=app,O=Example Corp", std, false},
		{"CN=app,OU=x,O=Example Corp,C=DE", std, false},
		{"CN=ap,O=Example Corp,C=DE", std, false},
		{`CN=app\,O=Example Corp,C=DE`, std, false},
		{"CN=app+UID=7,C=DE", pkix.RDNSequence{{atv(c, "DE")}, {atv(uid, "7")}, {atv(cn, "app")}}, false},
		{"CN=app,O=Example Corp,C=DE", pkix.RDNSequence{{atv(c, "DE")}, {atv(ou, "Example Corp")}, {atv(cn, "app")}}, false},
	}
	for _, tc := range cases {
		raw, err := asn1.Marshal(tc.subject)
		if err != nil {
			t.Fatal(err)
		}
		cert := &x509.Certificate{RawSubject: raw}
		if got := certificateNames(cert, "subject_dn", tc.dn); got != tc.want {
			t.Errorf("%q against %v: %v, want %v", tc.dn, tc.subject, got, tc.want)
		}
	}
	for _, bad := range []string{"", "app", "CN=", "CN=#0403616170", `CN=a\`, `CN=a\Z`, "XX=app", "CN=app,", `CN=a"b`} {
		if _, err := parseDN(bad); err == nil {
			t.Errorf("parseDN(%q) accepted", bad)
		}
	}
}
