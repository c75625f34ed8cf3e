package authredis_test

import (
	"log"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/authredis"
)

// An embedder registers the module for authentication and ACL, and
// attaches the mqtt_sub subscriptions. Users are hashes:
//
//	HSET mqtt_user:alice password <sha256 hex of her password> salt <salt>
//	HSET mqtt_acl:alice alice/# 3
//	HSET mqtt_sub:alice alice/inbox 1
func ExampleNew() {
	b, err := broker.New(broker.Options{DenyAnonymous: true})
	if err != nil {
		log.Fatal(err)
	}
	a, err := authredis.New(authredis.Config{
		Addr:         "127.0.0.1:6379",
		AuthCmd:      "HMGET mqtt_user:%u password salt",
		PasswordHash: "salt,sha256",
		SuperCmd:     authredis.DefaultSuperCmd,
		ACLCmd:       authredis.DefaultACLCmd,
		SubCmd:       authredis.DefaultSubCmd,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b.RegisterAuth(a)
	b.RegisterACL(a)
	a.Attach(b)
}

// emqd loads the module as a plugin configured by
// etc/plugins/emq_auth_redis.conf.
func ExamplePlugin() {
	b, err := broker.New(broker.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Plugins().Register(authredis.Plugin); err != nil {
		log.Fatal(err)
	}
	b.Plugins().SetConfigDir("etc/plugins")
	// err = b.Plugins().Load(ctx, "emq_auth_redis")
}
