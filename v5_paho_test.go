package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/extensions/topicaliases"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/mods/retainer"
	"github.com/emqgo/broker/packets"
)

// This file runs MQTT 5 features with a real MQTT 5 client, Eclipse
// paho.golang, over in-process connections; the MQTT 3.1.1 side of mixed
// tests uses paho.mqtt.golang.

// pahoMsg is a message a paho.golang client received, with its topic
// alias resolved.
type pahoMsg struct {
	topic   string
	alias   uint16 // the Topic Alias the broker used, 0 for none
	payload string
	qos     byte
	props   *paho.PublishProperties
}

// pahoClient is a paho.golang client with its received messages.
type pahoClient struct {
	*paho.Client
	msgs chan pahoMsg
	disc chan *paho.Disconnect
}

// pahoConnect connects a paho.golang client to b and disconnects it at the
// end of the test. cp.ClientID is set to id.
func pahoConnect(t *testing.T, b *brokertest.Broker, id string, cp *paho.Connect, conf ...func(*paho.ClientConfig)) (*pahoClient, *paho.Connack) {
	t.Helper()
	c := &pahoClient{msgs: make(chan pahoMsg, 64), disc: make(chan *paho.Disconnect, 1)}
	var aliasMu sync.Mutex
	aliases := map[uint16]string{}
	cfg := paho.ClientConfig{
		Conn: b.Conn(t),
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			p := pr.Packet
			m := pahoMsg{topic: p.Topic, payload: string(p.Payload), qos: p.QoS, props: p.Properties}
			if p.Properties != nil && p.Properties.TopicAlias != nil {
				m.alias = *p.Properties.TopicAlias
				aliasMu.Lock()
				if p.Topic != "" {
					aliases[m.alias] = p.Topic
				} else {
					m.topic = aliases[m.alias]
				}
				aliasMu.Unlock()
			}
			c.msgs <- m
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) { c.disc <- d },
		OnClientError:      func(error) {},
	}
	for _, f := range conf {
		f(&cfg)
	}
	c.Client = paho.NewClient(cfg)
	if cp == nil {
		cp = &paho.Connect{CleanStart: true}
	}
	cp.ClientID = id
	ctx, cancel := context.WithTimeout(context.Background(), brokertest.Timeout)
	defer cancel()
	ack, err := c.Connect(ctx, cp)
	if err != nil {
		t.Fatalf("paho.golang %s: connect: %v (CONNACK %+v)", id, err, ack)
	}
	t.Cleanup(func() {
		c.Disconnect(&paho.Disconnect{})
		<-c.Done()
	})
	return c, ack
}

func (c *pahoClient) subscribe(t *testing.T, props *paho.SubscribeProperties, subs ...paho.SubscribeOptions) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), brokertest.Timeout)
	defer cancel()
	ack, err := c.Subscribe(ctx, &paho.Subscribe{Properties: props, Subscriptions: subs})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	return ack.Reasons
}

func (c *pahoClient) publish(t *testing.T, p *paho.Publish) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), brokertest.Timeout)
	defer cancel()
	if _, err := c.Publish(ctx, p); err != nil {
		t.Fatalf("publish %q: %v", p.Topic, err)
	}
}

func (c *pahoClient) next(t *testing.T) pahoMsg {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(brokertest.Timeout):
		t.Fatal("paho.golang: no message")
		return pahoMsg{}
	}
}

func (c *pahoClient) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-c.msgs:
		t.Fatalf("paho.golang: unexpected message %q %q", m.topic, m.payload)
	case <-time.After(d):
	}
}

