package subscription

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/packets"
	"github.com/emqgo/broker/topic"
)

// Topic is one automatic subscription: a topic filter template with "%c"
// (client id) and "%u" (user name), and the subscription's QoS.
type Topic struct {
	Topic string `conf:"topic"`
	QoS   byte   `conf:"qos"`
}

// Config configures a Module.
type Config struct {
	// Topics are the subscriptions made for every client, in order.
	Topics []Topic
}

// Validate reports every problem with c, joined with errors.Join.
func (c Config) Validate() error {
	var errs []error
	for i, t := range c.Topics {
		if err := t.validate(); err != nil {
			errs = append(errs, fmt.Errorf("subscription: topic %d: %w", i+1, err))
		}
	}
	return errors.Join(errs...)
}

func (t Topic) validate() error {
	var errs []error
	if t.Topic == "" {
		errs = append(errs, errors.New("empty topic"))
	} else if err := topic.ValidateFilter(Expand(t.Topic, "c", "u")); err != nil {
		errs = append(errs, fmt.Errorf("topic %q: %w", t.Topic, err))
	}
	if t.QoS > 2 {
		errs = append(errs, fmt.Errorf("qos %d: want 0, 1 or 2", t.QoS))
	}
	return errors.Join(errs...)
}

// Module subscribes connecting clients to its topics. Create one with New.
type Module struct {
	cfg Config
}

// New returns a Module configured by cfg, or cfg's problems.
func New(cfg Config) (*Module, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Topics = append([]Topic(nil), cfg.Topics...)
	return &Module{cfg: cfg}, nil
}

// Config returns m's configuration.
func (m *Module) Config() Config {
	c := m.cfg
	c.Topics = append([]Topic(nil), c.Topics...)
	return c
}

// Attach registers m's hook on b: clients that connect from then on are
// subscribed. detach removes it; it is safe to call more than once.
func (m *Module) Attach(b *broker.Broker) (detach func()) {
	return m.register(b, b)
}

// register adds m's hook to r (b itself, or a plugin's host, which removes
// it on unload); clients are subscribed on b.
func (m *Module) register(r broker.Registrar, b *broker.Broker) broker.Unhook {
	log := b.Logger().With("module", "subscription")
	return broker.On(r, broker.ClientConnectedHook, func(ctx context.Context, c *broker.ClientInfo, code packets.ReasonCode) {
		if code != packets.Success {
			return
		}
		m.subscribe(ctx, b, c, log)
	}, broker.Named("subscription"))
}

// Subscriptions returns the subscriptions m makes for client c, in order:
// the templates expanded for c, without those that cannot be (a "%u"
// template for a client without a user name, or a client id or user name
// that would bring a wildcard into the filter).
func (m *Module) Subscriptions(c *broker.ClientInfo) []broker.Subscription {
	subs, _ := m.expand(c)
	return subs
}

// expand returns the subscriptions for c and the templates it skipped.
func (m *Module) expand(c *broker.ClientInfo) (subs []broker.Subscription, skipped []string) {
	for _, t := range m.cfg.Topics {
		if strings.Contains(t.Topic, "%u") && c.Username == "" {
			continue
		}
		if (strings.Contains(t.Topic, "%c") && strings.ContainsAny(c.ClientID, "+#")) ||
			(strings.Contains(t.Topic, "%u") && strings.ContainsAny(c.Username, "+#")) {
			skipped = append(skipped, t.Topic)
			continue
		}
		f := Expand(t.Topic, c.ClientID, c.Username)
		if topic.ValidateFilter(f) != nil {
			skipped = append(skipped, t.Topic)
			continue
		}
		subs = append(subs, broker.Subscription{Filter: f, QoS: t.QoS})
	}
	return subs, skipped
}

func (m *Module) subscribe(ctx context.Context, b *broker.Broker, c *broker.ClientInfo, log *slog.Logger) {
	subs, skipped := m.expand(c)
	for _, t := range skipped {
		log.Warn("automatic subscription skipped: the client id or user name cannot be part of a topic filter",
			"client", c.ClientID, "username", c.Username, "topic", t)
	}
	if len(subs) == 0 {
		return
	}
	have := make(map[string]byte)
	for _, s := range b.Subscriptions(c.ClientID) {
		have[s.Filter] = s.QoS
	}
	todo := subs[:0]
	for _, s := range subs {
		if q, ok := have[s.Filter]; !ok || q != s.QoS {
			todo = append(todo, s)
		}
	}
	if len(todo) == 0 {
		return
	}
	codes, err := b.SubscribeClient(ctx, c.ClientID, todo...)
	if err != nil {
		log.Warn("automatic subscriptions failed", "client", c.ClientID, "err", err)
		return
	}
	for i, rc := range codes {
		if rc.IsError() {
			log.Warn("automatic subscription refused", "client", c.ClientID, "topic", todo[i].Filter, "code", rc)
		} else {
			log.Debug("automatic subscription", "client", c.ClientID, "topic", todo[i].Filter, "qos", byte(rc))
		}
	}
}

// Expand returns template with every "%c" replaced by clientID and every
// "%u" by username.
func Expand(template, clientID, username string) string {
	if !strings.Contains(template, "%") {
		return template
	}
	return strings.NewReplacer("%c", clientID, "%u", username).Replace(template)
}
