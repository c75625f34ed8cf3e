package authpgsql_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/authpgsql"
	"github.com/emqgo/broker/conf"
)

// An embedder builds the module from a typed Config and registers it as
// both the authentication and the ACL module.
func ExampleNew() {
	a, err := authpgsql.New(authpgsql.Config{
		Server:       "127.0.0.1:5432",
		Username:     "emqgo",
		Password:     "secret",
		Database:     "mqtt",
		AuthQuery:    "select password, salt from mqtt_user where username = '%u' limit 1",
		PasswordHash: "salt,sha256",
		SuperQuery:   authpgsql.DefaultSuperQuery,
		ACLQuery:     authpgsql.DefaultACLQuery,
		ACLNoMatch:   broker.Deny,
		QueryTimeout: 2 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b, err := broker.New(broker.Options{DenyAnonymous: true})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	b.RegisterAuth(a)
	b.RegisterACL(a)
	fmt.Println(a.Description())
	// Output: Authentication with PostgreSQL
}

// emqd registers the plugin and loads it by its EMQ name; the
// configuration file etc/plugins/emq_auth_pgsql.conf is read over
// Defaults.
func Example_plugin() {
	b, err := broker.New(broker.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	p := b.Plugins()
	if err := p.Register(authpgsql.Plugin); err != nil {
		log.Fatal(err)
	}
	over, _ := conf.ParseString("auth.pgsql.database = mqtt\nauth.pgsql.acl_query =\n", "example.conf")
	if err := p.LoadWith(context.Background(), "emq_auth_pgsql", over); err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Loaded())
	// Output: [emq_auth_pgsql]
}

func ExampleParseConfig() {
	m, err := conf.ParseString(authpgsql.Defaults+"auth.pgsql.password_hash = pbkdf2,sha256,1000,20\nauth.pgsql.acl_nomatch = ignore\n", "emq_auth_pgsql.conf")
	if err != nil {
		log.Fatal(err)
	}
	cfg, err := authpgsql.ParseConfig(m)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.Server, cfg.Database, cfg.Pool, cfg.PasswordHash, cfg.ACLNoMatch)
	// Output: 127.0.0.1:5432 mqtt 8 pbkdf2,sha256,1000,20 ignore
}
