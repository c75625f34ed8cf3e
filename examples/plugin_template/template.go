package plugintemplate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/packets"
)

// Config configures the template. Its conf tags are the keys of
// etc/plugins/emq_plugin_template.conf without the "plugin.template."
// prefix. Start from DefaultConfig.
type Config struct {
	// HookLogLevel is the level every hook's event is logged at. A
	// slog.Level decodes itself from "debug", "info", "warn" or "error"
	// (it implements encoding.TextUnmarshaler, which conf uses).
	HookLogLevel slog.Level `conf:"hook_log_level"`
	// Auth is what the demo authentication module answers: "ignore" (ask
	// the next module), "allow" or "deny". EMQ's emq_auth_demo allowed
	// everyone.
	Auth string `conf:"auth"`
	// ACL is what the demo ACL module answers, the same way. EMQ's
	// emq_acl_demo allowed everything.
	ACL string `conf:"acl"`
}

// DefaultConfig returns the defaults: hooks logged at Info, and demo
// modules that ignore every question, so that loading the template into a
// broker changes nobody's access.
func DefaultConfig() Config {
	return Config{HookLogLevel: slog.LevelInfo, Auth: "ignore", ACL: "ignore"}
}

// decision parses an answer.
func decision(s string) (broker.Decision, error) {
	switch s {
	case "ignore":
		return broker.Ignore, nil
	case "allow":
		return broker.Allow, nil
	case "deny":
		return broker.Deny, nil
	}
	return broker.Ignore, fmt.Errorf("invalid value %q: want ignore, allow or deny", s)
}

// Validate reports every problem with c, joined with errors.Join.
func (c Config) Validate() error {
	var errs []error
	if _, err := decision(c.Auth); err != nil {
		errs = append(errs, fmt.Errorf("plugintemplate: auth: %w", err))
	}
	if _, err := decision(c.ACL); err != nil {
		errs = append(errs, fmt.Errorf("plugintemplate: acl: %w", err))
	}
	return errors.Join(errs...)
}

// Template is the plugin's working part, independent of how it is wired
// in: a Go host calls New and Attach; emqd loads Plugin, whose Load calls
// New and Register.
type Template struct {
	cfg       Config
	auth, acl broker.Decision
}

// New returns a Template configured by cfg, or cfg's problems. Like every
// constructor of a plugin, it has no side effects: nothing runs until the
// Template is attached.
func New(cfg Config) (*Template, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Template{cfg: cfg}
	t.auth, _ = decision(cfg.Auth)
	t.acl, _ = decision(cfg.ACL)
	return t, nil
}

// Attach wires t into b: the auth and ACL modules, the hooks and the
// command. detach undoes it all; it is safe to call more than once. This
// is what a Go host calls; emqd's plugin registry does the same through a
// broker.PluginHost, which undoes everything on unload by itself.
func (t *Template) Attach(b *broker.Broker) (detach func(), err error) {
	log := b.Logger().With("plugin", "emq_plugin_template")
	unregister, err := b.RegisterCommand(t.Command())
	if err != nil {
		return nil, err
	}
	undo := []func(){
		unregister,
		b.RegisterAuth(t.Auth(log), broker.Named("auth_demo")),
		b.RegisterACL(t.ACL(log), broker.Named("acl_demo")),
	}
	for _, u := range t.Hooks(b, log) {
		undo = append(undo, u)
	}
	return func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}, nil
}

// ---- the authentication module (EMQ: emq_auth_demo.erl) ---------------------

// AuthDemo is the demo authentication module: it logs every client that
// connects and gives the configured answer.
type AuthDemo struct {
	answer broker.Decision
	log    *slog.Logger
}

// Auth returns the demo authentication module, logging to log.
func (t *Template) Auth(log *slog.Logger) *AuthDemo { return &AuthDemo{answer: t.auth, log: log} }

// Authenticate implements broker.Authenticator. Ignore passes the client
// to the next module; an error would deny it (fail closed).
func (a *AuthDemo) Authenticate(_ context.Context, c *broker.ClientInfo, password []byte) (broker.Decision, error) {
	// Never log a password; EMQ's demo did.
	a.log.Info("Auth Demo", "clientid", c.ClientID, "username", c.Username, "password_set", password != nil, "answer", a.answer)
	return a.answer, nil
}

// Description implements broker.Describer (EMQ's description/0).
func (a *AuthDemo) Description() string { return "Demo Auth Module" }

