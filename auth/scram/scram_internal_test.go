package scram

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/emqgo/broker"
)

// TestRFC7677Vector runs the SCRAM-SHA-256 example of RFC 7677 §3 through
// the server side, with the example's server nonce.
func TestRFC7677Vector(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	creds, err := NewCredentials("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	a := New(Users(map[string]Credentials{"user": creds}))
	a.nonce = func() string { return "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0" }
	info := &broker.ClientInfo{ClientID: "c"}
	step, err := a.Start(context.Background(), info, []byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"))
	if err != nil || step.Result != broker.AuthContinue {
		t.Fatalf("Start: %+v, %v", step, err)
	}
	const serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	if string(step.Data) != serverFirst {
		t.Fatalf("server-first-message %q, want %q", step.Data, serverFirst)
	}
	final, err := step.Next(context.Background(),
		[]byte("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	if err != nil || final.Result != broker.AuthSuccess {
		t.Fatalf("final: %+v, %v", final, err)
	}
	if string(final.Data) != "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" {
		t.Fatalf("server-final-message %q", final.Data)
	}
	if info.Username != "user" {
		t.Fatalf("ClientInfo.Username %q, want the SCRAM user", info.Username)
	}
}

// TestMalformed checks that malformed SCRAM messages fail the exchange.
func TestMalformed(t *testing.T) {
	creds, _ := NewCredentials("pw", []byte("saltsalt"), 4096)
	a := New(Users(map[string]Credentials{"u": creds}))
	for _, first := range []string{"", "n,,", "p=tls-unique,,n=u,r=abc", "n,a=admin,n=u,r=abc", "n,,r=abc,n=u",
		"n,,n=u", "n,,n=,r=abc", "n,,n=a=2Xb,r=abc", "n,,n=u,r=a\x01b"} {
		if _, err := a.Start(context.Background(), &broker.ClientInfo{}, []byte(first)); err == nil {
			t.Errorf("client-first-message %q accepted", first)
		}
	}
	step, err := a.Start(context.Background(), &broker.ClientInfo{}, []byte("n,,n=u,r=abc"))
	if err != nil {
		t.Fatal(err)
	}
	nonce := string(step.Data[2:bytesIndex(step.Data, ',')])
	for _, final := range []string{"", "c=biws,r=" + nonce, "c=eSws,r=" + nonce + ",p=AAAA", "c=biws,r=abc,p=AAAA",
		"c=biws,r=" + nonce + ",p=!!!", "c=biws,r=" + nonce + ",p=AAAA"} {
		got, err := step.Next(context.Background(), []byte(final))
		if err == nil && got.Result != broker.AuthFail {
			t.Errorf("client-final-message %q: %+v", final, got)
		}
	}
	if _, err := NewCredentials("pw", []byte("short"), 4096); err == nil {
		t.Error("short salt accepted")
	}
	if _, err := NewCredentials("pw", []byte("saltsalt"), 1000); err == nil {
		t.Error("1000 iterations accepted")
	}
}

func bytesIndex(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
