package interop_test

// Debian's mosquitto_pub and mosquitto_sub (package mosquitto-clients).

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// mosqFormat makes mosquitto_sub print each message as
// "MSG <qos> <retain> <topic> <payload>"; its -d debug lines start with
// "Client ".
const mosqFormat = "MSG %q %r %t %p"

type mosquitto struct {
	s        *server
	pub, sub string // paths of the tools
	stdbuf   string // coreutils stdbuf: mosquitto_sub's stdout is not line-buffered into a pipe
}

func newMosquitto(t *testing.T, s *server) *mosquitto {
	t.Helper()
	return &mosquitto{
		s:      s,
		pub:    requireTool(t, "mosquitto_pub", "Debian mosquitto-clients"),
		sub:    requireTool(t, "mosquitto_sub", "Debian mosquitto-clients"),
		stdbuf: requireTool(t, "stdbuf", "Debian coreutils"),
	}
}

// subscribe starts mosquitto_sub with args (add -t, -q, -C, ...) and waits
// until the broker has acknowledged its subscriptions. It exits by itself
// after 10 seconds at the latest (-W 10).
func (m *mosquitto) subscribe(t *testing.T, args ...string) *proc {
	t.Helper()
	p := m.startSub(t, args...)
	p.waitLine(t, "received SUBACK", 10*time.Second)
	return p
}

// startSub starts mosquitto_sub with args, its standard output
// line-buffered.
func (m *mosquitto) startSub(t *testing.T, args ...string) *proc {
	t.Helper()
	a := append([]string{"-oL", m.sub, "-h", m.s.Host, "-p", m.s.Port, "-d", "-F", mosqFormat, "-W", "10"}, args...)
	if !slices.Contains(args, "-V") {
		a = append(a, "-V", "mqttv311")
	}
	p := startProc(t, m.stdbuf, a...)
	p.name = "mosquitto_sub"
	return p
}

// publish runs mosquitto_pub with args (add -t, -m, -q, ...) to completion.
func (m *mosquitto) publish(t *testing.T, args ...string) {
	t.Helper()
	a := append([]string{"-h", m.s.Host, "-p", m.s.Port}, args...)
	if !slices.Contains(args, "-V") {
		a = append(a, "-V", "mqttv311")
	}
	run(t, 10*time.Second, m.pub, a...)
}

// messages waits for mosquitto_sub to exit 0 (after its -C count) and
// returns the messages it printed, as "<qos> <retain> <topic> <payload>".
func messages(t *testing.T, p *proc) []string {
	t.Helper()
	p.wait(t, 15*time.Second)
	return lines(p.stdout.String(), "MSG ")
}

