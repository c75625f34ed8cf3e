package authldap_test

import (
	"log"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/authldap"
)

// An embedder registers the module with EMQ 2.3's layout: the module
// binds as cn=root, finds cn=<user>,ou=auth,dc=emqtt,dc=com with
// (username=<user>) and compares its password attribute.
func ExampleNew() {
	b, err := broker.New(broker.Options{DenyAnonymous: true})
	if err != nil {
		log.Fatal(err)
	}
	a, err := authldap.New(authldap.Config{
		Servers:      []string{"127.0.0.1"},
		Port:         389,
		BindDN:       "cn=root,dc=emqtt,dc=com",
		BindPassword: "public",
		AuthDN:       "cn=%u,ou=auth,dc=emqtt,dc=com",
		PasswordHash: "sha256",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b.RegisterAuth(a)
}

// EMQ 2.0's layout binds as the user, and the server checks the password.
func ExampleNew_bind() {
	a, err := authldap.New(authldap.Config{
		Servers: []string{"127.0.0.1"},
		UserDN:  "uid=%u,ou=People,dc=example,dc=com",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
}

// emqd loads the module as a plugin configured by
// etc/plugins/emq_auth_ldap.conf.
func ExamplePlugin() {
	b, err := broker.New(broker.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Plugins().Register(authldap.Plugin); err != nil {
		log.Fatal(err)
	}
	b.Plugins().SetConfigDir("etc/plugins")
	// err = b.Plugins().Load(ctx, "emq_auth_ldap")
}