// TestPahoRequestResponse runs MQTT 5 request/response (§4.10): the
// requester asks for Response Information in CONNACK and uses it as the
// prefix of its Response Topic; the responder answers on the Response
// Topic with the request's Correlation Data [MQTT-3.3.2-15],
// [MQTT-3.3.2-16].
func TestPahoRequestResponse(t *testing.T) {
	b := brokertest.New(t, broker.Options{ResponseInformation: "reply/%c/"})
	responder, _ := pahoConnect(t, b, "responder", nil)
	responder.subscribe(t, nil, paho.SubscribeOptions{Topic: "svc/time", QoS: 1})
	requester, ack := pahoConnect(t, b, "requester", &paho.Connect{CleanStart: true,
		Properties: &paho.ConnectProperties{RequestResponseInfo: true}})
	if ack.Properties == nil || ack.Properties.ResponseInfo != "reply/requester/" {
		t.Fatalf("CONNACK Response Information %+v, want reply/requester/", ack.Properties)
	}
	respTopic := ack.Properties.ResponseInfo + "time"
	requester.subscribe(t, nil, paho.SubscribeOptions{Topic: respTopic, QoS: 1})

	for i := range 3 {
		corr := []byte(fmt.Sprintf("req-%d", i))
		requester.publish(t, &paho.Publish{Topic: "svc/time", QoS: 1, Payload: []byte("what time?"),
			Properties: &paho.PublishProperties{ResponseTopic: respTopic, CorrelationData: corr}})
		req := responder.next(t)
		if req.props == nil || req.props.ResponseTopic != respTopic || !bytes.Equal(req.props.CorrelationData, corr) {
			t.Fatalf("request properties %+v", req.props)
		}
		responder.publish(t, &paho.Publish{Topic: req.props.ResponseTopic, QoS: 1, Payload: []byte("noon"),
			Properties: &paho.PublishProperties{CorrelationData: req.props.CorrelationData}})
		resp := requester.next(t)
		if resp.topic != respTopic || resp.payload != "noon" || resp.props == nil || !bytes.Equal(resp.props.CorrelationData, corr) {
			t.Fatalf("response %+v", resp)
		}
	}
}

// TestPahoTopicAliases uses topic aliases both ways with paho.golang: the
// client's topic alias extension publishes with aliases within the
// broker's Topic Alias Maximum, and the broker sends aliases within the
// client's (§3.3.2.3.4).
func TestPahoTopicAliases(t *testing.T) {
	b := brokertest.New(t, broker.Options{TopicAliasMaximum: 10})
	sub, _ := pahoConnect(t, b, "sub", &paho.Connect{CleanStart: true,
		Properties: &paho.ConnectProperties{TopicAliasMaximum: u16p(5)}})
	sub.subscribe(t, nil, paho.SubscribeOptions{Topic: "sensors/#", QoS: 1})
	ta := topicaliases.NewTAHandler(10)
	pub, ack := pahoConnect(t, b, "pub", nil, func(c *paho.ClientConfig) { c.PublishHook = ta.PublishHook })
	if ack.Properties == nil || ack.Properties.TopicAliasMaximum == nil || *ack.Properties.TopicAliasMaximum != 10 {
		t.Fatalf("CONNACK Topic Alias Maximum %+v, want 10", ack.Properties)
	}
	topics := []string{"sensors/a/temperature", "sensors/b/temperature", "sensors/a/temperature", "sensors/b/temperature"}
	for i, tp := range topics {
		pub.publish(t, &paho.Publish{Topic: tp, QoS: 1, Payload: []byte{byte('0' + i)}})
	}
	for i, tp := range topics {
		m := sub.next(t)
		if m.topic != tp || m.payload != string(rune('0'+i)) {
			t.Fatalf("message %d: %q %q, want %q", i, m.topic, m.payload, tp)
		}
		if m.alias == 0 {
			t.Fatalf("message %d: no topic alias from the broker", i)
		}
	}
}

// TestPahoMessageExpiry checks with paho.golang that a message that
// expires while its subscriber is away is never delivered [MQTT-3.3.2-5],
// and that one delivered late carries the rest of its interval
// [MQTT-3.3.2-6].
func TestPahoMessageExpiry(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	persistent := func() *paho.Connect {
		return &paho.Connect{CleanStart: false, Properties: &paho.ConnectProperties{SessionExpiryInterval: u32p(600)}}
	}
	sub, _ := pahoConnect(t, b, "sub", persistent())
	sub.subscribe(t, nil, paho.SubscribeOptions{Topic: "exp/#", QoS: 1})
	sub.Disconnect(&paho.Disconnect{})
	<-sub.Done()
	waitOffline(t, b, "sub")

	pub, _ := pahoConnect(t, b, "pub", nil)
	pub.publish(t, &paho.Publish{Topic: "exp/short", QoS: 1, Payload: []byte("short"), Properties: &paho.PublishProperties{MessageExpiry: u32p(1)}})
	pub.publish(t, &paho.Publish{Topic: "exp/long", QoS: 1, Payload: []byte("long"), Properties: &paho.PublishProperties{MessageExpiry: u32p(60)}})
	time.Sleep(2100 * time.Millisecond)

	sub, ack := pahoConnect(t, b, "sub", persistent())
	if !ack.SessionPresent {
		t.Fatal("session lost")
	}
	m := sub.next(t)
	if m.topic != "exp/long" || m.props == nil || m.props.MessageExpiry == nil || *m.props.MessageExpiry > 58 || *m.props.MessageExpiry < 50 {
		t.Fatalf("got %q with properties %+v, want exp/long with 58s or less left", m.topic, m.props)
	}
	sub.none(t, 50*time.Millisecond)
}

