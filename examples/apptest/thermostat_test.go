package apptest

import (
	"net"
	"net/url"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
)

// connectPaho connects a Paho client to the in-process broker: the client
// dials nothing, it gets an in-memory connection from the broker.
func connectPaho(t *testing.T, b *brokertest.Broker, id string) mqtt.Client {
	t.Helper()
	opts := mqtt.NewClientOptions().
		AddBroker("tcp://in-process:1883").
		SetClientID(id).
		SetAutoReconnect(false).
		SetCustomOpenConnectionFn(func(*url.URL, mqtt.ClientOptions) (net.Conn, error) {
			return b.InProcessConn()
		})
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("paho connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func TestThermostatSwitchesHeater(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	th := &Thermostat{Client: connectPaho(t, b, "thermostat"), Threshold: 19}
	if err := th.Start(); err != nil {
		t.Fatal(err)
	}

	// A test client plays the sensors and the heaters.
	dev := b.Dial(t, "devices")
	dev.Subscribe(t, "home/+/heater", 1)

	dev.Publish(t, "home/kitchen/temperature", []byte("17.5"), 1, false)
	if m := dev.Expect(t, "home/kitchen/heater"); string(m.Payload) != "on" {
		t.Fatalf("heater command = %q, want on", m.Payload)
	}
	dev.Publish(t, "home/kitchen/temperature", []byte("21"), 1, false)
	if m := dev.Expect(t, "home/kitchen/heater"); string(m.Payload) != "off" {
		t.Fatalf("heater command = %q, want off", m.Payload)
	}
	dev.Publish(t, "home/kitchen/temperature", []byte("warm"), 1, false)
	dev.ExpectNone(t, 200*time.Millisecond)
}
