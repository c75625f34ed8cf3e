package broker_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/packets"
)

// countingACL answers with its current decision and counts the questions.
type countingACL struct {
	d        atomic.Uint32
	pub, sub atomic.Int64
	reloads  atomic.Int64
}

func (a *countingACL) Authorize(_ context.Context, _ *broker.ClientInfo, access broker.Access, _ string) (broker.Decision, error) {
	if access == broker.AccessPublish {
		a.pub.Add(1)
	} else {
		a.sub.Add(1)
	}
	return broker.Decision(a.d.Load()), nil
}

func (a *countingACL) Reload(context.Context) error { a.reloads.Add(1); return nil }

func TestACLCache(t *testing.T) {
	for _, disable := range []bool{false, true} {
		t.Run(map[bool]string{false: "cache_acl=true", true: "cache_acl=false"}[disable], func(t *testing.T) {
			a := &countingACL{}
			a.d.Store(uint32(broker.Allow))
			b := brokertest.New(t, broker.Options{DisableACLCache: disable}, func(b *broker.Broker) { b.RegisterACL(a) })
			c := b.Dial(t, "c1", brokertest.WithVersion(packets.Version5))
			publish := func(topic string) packets.ReasonCode {
				t.Helper()
				return c.PublishPacket(t, &packets.Publish{Topic: topic, QoS: 1})
			}
			for range 3 {
				publish("a")
				publish("b")
			}
			want := int64(2)
			if disable {
				want = 6
			}
			if got := a.pub.Load(); got != want {
				t.Errorf("%d publish checks, want %d", got, want)
			}
			// Subscriptions are never cached.
			c.Subscribe(t, "x", 0)
			c.Subscribe(t, "x", 0)
			if got := a.sub.Load(); got != 2 {
				t.Errorf("%d subscribe checks, want 2", got)
			}

			// The module now denies; with the cache, the old answer holds
			// until the ACL is reloaded.
			a.d.Store(uint32(broker.Deny))
			rc := publish("a")
			if disable && rc != packets.NotAuthorized || !disable && rc.IsError() {
				t.Errorf("publish after the module changed: %v", rc)
			}
			if err := b.ReloadACL(context.Background()); err != nil {
				t.Fatal(err)
			}
			if a.reloads.Load() != 1 {
				t.Errorf("Reload called %d times", a.reloads.Load())
			}
			if rc := publish("a"); rc != packets.NotAuthorized {
				t.Errorf("publish after ReloadACL: %v", rc)
			}
			a.d.Store(uint32(broker.Allow))
			b.ClearACLCache()
			if rc := publish("a"); rc.IsError() {
				t.Errorf("publish after ClearACLCache: %v", rc)
			}
			// Registering another module drops the cache too.
			a.d.Store(uint32(broker.Deny))
			unregister := b.RegisterACL(broker.ACLFunc(func(context.Context, *broker.ClientInfo, broker.Access, string) (broker.Decision, error) {
				return broker.Ignore, nil
			}))
			if rc := publish("a"); rc != packets.NotAuthorized {
				t.Errorf("publish after RegisterACL: %v", rc)
			}
			a.d.Store(uint32(broker.Allow))
			unregister()
			if rc := publish("a"); rc.IsError() {
				t.Errorf("publish after unregistering: %v", rc)
			}
		})
	}
}

func TestACLCacheIsPerConnection(t *testing.T) {
	// The cache belongs to one connection: a client that reconnects to its
	// persistent session is asked again.
	a := &countingACL{}
	a.d.Store(uint32(broker.Allow))
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) { b.RegisterACL(a) })
	c := b.Dial(t, "p1", brokertest.WithCleanSession(false))
	c.Publish(t, "a", nil, 1, false)
	c.Publish(t, "a", nil, 1, false)
	c.Disconnect(t)
	c = b.Dial(t, "p1", brokertest.WithCleanSession(false))
	c.Publish(t, "a", nil, 1, false)
	if got := a.pub.Load(); got != 2 {
		t.Errorf("%d publish checks, want 2 (one per connection)", got)
	}
}