// TestPahoSharedSubscriptions checks MQTT 5 shared subscriptions with
// paho.golang (§4.8.2): CONNACK says they are available, each message of
// the group goes to one member, and a retained message is not sent when a
// shared subscription is made.
func TestPahoSharedSubscriptions(t *testing.T) {
	b := brokertest.New(t, broker.Options{SharedStrategy: "round_robin"}, func(b *broker.Broker) {
		r, err := retainer.New(retainer.Config{})
		if err != nil {
			t.Fatal(err)
		}
		detach, err := r.Attach(b)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(detach)
	})
	b.Publish(context.Background(), broker.Message{Topic: "jobs/retained", Payload: []byte("old"), QoS: 1, Retain: true})
	var workers []*pahoClient
	for i := range 2 {
		w, ack := pahoConnect(t, b, fmt.Sprintf("worker%d", i), nil)
		if ack.Properties == nil || !ack.Properties.SharedSubAvailable {
			t.Fatalf("CONNACK says shared subscriptions are not available: %+v", ack.Properties)
		}
		if rc := w.subscribe(t, nil, paho.SubscribeOptions{Topic: "$share/pool/jobs/#", QoS: 1}); rc[0] != 1 {
			t.Fatalf("SUBACK %v", rc)
		}
		workers = append(workers, w)
	}
	// A plain subscription gets the retained message; the shared ones do not.
	plain, _ := pahoConnect(t, b, "plain", nil)
	plain.subscribe(t, nil, paho.SubscribeOptions{Topic: "jobs/#", QoS: 1})
	if m := plain.next(t); m.topic != "jobs/retained" {
		t.Fatalf("plain subscriber got %q, want the retained message", m.topic)
	}
	pub, _ := pahoConnect(t, b, "pub", nil)
	const n = 10
	for i := range n {
		pub.publish(t, &paho.Publish{Topic: "jobs/work", QoS: 1, Payload: []byte(fmt.Sprint(i))})
	}
	var got []string
	counts := make([]int, len(workers))
	for range n {
		select {
		case m := <-workers[0].msgs:
			got, counts[0] = append(got, m.payload), counts[0]+1
		case m := <-workers[1].msgs:
			got, counts[1] = append(got, m.payload), counts[1]+1
		case <-time.After(brokertest.Timeout):
			t.Fatalf("got %d of %d messages", len(got), n)
		}
	}
	slices.Sort(got)
	if len(slices.Compact(got)) != n || counts[0] != n/2 || counts[1] != n/2 {
		t.Fatalf("workers got %v (split %v), want each message once, round robin", got, counts)
	}
	for _, w := range workers {
		w.none(t, 20*time.Millisecond)
	}
}

// TestPahoNoLocal checks the No Local subscription option with paho.golang:
// a client does not get its own messages back [MQTT-3.8.3-3], others do.
func TestPahoNoLocal(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	a, _ := pahoConnect(t, b, "a", nil)
	a.subscribe(t, nil, paho.SubscribeOptions{Topic: "chat", QoS: 1, NoLocal: true})
	other, _ := pahoConnect(t, b, "other", nil)
	other.subscribe(t, nil, paho.SubscribeOptions{Topic: "chat", QoS: 1, NoLocal: true})
	a.publish(t, &paho.Publish{Topic: "chat", QoS: 1, Payload: []byte("from a")})
	if m := other.next(t); m.payload != "from a" {
		t.Fatalf("other got %q", m.payload)
	}
	other.publish(t, &paho.Publish{Topic: "chat", QoS: 1, Payload: []byte("from other")})
	if m := a.next(t); m.payload != "from other" {
		t.Fatalf("a got %q", m.payload)
	}
	a.none(t, 20*time.Millisecond)
	other.none(t, time.Millisecond)
}

