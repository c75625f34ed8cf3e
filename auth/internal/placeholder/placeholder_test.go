package placeholder

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// hostile are values that must never change the shape of a query,
// command or request.
var hostile = []string{"' or '1'='1", "%u", "%", "&x=y", "a b\tc", "x'); DROP TABLE mqtt_user; --", "$1", "?", "\"quoted\"", "中文", ""}

func TestSQL(t *testing.T) {
	const src = "select password, salt from mqtt_user where username = '%u' and clientid = '%c' or ipaddr = '%a' and note like '%uabc' and x = %u limit 1"
	for _, tc := range []struct {
		style Style
		text  string
	}{
		{Question, "select password, salt from mqtt_user where username = ? and clientid = ? or ipaddr = ? and note like '%uabc' and x = %u limit 1"},
		{Dollar, "select password, salt from mqtt_user where username = $1 and clientid = $2 or ipaddr = $3 and note like '%uabc' and x = %u limit 1"},
	} {
		q, err := ParseSQL(src, tc.style)
		if err != nil {
			t.Fatal(err)
		}
		if q.Text != tc.text {
			t.Errorf("Text =\n %s\nwant\n %s", q.Text, tc.text)
		}
		if want := []Var{Username, ClientID, PeerHost}; !reflect.DeepEqual(q.Vars, want) {
			t.Errorf("Vars = %v, want %v", q.Vars, want)
		}
		for _, h := range hostile {
			v := Values{Username: h, ClientID: "c" + h, PeerHost: "127.0.0.1"}
			args := q.Args(&v)
			if want := []any{h, "c" + h, "127.0.0.1"}; !reflect.DeepEqual(args, want) {
				t.Errorf("Args = %q, want %q", args, want)
			}
		}
	}
	if _, err := ParseSQL("select 1 where a = '%P'", Question, Username, ClientID); err == nil || !strings.Contains(err.Error(), "%P is not available") {
		t.Errorf("a disallowed placeholder: err = %v", err)
	}
}

func TestCommand(t *testing.T) {
	c, err := ParseCommand("HMGET  mqtt_user:%u password salt %c:%u%% %")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hostile {
		v := Values{Username: h, ClientID: "id"}
		got := c.Args(&v)
		want := []string{"HMGET", "mqtt_user:" + h, "password", "salt", "id:" + h + "%%", "%"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Args(%q) = %q, want %q", h, got, want)
		}
	}
	if _, err := ParseCommand("  "); err == nil {
		t.Error("empty command accepted")
	}
	if _, err := ParseCommand("GET %t", Username); err == nil {
		t.Error("a disallowed placeholder was accepted")
	}
}

func TestParams(t *testing.T) {
	ps, err := ParseParams("clientid=%c, username=%u,password=%P,,access=%A,topic=%t,ip=%a,cn=%C,dn=%d,static=v1")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ps.String(), "clientid=%c,username=%u,password=%P,access=%A,topic=%t,ip=%a,cn=%C,dn=%d,static=v1"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if !ps.Uses(Password) || ps.Uses(Var('x')) {
		t.Error("Uses is wrong")
	}
	for _, h := range hostile {
		v := Values{ClientID: h, Username: h, Password: h, Access: AccessPublish, Topic: h + "/#", PeerHost: "::1", CertCN: h, CertDN: "CN=" + h}
		enc := ps.Encode(&v)
		got, err := url.ParseQuery(enc)
		if err != nil {
			t.Fatalf("Encode gave %q: %v", enc, err)
		}
		want := url.Values{
			"clientid": {h}, "username": {h}, "password": {h}, "access": {"2"}, "topic": {h + "/#"},
			"ip": {"::1"}, "cn": {h}, "dn": {"CN=" + h}, "static": {"v1"},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Encode(%q) = %q, decoded %v, want %v", h, enc, got, want)
		}
		if !reflect.DeepEqual(ps.Values(&v), want) {
			t.Errorf("Values(%q) = %v", h, ps.Values(&v))
		}
		if strings.Count(enc, "&") != len(ps)-1 {
			t.Errorf("Encode(%q) = %q: the value added a parameter", h, enc)
		}
	}
	for _, bad := range []string{"a", "=x", "a=%u%c", "a=x%u", "a=%", "a=%z", "a=100%"} {
		if _, err := ParseParams(bad); err == nil {
			t.Errorf("ParseParams(%q) accepted", bad)
		}
	}
	if _, err := ParseParams("t=%t", Username, Password); err == nil {
		t.Error("a disallowed placeholder was accepted")
	}
}

func TestClientValues(t *testing.T) {
	v := ClientValues("c1", "u1", netip.MustParseAddrPort("[::ffff:10.0.0.7]:1883"), nil)
	if v != (Values{ClientID: "c1", Username: "u1", PeerHost: "10.0.0.7"}) {
		t.Errorf("ClientValues = %+v", v)
	}
	if v := ClientValues("c", "", netip.AddrPort{}, nil); v.PeerHost != "" {
		t.Errorf("no peer: PeerHost = %q", v.PeerHost)
	}
	cert := &x509.Certificate{Subject: pkix.Name{CommonName: "device-7", Organization: []string{"emqgo"}, Country: []string{"SE"}}}
	v = ClientValues("c", "u", netip.MustParseAddrPort("192.0.2.1:5"), &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}})
	if v.CertCN != "device-7" || v.CertDN != "CN=device-7,O=emqgo,C=SE" || v.PeerHost != "192.0.2.1" {
		t.Errorf("with a certificate: %+v", v)
	}
	for _, p := range All {
		if !p.valid() || p.String() != "%"+string(p) {
			t.Errorf("%c", p)
		}
	}
	full := Values{"u", "c", "a", "P", "t", "A", "C", "d"}
	for _, p := range All {
		if got := full.Get(p); got != string(p) {
			t.Errorf("Get(%s) = %q", p, got)
		}
	}
	if full.Get('z') != "" {
		t.Error("Get of an unknown placeholder")
	}
}