// ---- the ACL module (EMQ: emq_acl_demo.erl) ---------------------------------

// ACLDemo is the demo ACL module: it logs every publish and subscribe it
// is asked about and gives the configured answer.
type ACLDemo struct {
	answer broker.Decision
	log    *slog.Logger
}

// ACL returns the demo ACL module, logging to log.
func (t *Template) ACL(log *slog.Logger) *ACLDemo { return &ACLDemo{answer: t.acl, log: log} }

// Authorize implements broker.Authorizer. Superusers are not asked.
func (a *ACLDemo) Authorize(_ context.Context, c *broker.ClientInfo, access broker.Access, topic string) (broker.Decision, error) {
	a.log.Info("ACL Demo", "clientid", c.ClientID, "access", access, "topic", topic, "answer", a.answer)
	return a.answer, nil
}

// Reload implements broker.Reloader (EMQ's reload_acl/1): a module that
// reads rules from somewhere reads them again here.
func (a *ACLDemo) Reload(context.Context) error { return nil }

// Description implements broker.Describer.
func (a *ACLDemo) Description() string { return "ACL Module Demo" }

var (
	_ broker.Authenticator = (*AuthDemo)(nil)
	_ broker.Describer     = (*AuthDemo)(nil)
	_ broker.Authorizer    = (*ACLDemo)(nil)
	_ broker.Reloader      = (*ACLDemo)(nil)
	_ broker.Describer     = (*ACLDemo)(nil)
)

// ---- the hooks (EMQ: emq_plugin_template.erl) --------------------------------