// TestPahoV3SubscriberOfV5Publisher checks that messages flow between
// protocol versions: a paho.mqtt.golang 3.1.1 subscriber gets a valid 3.1.1
// PUBLISH of a paho.golang MQTT 5 publish with properties and a topic
// alias, and the MQTT 5 client gets the 3.1.1 client's messages.
func TestPahoV3SubscriberOfV5Publisher(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	v3msgs := make(chan mqtt.Message, 8)
	o := mqtt.NewClientOptions().AddBroker("tcp://inprocess:1883").SetClientID("v3").SetProtocolVersion(4).
		SetAutoReconnect(false).SetConnectRetry(false).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { v3msgs <- m }).
		SetCustomOpenConnectionFn(func(*url.URL, mqtt.ClientOptions) (net.Conn, error) { return b.InProcessConn() })
	v3 := mqtt.NewClient(o)
	if tok := v3.Connect(); !tok.WaitTimeout(brokertest.Timeout) || tok.Error() != nil {
		t.Fatalf("paho.mqtt.golang connect: %v", tok.Error())
	}
	t.Cleanup(func() { v3.Disconnect(50) })
	if tok := v3.Subscribe("mixed/#", 2, nil); !tok.WaitTimeout(brokertest.Timeout) || tok.Error() != nil {
		t.Fatalf("paho.mqtt.golang subscribe: %v", tok.Error())
	}

	ta := topicaliases.NewTAHandler(5)
	v5c, _ := pahoConnect(t, b, "v5", nil, func(c *paho.ClientConfig) { c.PublishHook = ta.PublishHook })
	v5c.subscribe(t, nil, paho.SubscribeOptions{Topic: "mixed/from-v3", QoS: 2})
	props := &paho.PublishProperties{ContentType: "text/plain", ResponseTopic: "mixed/reply", CorrelationData: []byte("c"),
		MessageExpiry: u32p(60), PayloadFormat: bytep(1), User: paho.UserProperties{{Key: "k", Value: "v"}}}
	for qos := range byte(3) {
		v5c.publish(t, &paho.Publish{Topic: "mixed/from-v5", QoS: qos, Payload: []byte{'q', '0' + qos}, Properties: props})
	}
	for qos := range byte(3) {
		select {
		case m := <-v3msgs:
			if m.Topic() != "mixed/from-v5" || string(m.Payload()) != string([]byte{'q', '0' + qos}) || m.Qos() != qos {
				t.Fatalf("3.1.1 subscriber got %q %q QoS %d", m.Topic(), m.Payload(), m.Qos())
			}
		case <-time.After(brokertest.Timeout):
			t.Fatal("3.1.1 subscriber got nothing")
		}
	}
	if tok := v3.Publish("mixed/from-v3", 1, false, "hello 5"); !tok.WaitTimeout(brokertest.Timeout) || tok.Error() != nil {
		t.Fatalf("paho.mqtt.golang publish: %v", tok.Error())
	}
	if m := v5c.next(t); m.topic != "mixed/from-v3" || m.payload != "hello 5" {
		t.Fatalf("MQTT 5 client got %+v", m)
	}
	if m := <-v3msgs; m.Topic() != "mixed/from-v3" {
		t.Fatalf("3.1.1 subscriber got %q", m.Topic())
	}
}

// TestPahoServerDisconnect checks that paho.golang sees the broker's
// DISCONNECT reason codes: session taken over (0x8E) [MQTT-3.1.4-3].
func TestPahoServerDisconnect(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	first, _ := pahoConnect(t, b, "same", nil)
	pahoConnect(t, b, "same", nil)
	select {
	case d := <-first.disc:
		if d.ReasonCode != byte(packets.SessionTakenOver) {
			t.Fatalf("DISCONNECT %#x, want 0x8E", d.ReasonCode)
		}
	case <-time.After(brokertest.Timeout):
		t.Fatal("no DISCONNECT")
	}
}
