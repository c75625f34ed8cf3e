package authmongo_test

import (
	"log"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/authmongo"
)

// An embedder registers the module for authentication and ACL, with the
// seed's collections:
//
//	db.mqtt_user.insert({username: "alice", password: "<sha256 hex>", salt: "<salt>", is_superuser: false})
//	db.mqtt_acl.insert({username: "alice", publish: ["alice/#"], subscribe: ["user/%u", "client/%c"]})
func ExampleNew() {
	b, err := broker.New(broker.Options{DenyAnonymous: true})
	if err != nil {
		log.Fatal(err)
	}
	a, err := authmongo.New(authmongo.Config{
		Addrs:        []string{"127.0.0.1:27017"},
		Database:     "mqtt",
		AuthQuery:    authmongo.AuthQuery{Collection: "mqtt_user", SaltField: "salt"},
		PasswordHash: "salt,sha256",
		SuperQuery:   authmongo.SuperQuery{Collection: "mqtt_user"},
		ACLQuery:     authmongo.ACLQuery{Collection: "mqtt_acl"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b.RegisterAuth(a)
	b.RegisterACL(a)
}

// emqd loads the module as a plugin configured by
// etc/plugins/emq_auth_mongo.conf.
func ExamplePlugin() {
	b, err := broker.New(broker.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Plugins().Register(authmongo.Plugin); err != nil {
		log.Fatal(err)
	}
	b.Plugins().SetConfigDir("etc/plugins")
	// err = b.Plugins().Load(ctx, "emq_auth_mongo")
}
