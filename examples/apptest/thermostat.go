// Package apptest is an example of a user's MQTT application and its unit
// tests. The application, a thermostat, uses the Eclipse Paho Go client; its
// tests run it against an in-process emqgo broker from package brokertest,
// with no network port and no external broker.
package apptest

import (
	"fmt"
	"strconv"
	"strings"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Thermostat switches a room's heater on below Threshold degrees and off
// at or above it. It listens on home/<room>/temperature and commands
// home/<room>/heater.
type Thermostat struct {
	Client    mqtt.Client
	Threshold float64
}

// Start subscribes to every room's temperature.
func (t *Thermostat) Start() error {
	tok := t.Client.Subscribe("home/+/temperature", 1, t.onTemperature)
	tok.Wait()
	return tok.Error()
}

func (t *Thermostat) onTemperature(c mqtt.Client, m mqtt.Message) {
	room := strings.Split(m.Topic(), "/")[1]
	deg, err := strconv.ParseFloat(string(m.Payload()), 64)
	if err != nil {
		return // not a number: ignore
	}
	cmd := "off"
	if deg < t.Threshold {
		cmd = "on"
	}
	c.Publish(fmt.Sprintf("home/%s/heater", room), 1, true, cmd)
}
