package main

import (
	"errors"
	"io/fs"
	"log/slog"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/acl"
	"github.com/emqgo/broker/conf"
)

// internalACLPriority places the internal ACL after every ACL plugin, as in
// EMQ, where it was registered at boot and later modules ran first.
const internalACLPriority = -1000

// startACL loads the internal ACL from mqtt.acl_file, as EMQ's
// emqttd_acl_internal did at boot, and registers the "acl reload"
// command. A file that does not parse, or is missing while
// mqtt.acl_file names it, stops emqd with its file and line. When
// emq.conf leaves mqtt.acl_file out and etc/acl.conf does not exist, EMQ's
// default rules (acl.DefaultFile) apply. mqtt.acl_file = off runs without
// the internal ACL.
func startACL(c *Config, b *broker.Broker, log *slog.Logger) error {
	if conf.IsOff(c.ACLFile) {
		log.Info("no internal ACL", "key", "mqtt.acl_file")
		return nil
	}
	path := c.Resolve(c.ACLFile)
	a, err := acl.Load(path)
	if _, set := c.m.Get("mqtt.acl_file"); err != nil && !set && errors.Is(err, fs.ErrNotExist) {
		log.Info("no ACL file; using EMQ's default rules", "file", path)
		a, err = acl.New(acl.MustParse(acl.DefaultFile, "acl.conf (default)")), nil
	}
	if err != nil {
		return c.errorf("mqtt.acl_file", "%w", err)
	}
	b.RegisterACL(a, broker.Named("internal"), broker.Priority(internalACLPriority))
	if _, err := b.RegisterCommand(acl.Command(b)); err != nil {
		return err
	}
	log.Info("internal ACL loaded", "file", a.File(), "rules", len(a.Rules()), "cache_acl", c.CacheACL)
	return nil
}