// Hooks registers a hook on every hook point of the broker, each logging
// its event at Config.HookLogLevel, on r: a *broker.Broker, or the
// *broker.PluginHost a plugin's Load gets (which removes them on unload).
// Folding hooks return what they got with broker.Continue, so they change
// nothing. Hooks run on the connection's goroutine: they must not block.
func (t *Template) Hooks(r broker.Registrar, log *slog.Logger) []broker.Unhook {
	ctxLog := func(ctx context.Context, hook broker.HookName, args ...any) {
		log.Log(ctx, t.cfg.HookLogLevel, string(hook), args...)
	}
	named := broker.Named("emq_plugin_template")
	return []broker.Unhook{
		broker.On(r, broker.ClientConnectHook, func(ctx context.Context, c *broker.ClientInfo) {
			ctxLog(ctx, broker.ClientConnect, "clientid", c.ClientID, "username", c.Username, "proto_ver", c.ProtoVersion)
		}, named),
		broker.On(r, broker.ClientAuthenticateHook, func(ctx context.Context, c *broker.ClientInfo, d broker.Decision) (broker.Decision, broker.Flow) {
			ctxLog(ctx, broker.ClientAuthenticate, "clientid", c.ClientID, "decision", d)
			return d, broker.Continue
		}, named),
		broker.On(r, broker.ClientConnackHook, func(ctx context.Context, c *broker.ClientInfo, code packets.ReasonCode) {
			ctxLog(ctx, broker.ClientConnack, "clientid", c.ClientID, "code", code)
		}, named),
		broker.On(r, broker.ClientConnectedHook, func(ctx context.Context, c *broker.ClientInfo, code packets.ReasonCode) {
			ctxLog(ctx, broker.ClientConnected, "clientid", c.ClientID, "connack", packets.V3ConnackCode(code))
		}, named),
		broker.On(r, broker.ClientDisconnectedHook, func(ctx context.Context, c *broker.ClientInfo, reason error) {
			ctxLog(ctx, broker.ClientDisconnected, "clientid", c.ClientID, "reason", reason)
		}, named),
		broker.On(r, broker.ClientSubscribeHook, func(ctx context.Context, c *broker.ClientInfo, subs []broker.Subscription) ([]broker.Subscription, broker.Flow) {
			ctxLog(ctx, broker.ClientSubscribe, "clientid", c.ClientID, "username", c.Username, "topics", filters(subs))
			return subs, broker.Continue
		}, named),
		broker.On(r, broker.ClientUnsubscribeHook, func(ctx context.Context, c *broker.ClientInfo, topics []string) ([]string, broker.Flow) {
			ctxLog(ctx, broker.ClientUnsubscribe, "clientid", c.ClientID, "username", c.Username, "topics", topics)
			return topics, broker.Continue
		}, named),
		broker.On(r, broker.ClientAuthorizeHook, func(ctx context.Context, c *broker.ClientInfo, a broker.Access, topic string, d broker.Decision) (broker.Decision, broker.Flow) {
			ctxLog(ctx, broker.ClientAuthorize, "clientid", c.ClientID, "access", a, "topic", topic, "decision", d)
			return d, broker.Continue
		}, named),
		broker.On(r, broker.SessionCreatedHook, func(ctx context.Context, c *broker.ClientInfo) {
			ctxLog(ctx, broker.SessionCreated, "clientid", c.ClientID, "username", c.Username)
		}, named),
		broker.On(r, broker.SessionResumedHook, func(ctx context.Context, c *broker.ClientInfo) {
			ctxLog(ctx, broker.SessionResumed, "clientid", c.ClientID)
		}, named),
		broker.On(r, broker.SessionTakenOverHook, func(ctx context.Context, c *broker.ClientInfo) {
			ctxLog(ctx, broker.SessionTakenOver, "clientid", c.ClientID)
		}, named),
		broker.On(r, broker.SessionDiscardedHook, func(ctx context.Context, c *broker.ClientInfo) {
			ctxLog(ctx, broker.SessionDiscarded, "clientid", c.ClientID)
		}, named),
		broker.On(r, broker.SessionSubscribedHook, func(ctx context.Context, c *broker.ClientInfo, sub broker.Subscription, isNew bool) {
			ctxLog(ctx, broker.SessionSubscribed, "clientid", c.ClientID, "topic", sub.Filter, "qos", sub.QoS, "new", isNew)
		}, named),
		broker.On(r, broker.SessionUnsubscribedHook, func(ctx context.Context, c *broker.ClientInfo, sub broker.Subscription) {
			ctxLog(ctx, broker.SessionUnsubscribed, "clientid", c.ClientID, "topic", sub.Filter)
		}, named),
		broker.On(r, broker.SessionTerminatedHook, func(ctx context.Context, c *broker.ClientInfo, reason error) {
			ctxLog(ctx, broker.SessionTerminated, "clientid", c.ClientID, "reason", reason)
		}, named),
		broker.On(r, broker.MessagePublishHook, func(ctx context.Context, m broker.Message) (broker.Message, broker.Flow) {
			ctxLog(ctx, broker.MessagePublish, "from", m.From, "topic", m.Topic, "qos", m.QoS, "retain", m.Retain, "payload_size", len(m.Payload))
			return m, broker.Continue
		}, named),
		broker.On(r, broker.MessageDeliveredHook, func(ctx context.Context, c *broker.ClientInfo, m broker.Message) {
			ctxLog(ctx, broker.MessageDelivered, "clientid", c.ClientID, "topic", m.Topic, "qos", m.QoS)
		}, named),
		broker.On(r, broker.MessageAckedHook, func(ctx context.Context, c *broker.ClientInfo, m broker.Message) {
			ctxLog(ctx, broker.MessageAcked, "clientid", c.ClientID, "topic", m.Topic, "qos", m.QoS)
		}, named),
		broker.On(r, broker.MessageDroppedHook, func(ctx context.Context, m broker.Message, reason broker.DropReason) {
			ctxLog(ctx, broker.MessageDropped, "topic", m.Topic, "reason", reason)
		}, named),
		broker.On(r, broker.DeliveryDroppedHook, func(ctx context.Context, c *broker.ClientInfo, m broker.Message, reason broker.DropReason) {
			ctxLog(ctx, broker.DeliveryDropped, "clientid", c.ClientID, "topic", m.Topic, "reason", reason)
		}, named),
	}
}

func filters(subs []broker.Subscription) []string {
	out := make([]string, len(subs))
	for i, s := range subs {
		out[i] = s.Filter
	}
	return out
}

// ---- the CLI command (EMQ: emq_cli_demo.erl) ---------------------------------

// Command returns the demo command: "cmd arg1 arg2" prints "ok"; any other
// arguments print its usage (return broker.ErrUsage and Exec prints it).
func (t *Template) Command() broker.Command {
	return broker.Command{
		Name:  "cmd",
		Short: "cmd demo",
		Usage: "cmd arg1 arg2 # cmd demo",
		Run: func(_ context.Context, w io.Writer, args []string) error {
			if len(args) != 2 || args[0] != "arg1" || args[1] != "arg2" {
				return broker.ErrUsage
			}
			fmt.Fprintln(w, "ok")
			return nil
		},
	}
}