func TestMosquitto(t *testing.T) {
	t.Parallel()
	s := startEmqd(t)
	m := newMosquitto(t, s)

	// Three subscribers at QoS 0, 1 and 2 each receive a message published
	// at each QoS, at the lower of the two QoS [MQTT-3.8.4-6].
	t.Run("qos", func(t *testing.T) {
		t.Parallel()
		var subs [3]*proc
		for q := range subs {
			subs[q] = m.subscribe(t, "-i", fmt.Sprintf("mosq-qos-sub%d", q), "-t", "mosq/qos/+", "-q", fmt.Sprint(q), "-C", "3")
		}
		for p := range 3 {
			m.publish(t, "-t", fmt.Sprintf("mosq/qos/p%d", p), "-q", fmt.Sprint(p), "-m", fmt.Sprintf("payload at QoS %d", p))
		}
		for q, sub := range subs {
			got := messages(t, sub)
			var want []string
			for p := range 3 {
				want = append(want, fmt.Sprintf("%d 0 mosq/qos/p%d payload at QoS %d", min(p, q), p, p))
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("subscriber at QoS %d received %q, want %q\n%s", q, got, want, sub)
			}
		}
	})

	// MQTT 3.1 (protocol name MQIsdp, version 3) clients.
	t.Run("mqttv31", func(t *testing.T) {
		t.Parallel()
		sub := m.subscribe(t, "-V", "mqttv31", "-t", "mosq/v31", "-q", "2", "-C", "2")
		m.publish(t, "-V", "mqttv31", "-t", "mosq/v31", "-q", "1", "-m", "three-one")
		m.publish(t, "-V", "mqttv31", "-t", "mosq/v31", "-q", "2", "-m", "three-one again")
		got := messages(t, sub)
		want := []string{"1 0 mosq/v31 three-one", "2 0 mosq/v31 three-one again"}
		if !slices.Equal(got, want) {
			t.Errorf("received %q, want %q\n%s", got, want, sub)
		}
	})

	// MQTT 5 clients.
	t.Run("mqttv5", func(t *testing.T) {
		t.Parallel()
		sub := m.subscribe(t, "-V", "mqttv5", "-t", "mosq/v5", "-q", "2", "-C", "2")
		m.publish(t, "-V", "mqttv5", "-t", "mosq/v5", "-q", "1", "-m", "five")
		m.publish(t, "-V", "mqttv5", "-t", "mosq/v5", "-q", "2", "-m", "five again")
		got := messages(t, sub)
		want := []string{"1 0 mosq/v5 five", "2 0 mosq/v5 five again"}
		if !slices.Equal(got, want) {
			t.Errorf("received %q, want %q\n%s", got, want, sub)
		}
	})

	// mosquitto_pub to the Go client, and the Go client to mosquitto_sub.
	t.Run("with paho go", func(t *testing.T) {
		t.Parallel()
		g := newPaho(t, s, "mosq-go")
		g.sub(t, "mosq/go/from-mosq", 2)
		sub := m.subscribe(t, "-t", "mosq/go/from-go", "-q", "2", "-C", "1")
		m.publish(t, "-t", "mosq/go/from-mosq", "-q", "2", "-m", "hello go")
		checkMsg(t, g.id, g.expect(t), "mosq/go/from-mosq", "hello go", 2, false)
		g.pub(t, "mosq/go/from-go", 2, false, "hello mosquitto")
		if got, want := messages(t, sub), []string{"2 0 mosq/go/from-go hello mosquitto"}; !slices.Equal(got, want) {
			t.Errorf("mosquitto_sub received %q, want %q\n%s", got, want, sub)
		}
	})

	t.Run("retained", func(t *testing.T) {
		t.Parallel()
		m.publish(t, "-t", "mosq/ret/lamp", "-q", "1", "-r", "-m", "on")
		sub := m.subscribe(t, "-t", "mosq/ret/#", "-q", "1", "-C", "1")
		if got, want := messages(t, sub), []string{"1 1 mosq/ret/lamp on"}; !slices.Equal(got, want) {
			t.Errorf("later subscriber received %q, want the retained message %q\n%s", got, want, sub)
		}

		// -r -n: an empty retained message clears it [MQTT-3.3.1-10]. The
		// next subscriber's first message is then a live one.
		m.publish(t, "-t", "mosq/ret/lamp", "-q", "1", "-r", "-n")
		sub = m.subscribe(t, "-t", "mosq/ret/#", "-q", "1", "-C", "1")
		m.publish(t, "-t", "mosq/ret/lamp", "-q", "1", "-m", "live")
		if got, want := messages(t, sub), []string{"1 0 mosq/ret/lamp live"}; !slices.Equal(got, want) {
			t.Errorf("subscriber after the clear received %q, want only the live message %q\n%s", got, want, sub)
		}
	})

	// A subscriber killed with SIGKILL (no DISCONNECT) has its will
	// published [MQTT-3.1.2-8].
	t.Run("will", func(t *testing.T) {
		t.Parallel()
		watcher := m.subscribe(t, "-t", "mosq/will/#", "-q", "1", "-C", "1")
		willer := m.subscribe(t, "-i", "mosq-willer", "-t", "mosq/nothing",
			"--will-topic", "mosq/will/gone", "--will-payload", "bye", "--will-qos", "1")
		willer.kill(t)
		if got, want := messages(t, watcher), []string{"1 0 mosq/will/gone bye"}; !slices.Equal(got, want) {
			t.Errorf("watcher received %q, want the will %q\n%s", got, want, watcher)
		}
	})

	// -c -i: a persistent session at QoS 1 gets on reconnect the messages
	// published while it was away.
	t.Run("session", func(t *testing.T) {
		t.Parallel()
		first := m.subscribe(t, "-c", "-i", "mosq-session", "-t", "mosq/session", "-q", "1", "-E")
		first.wait(t, 10*time.Second)
		for i := range 3 {
			m.publish(t, "-t", "mosq/session", "-q", "1", "-m", fmt.Sprintf("away %d", i))
		}
		again := m.startSub(t, "-c", "-i", "mosq-session", "-t", "mosq/session", "-q", "1", "-C", "3")
		want := []string{"1 0 mosq/session away 0", "1 0 mosq/session away 1", "1 0 mosq/session away 2"}
		if got := messages(t, again); !slices.Equal(got, want) {
			t.Errorf("on reconnect received %q, want %q\n%s", got, want, again)
		}
	})
}