func TestACLCacheSuperuser(t *testing.T) {
	a := &countingACL{}
	a.d.Store(uint32(broker.Deny))
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		b.RegisterACL(a)
		b.RegisterAuth(superuserAuth{})
	})
	c := b.Dial(t, "root", brokertest.WithVersion(packets.Version5))
	c.Subscribe(t, "t", 1)
	if rc := c.PublishPacket(t, &packets.Publish{Topic: "t", QoS: 1}); rc.IsError() {
		t.Fatalf("superuser publish: %v", rc)
	}
	c.Expect(t, "t")
	if a.pub.Load() != 0 || a.sub.Load() != 0 {
		t.Errorf("the ACL was asked about a superuser: %d publish, %d subscribe", a.pub.Load(), a.sub.Load())
	}
	c.ExpectNone(t, 10*time.Millisecond)
}

type superuserAuth struct{}

func (superuserAuth) Authenticate(context.Context, *broker.ClientInfo, []byte) (broker.Decision, error) {
	return broker.Allow, nil
}

func (superuserAuth) IsSuperuser(context.Context, *broker.ClientInfo) (bool, error) { return true, nil }

func TestReloadACLErrors(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	b.RegisterACL(failingReloader{}, broker.Named("bad"))
	err := b.ReloadACL(context.Background())
	if err == nil || err.Error() != "bad: broken file" {
		t.Errorf("ReloadACL = %v", err)
	}
}

type failingReloader struct{}

func (failingReloader) Authorize(context.Context, *broker.ClientInfo, broker.Access, string) (broker.Decision, error) {
	return broker.Ignore, nil
}

func (failingReloader) Reload(context.Context) error { return errString("broken file") }

type errString string

func (e errString) Error() string { return string(e) }

// failingOnceACL fails its first answer, then allows.
type failingOnceACL struct{ calls atomic.Int64 }

func (a *failingOnceACL) Authorize(context.Context, *broker.ClientInfo, broker.Access, string) (broker.Decision, error) {
	if a.calls.Add(1) == 1 {
		return broker.Ignore, errString("backend down")
	}
	return broker.Allow, nil
}

func TestACLCacheSkipsFailures(t *testing.T) {
	a := &failingOnceACL{}
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) { b.RegisterACL(a) })
	c := b.Dial(t, "c", brokertest.WithVersion(packets.Version5))
	if rc := c.PublishPacket(t, &packets.Publish{Topic: "a", QoS: 1}); rc != packets.NotAuthorized {
		t.Fatalf("publish while the module fails: %v", rc)
	}
	// The failure's deny was not cached.
	if rc := c.PublishPacket(t, &packets.Publish{Topic: "a", QoS: 1}); rc.IsError() {
		t.Fatalf("publish after the module recovered: %v", rc)
	}
	c.PublishPacket(t, &packets.Publish{Topic: "a", QoS: 1})
	if n := a.calls.Load(); n != 2 {
		t.Errorf("%d checks, want 2", n)
	}
}

func TestACLCacheExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &countingACL{}
		a.d.Store(uint32(broker.Allow))
		b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) { b.RegisterACL(a) })
		c := b.Dial(t, "c")
		c.Publish(t, "a", nil, 1, false)
		time.Sleep(59 * time.Second)
		c.Publish(t, "a", nil, 1, false)
		if n := a.pub.Load(); n != 1 {
			t.Errorf("%d checks within the minute, want 1", n)
		}
		time.Sleep(2 * time.Second)
		c.Publish(t, "a", nil, 1, false)
		if n := a.pub.Load(); n != 2 {
			t.Errorf("%d checks after the minute, want 2", n)
		}
		c.Disconnect(t)
	})
}
