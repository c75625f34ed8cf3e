package scram_test

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"go.uber.org/goleak"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/scram"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/packets"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// client is the client side of SCRAM-SHA-256 (RFC 5802 §3, §5), written
// from the RFC independently of the server side.
type client struct {
	user, pass string
	nonce      string
	bare       string
	serverSig  []byte
}

func newClient(user, pass string) *client {
	b := make([]byte, 16)
	rand.Read(b)
	return &client{user: user, pass: pass, nonce: base64.RawURLEncoding.EncodeToString(b)}
}

func (c *client) first() []byte {
	name := strings.NewReplacer("=", "=3D", ",", "=2C").Replace(c.user)
	c.bare = "n=" + name + ",r=" + c.nonce
	return []byte("n,," + c.bare)
}

func (c *client) final(serverFirst []byte) ([]byte, error) {
	attrs := map[string]string{}
	for _, kv := range strings.Split(string(serverFirst), ",") {
		if len(kv) < 2 || kv[1] != '=' {
			return nil, errors.New("bad server-first-message")
		}
		attrs[kv[:1]] = kv[2:]
	}
	nonce := attrs["r"]
	if !strings.HasPrefix(nonce, c.nonce) || len(nonce) == len(c.nonce) {
		return nil, errors.New("server nonce does not extend ours")
	}
	salt, err := base64.StdEncoding.DecodeString(attrs["s"])
	if err != nil {
		return nil, err
	}
	iter, err := strconv.Atoi(attrs["i"])
	if err != nil {
		return nil, err
	}
	salted, err := pbkdf2.Key(sha256.New, c.pass, salt, iter, sha256.Size)
	if err != nil {
		return nil, err
	}
	mac := func(key []byte, s string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	withoutProof := "c=" + base64.StdEncoding.EncodeToString([]byte("n,,")) + ",r=" + nonce
	authMessage := c.bare + "," + string(serverFirst) + "," + withoutProof
	proof := make([]byte, sha256.Size)
	subtle.XORBytes(proof, clientKey, mac(stored[:], authMessage))
	c.serverSig = mac(mac(salted, "Server Key"), authMessage)
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

// verify checks the server-final-message: the broker knew our credentials.
func (c *client) verify(serverFinal []byte) error {
	if string(serverFinal) != "v="+base64.StdEncoding.EncodeToString(c.serverSig) {
		return errors.New("server signature does not verify")
	}
	return nil
}

func newBroker(t *testing.T, setup ...func(*broker.Broker)) *brokertest.Broker {
	t.Helper()
	salt := make([]byte, 16)
	rand.Read(salt)
	alice, err := scram.NewCredentials("wonderland", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	rand.Read(salt)
	bob, _ := scram.NewCredentials("b,o=b", salt, 8192)
	users := scram.Users(map[string]scram.Credentials{"alice": alice, "b=b,": bob})
	return brokertest.New(t, broker.Options{DenyAnonymous: true}, append([]func(*broker.Broker){func(b *broker.Broker) {
		b.RegisterEnhancedAuth(scram.New(users))
	}}, setup...)...)
}

// connectSCRAM runs the exchange of §4.12 with brokertest's client: CONNECT
// with the client-first-message, AUTH 0x18 both ways [MQTT-4.12.0-2],
// [MQTT-4.12.0-3], then CONNACK, every packet carrying the method
// [MQTT-4.12.0-5].
// connectUser is the CONNECT's User Name, if any.
func connectSCRAM(t *testing.T, b *brokertest.Broker, id string, sc *client, connectUser ...string) (*brokertest.Client, *packets.Connack) {
	t.Helper()
	c := brokertest.NewClient(t, b.Conn(t), id, brokertest.WithVersion(packets.Version5))
	cp := &packets.Connect{ProtocolName: "MQTT", ProtocolVersion: packets.Version5, CleanStart: true, ClientID: id,
		Properties: &packets.Properties{AuthMethod: scram.Method, AuthData: sc.first()}}
	if len(connectUser) > 0 {
		cp.UsernameFlag, cp.Username = true, connectUser[0]
	}
	c.Send(t, cp)
	switch p := c.Next(t).(type) {
	case *packets.Connack:
		return c, p
	case *packets.Auth:
		if p.ReasonCode != packets.ContinueAuthentication || p.Properties == nil || p.Properties.AuthMethod != scram.Method {
			t.Fatalf("AUTH %+v", p)
		}
		final, err := sc.final(p.Properties.AuthData)
		if err != nil {
			t.Fatal(err)
		}
		c.Send(t, &packets.Auth{ReasonCode: packets.ContinueAuthentication, Properties: &packets.Properties{AuthMethod: scram.Method, AuthData: final}})
	default:
		t.Fatalf("got %T", p)
	}
	ack, ok := c.Next(t).(*packets.Connack)
	if !ok {
		t.Fatal("no CONNACK")
	}
	return c, ack
}

// TestConnect authenticates with SCRAM-SHA-256 through the broker: the right
// password connects and the client verifies the broker's signature in the
// CONNACK; a wrong password or an unknown user gets 0x87 only after the
// whole exchange; the user name the exchange proved is the client's.
func TestConnect(t *testing.T) {
	var authed []string
	b := newBroker(t, func(b *broker.Broker) {
		broker.On(b, broker.ClientAuthenticateHook, func(_ context.Context, c *broker.ClientInfo, d broker.Decision) (broker.Decision, broker.Flow) {
			authed = append(authed, c.Username+":"+d.String())
			return d, broker.Continue
		})
	})
	for _, tc := range []struct {
		name, user, pass string
		want             packets.ReasonCode
	}{
		{"alice", "alice", "wonderland", packets.Success},
		{"escaped name", "b=b,", "b,o=b", packets.Success},
		{"wrong password", "alice", "looking-glass", packets.NotAuthorized},
		{"unknown user", "mallory", "wonderland", packets.NotAuthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := newClient(tc.user, tc.pass)
			c, ack := connectSCRAM(t, b, "c-"+tc.name, sc)
			if ack.ReasonCode != tc.want {
				t.Fatalf("CONNACK %v, want %v", ack.ReasonCode, tc.want)
			}
			if tc.want != packets.Success {
				c.ExpectClosed(t)
				return
			}
			if ack.Properties == nil || ack.Properties.AuthMethod != scram.Method {
				t.Fatalf("CONNACK properties %+v, want the method [MQTT-4.12.0-5]", ack.Properties)
			}
			if err := sc.verify(ack.Properties.AuthData); err != nil {
				t.Fatal(err)
			}
			if info, ok := b.Client("c-" + tc.name); !ok || info.Username != tc.user {
				t.Fatalf("Client() = %+v, %v; want user %q", info, ok, tc.user)
			}
			c.Publish(t, "a", []byte("x"), 1, false)
			c.Disconnect(t)
		})
	}
	if want := []string{"alice:allow", "b=b,:allow", ":deny", ":deny"}; strings.Join(authed, " ") != strings.Join(want, " ") {
		t.Errorf("client.authenticate saw %v, want %v", authed, want)
	}
}

// TestConnectRefusals checks the refusals around the exchange: an unknown
// method gets CONNACK 0x8C [MQTT-4.12.0-1]; an AUTH with another method, a
// PUBLISH before CONNACK, and a SCRAM user other than the CONNECT's user
// name are refused.
func TestConnectRefusals(t *testing.T) {
	b := newBroker(t)
	t.Run("unknown method", func(t *testing.T) {
		c, code := b.Connect(t, "m", brokertest.WithVersion(packets.Version5),
			brokertest.WithProperties(&packets.Properties{AuthMethod: "KERBEROS"}))
		if code != packets.BadAuthenticationMethod {
			t.Fatalf("CONNACK %v, want 0x8C", code)
		}
		c.ExpectClosed(t)
	})
	for _, tc := range []struct {
		name  string
		reply packets.Packet
		want  packets.ReasonCode
	}{
		{"other method", &packets.Auth{ReasonCode: packets.ContinueAuthentication, Properties: &packets.Properties{AuthMethod: "PLAIN"}}, packets.ProtocolError},
		{"publish", &packets.Publish{Topic: "a"}, packets.ProtocolError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := brokertest.NewClient(t, b.Conn(t), "x", brokertest.WithVersion(packets.Version5))
			c.Send(t, &packets.Connect{ProtocolName: "MQTT", ProtocolVersion: packets.Version5, ClientID: "x",
				Properties: &packets.Properties{AuthMethod: scram.Method, AuthData: newClient("alice", "wonderland").first()}})
			if _, ok := c.Next(t).(*packets.Auth); !ok {
				t.Fatal("no AUTH")
			}
			c.Send(t, tc.reply)
			if ack, ok := c.Next(t).(*packets.Connack); !ok || ack.ReasonCode != tc.want {
				t.Fatalf("got %+v, want CONNACK %v", ack, tc.want)
			}
			c.ExpectClosed(t)
		})
	}
	t.Run("user name mismatch", func(t *testing.T) {
		c, ack := connectSCRAM(t, b, "u", newClient("alice", "wonderland"), "bob")
		if ack.ReasonCode != packets.NotAuthorized {
			t.Fatalf("CONNACK %v, want 0x87", ack.ReasonCode)
		}
		c.ExpectClosed(t)
	})
}

// TestReauthenticate runs re-authentication [MQTT-4.12.1-1]: AUTH 0x19 with
// the same method starts the exchange again while the client keeps
// publishing, success ends with AUTH 0x00 carrying the server-final-message,
// and a failure closes the connection with DISCONNECT 0x87
// [MQTT-4.12.1-2].
func TestReauthenticate(t *testing.T) {
	b := newBroker(t)
	watcher, _ := connectSCRAM(t, b, "watcher", newClient("alice", "wonderland"))
	watcher.Subscribe(t, "re/#", 1)
	c, ack := connectSCRAM(t, b, "re", newClient("alice", "wonderland"))
	if ack.ReasonCode != packets.Success {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	for _, tc := range []struct {
		pass string
		ok   bool
	}{{"wonderland", true}, {"wonderland", true}, {"wrong", false}} {
		sc := newClient("alice", tc.pass)
		c.Send(t, &packets.Auth{ReasonCode: packets.ReAuthenticate, Properties: &packets.Properties{AuthMethod: scram.Method, AuthData: sc.first()}})
		c.Publish(t, "re/during", []byte("x"), 1, false) // the connection works meanwhile
		watcher.Expect(t, "re/during")
		var challenge *packets.Auth
		for challenge == nil {
			switch p := c.Next(t).(type) {
			case *packets.Auth:
				challenge = p
			case *packets.Puback:
			default:
				t.Fatalf("got %T", p)
			}
		}
		if challenge.ReasonCode != packets.ContinueAuthentication {
			t.Fatalf("AUTH %v, want 0x18", challenge.ReasonCode)
		}
		final, err := sc.final(challenge.Properties.AuthData)
		if err != nil {
			t.Fatal(err)
		}
		c.Send(t, &packets.Auth{ReasonCode: packets.ContinueAuthentication, Properties: &packets.Properties{AuthMethod: scram.Method, AuthData: final}})
		if !tc.ok {
			if d := c.ExpectClosed(t); d == nil || d.ReasonCode != packets.NotAuthorized {
				t.Fatalf("got %+v, want DISCONNECT 0x87", d)
			}
			return
		}
		done, ok := c.Next(t).(*packets.Auth)
		if !ok || done.ReasonCode != packets.Success || done.Properties.AuthMethod != scram.Method {
			t.Fatalf("got %+v, want AUTH 0x00", done)
		}
		if err := sc.verify(done.Properties.AuthData); err != nil {
			t.Fatal(err)
		}
	}
}

// scramAuther is the SCRAM client for paho.golang's enhanced
// authentication hooks.
type scramAuther struct {
	sc    *client
	final chan []byte
}

func (a *scramAuther) Authenticate(p *paho.Auth) *paho.Auth {
	final, err := a.sc.final(p.Properties.AuthData)
	if err != nil {
		return &paho.Auth{ReasonCode: 0x18, Properties: &paho.AuthProperties{AuthMethod: scram.Method}}
	}
	return &paho.Auth{ReasonCode: 0x18, Properties: &paho.AuthProperties{AuthMethod: scram.Method, AuthData: final}}
}

func (a *scramAuther) Authenticated() {}

// TestPaho authenticates the real MQTT 5 client paho.golang with SCRAM, at
// CONNECT and again with re-authentication.
func TestPaho(t *testing.T) {
	b := newBroker(t)
	sc := newClient("alice", "wonderland")
	auther := &scramAuther{sc: sc}
	c := paho.NewClient(paho.ClientConfig{Conn: b.Conn(t), AuthHandler: auther, OnClientError: func(error) {}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := c.Connect(ctx, &paho.Connect{ClientID: "paho", CleanStart: true,
		Properties: &paho.ConnectProperties{AuthMethod: scram.Method, AuthData: sc.first()}})
	if err != nil {
		t.Fatalf("connect: %v (%+v)", err, ack)
	}
	defer func() { c.Disconnect(&paho.Disconnect{}); <-c.Done() }()
	if err := sc.verify(ack.Properties.AuthData); err != nil {
		t.Fatal(err)
	}
	if info, _ := b.Client("paho"); info.Username != "alice" {
		t.Fatalf("user %q", info.Username)
	}
	sc2 := newClient("alice", "wonderland")
	auther.sc = sc2
	resp, err := c.Authenticate(ctx, &paho.Auth{ReasonCode: 0x19, Properties: &paho.AuthProperties{AuthMethod: scram.Method, AuthData: sc2.first()}})
	if err != nil || !resp.Success {
		t.Fatalf("re-authenticate: %+v, %v", resp, err)
	}
	if _, err := c.Publish(ctx, &paho.Publish{Topic: "after", QoS: 1, Payload: []byte("x")}); err != nil {
		t.Fatalf("publish after re-authentication: %v", err)
	}
}
