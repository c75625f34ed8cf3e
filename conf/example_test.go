package conf_test

import (
	"fmt"
	"time"

	"github.com/emqgo/broker/conf"
)

// A plugin reads its part of a configuration file into a struct filled with
// its defaults.
func Example() {
	m, err := conf.ParseString(`
## etc/plugins/emq_auth_mysql.conf
auth.mysql.server = 127.0.0.1:3306
auth.mysql.pool = 8
auth.mysql.auth_query = select password from mqtt_user where username = '%u' limit 1
auth.mysql.query_timeout = 5s
auth.mysql.acl_nomatch = deny
`, "emq_auth_mysql.conf")
	if err != nil {
		fmt.Println(err)
		return
	}

	type Config struct {
		Server       string        `conf:"server"`
		Pool         int           `conf:"pool"`
		AuthQuery    string        `conf:"auth_query"`
		QueryTimeout time.Duration `conf:"query_timeout"`
		ACLNomatch   string        `conf:"acl_nomatch"`
		PasswordHash string        `conf:"password_hash"`
	}
	cfg := Config{Pool: 4, PasswordHash: "sha256"} // defaults
	if err := m.Sub("auth.mysql").Decode(&cfg); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Server, cfg.Pool, cfg.QueryTimeout, cfg.ACLNomatch, cfg.PasswordHash)
	fmt.Println(cfg.AuthQuery)
	// Output:
	// 127.0.0.1:3306 8 5s deny sha256
	// select password from mqtt_user where username = '%u' limit 1
}

// Decode reports every problem at once, each with its file, line and key.
func ExampleMap_Decode() {
	m, _ := conf.ParseString(`mqtt.session.max_inflight = lots
mqtt.session.retry_interval = 60
mqtt.session.expired_after = 1 day
mqtt.session.max_awaiting_rel = 0
mqtt.session.colect_interval = 0
`, "emq.conf")

	var session struct {
		MaxInflight     int           `conf:"max_inflight"`
		RetryInterval   time.Duration `conf:"retry_interval,unit=s"` // EMQ 2.0: bare seconds
		ExpiredAfter    time.Duration `conf:"expired_after"`
		MaxAwaitingRel  int           `conf:"max_awaiting_rel"`
		CollectInterval time.Duration `conf:"collect_interval,unit=s"`
	}
	err := m.Sub("mqtt.session").Decode(&session)
	fmt.Println(err)
	fmt.Println(session.RetryInterval)
	// Output:
	// emq.conf:1: mqtt.session.max_inflight: invalid value "lots": want an integer
	// emq.conf:3: mqtt.session.expired_after: invalid value "1 day": want a duration like 30s, 1m, 2h or 1d
	// emq.conf:5: mqtt.session.colect_interval: unknown key
	// 1m0s
}

// Numbered keys decode into a slice of structs; a key that is both a switch
// and a prefix is read with the name ".".
func ExampleMap_Decode_groups() {
	m, _ := conf.ParseString(`module.subscription = on
module.subscription.1.topic = $client/%c
module.subscription.1.qos = 1
module.subscription.2.topic = $user/%u
module.subscription.2.qos = 2
`, "emq_modules.conf")

	type Topic struct {
		Topic string `conf:"topic"`
		QoS   byte   `conf:"qos"`
	}
	var c struct {
		Subscription struct {
			Enabled bool `conf:"."` // module.subscription itself
		} `conf:"module.subscription"`
		Topics []Topic `conf:"module.subscription,list"` // module.subscription.N.*
	}
	if err := m.Decode(&c); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Subscription.Enabled, c.Topics)
	// Output:
	// true [{$client/%c 1} {$user/%u 2}]
}

func ExampleMap_Sub() {
	m, _ := conf.ParseString(`auth.redis.server = 127.0.0.1:6379
auth.redis.auth_cmd = HGET mqtt_user:%u password
auth.mysql.server = 127.0.0.1:3306
`, "plugins.conf")
	redis := m.Sub("auth.redis")
	fmt.Print(redis)
	e, _ := redis.Entry("auth_cmd")
	fmt.Println(e.File, e.Line)
	// Output:
	// server = 127.0.0.1:6379
	// auth_cmd = HGET mqtt_user:%u password
	// plugins.conf 2
}

func ExampleMap_Merge() {
	defaults, _ := conf.ParseString("retainer.storage_type = ram\nretainer.max_message_num = 1000000\n", "defaults")
	file, _ := conf.ParseString("retainer.storage_type = disc\n", "emq_retainer.conf")
	m := defaults.Merge(file).With("retainer.expiry_interval", "1h")
	fmt.Print(m)
	e, _ := m.Entry("retainer.storage_type")
	fmt.Println(e.File, e.Line)
	// Output:
	// retainer.storage_type = disc
	// retainer.max_message_num = 1000000
	// retainer.expiry_interval = 1h
	// emq_retainer.conf 1
}

func ExampleParseString() {
	m, err := conf.ParseString(`## comments start a line; '#' elsewhere is data
module.subscription.1.topic = $client/#
log.prefix = "  [emq]  "
`, "example.conf")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range m.Entries() {
		fmt.Printf("%d: %s = %q\n", e.Line, e.Key, e.Value)
	}

	_, err = conf.ParseString("node.name emq@127.0.0.1\n", "bad.conf")
	fmt.Println(err)
	// Output:
	// 2: module.subscription.1.topic = "$client/#"
	// 3: log.prefix = "  [emq]  "
	// bad.conf:1: want key = value, got "node.name emq@127.0.0.1"
}

func ExampleParseDuration() {
	for _, s := range []string{"30s", "1d", "1h30m", "60"} {
		d, err := conf.ParseDuration(s, time.Second)
		fmt.Println(d, err)
	}
	// Output:
	// 30s <nil>
	// 24h0m0s <nil>
	// 1h30m0s <nil>
	// 1m0s <nil>
}

func ExampleParseSize() {
	n, _ := conf.ParseSize("64KB")
	fmt.Println(n)
	// Output: 65536
}

func ExampleIsOff() {
	fmt.Println(conf.IsOff("off"), conf.IsOff("disabled"), conf.IsOff("on"))
	// Output: true true false
}
