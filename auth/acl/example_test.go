package acl_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/acl"
)

func ExampleParseString() {
	rules, err := acl.ParseString(acl.DefaultFile, "acl.conf")
	if err != nil {
		panic(err)
	}
	a := acl.New(rules)
	remote := &broker.ClientInfo{ClientID: "c1", Peer: netip.MustParseAddrPort("192.0.2.7:51000")}
	local := &broker.ClientInfo{ClientID: "c2", Peer: netip.MustParseAddrPort("127.0.0.1:51000")}
	d, r := a.Check(remote, broker.AccessSubscribe, "$SYS/#")
	fmt.Println(d, "by", r)
	d, r = a.Check(local, broker.AccessSubscribe, "$SYS/#")
	fmt.Println(d, "by", r)
	// Output:
	// deny by {deny, all, subscribe, ["$SYS/#", {eq, "#"}]}
	// allow by {allow, {ipaddr, "127.0.0.1"}, pubsub, ["$SYS/#", "#"]}
}

func ExampleParseString_error() {
	_, err := acl.ParseString("{allow, all}.\n{allow, {user, \"u\"}, publish, [\"a/#/b\"]}.\n", "acl.conf")
	fmt.Println(err)
	// Output: acl.conf:2:32: topic "a/#/b": topic: misplaced wildcard: '#' must be the whole last level in "a/#/b"
}

func ExampleCommand() {
	b, _ := broker.New(broker.Options{})
	defer b.Close()
	b.RegisterACL(acl.New(acl.MustParse(acl.DefaultFile, "acl.conf")), broker.Priority(-1000))
	b.RegisterCommand(acl.Command(b))
	// emqctl acl reload: prints nothing when the rules load.
	if err := b.Exec(context.Background(), os.Stdout, "acl", "reload"); err != nil {
		fmt.Println(err)
	}
	// Output:
}
