package broker

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"
)

// metric indexes a counter of the metrics table.
type metric int

// The counters, named as EMQ 2.0's $SYS/brokers/<node>/metrics/<name>.
const (
	mBytesReceived metric = iota
	mBytesSent
	mPacketsReceived
	mPacketsSent
	mPacketsConnect
	mPacketsConnack
	mPacketsPublishReceived
	mPacketsPublishSent
	mPacketsPubackReceived
	mPacketsPubackSent
	mPacketsPubrecReceived
	mPacketsPubrecSent
	mPacketsPubrelReceived
	mPacketsPubrelSent
	mPacketsPubcompReceived
	mPacketsPubcompSent
	mPacketsSubscribe
	mPacketsSuback
	mPacketsUnsubscribe
	mPacketsUnsuback
	mPacketsPingreq
	mPacketsPingresp
	mPacketsDisconnect
	mMessagesReceived
	mMessagesSent
	mMessagesQoS0Received
	mMessagesQoS0Sent
	mMessagesQoS1Received
	mMessagesQoS1Sent
	mMessagesQoS2Received
	mMessagesQoS2Sent
	mMessagesDropped
	mMessagesAcked
	mMessagesRetried
	mDeliveriesDropped
	mAwaitRelExpired
	mMalformed
	numMetrics
)

var metricNames = [numMetrics]string{
	mBytesReceived:          "bytes/received",
	mBytesSent:              "bytes/sent",
	mPacketsReceived:        "packets/received",
	mPacketsSent:            "packets/sent",
	mPacketsConnect:         "packets/connect",
	mPacketsConnack:         "packets/connack",
	mPacketsPublishReceived: "packets/publish/received",
	mPacketsPublishSent:     "packets/publish/sent",
	mPacketsPubackReceived:  "packets/puback/received",
	mPacketsPubackSent:      "packets/puback/sent",
	mPacketsPubrecReceived:  "packets/pubrec/received",
	mPacketsPubrecSent:      "packets/pubrec/sent",
	mPacketsPubrelReceived:  "packets/pubrel/received",
	mPacketsPubrelSent:      "packets/pubrel/sent",
	mPacketsPubcompReceived: "packets/pubcomp/received",
	mPacketsPubcompSent:     "packets/pubcomp/sent",
	mPacketsSubscribe:       "packets/subscribe",
	mPacketsSuback:          "packets/suback",
	mPacketsUnsubscribe:     "packets/unsubscribe",
	mPacketsUnsuback:        "packets/unsuback",
	mPacketsPingreq:         "packets/pingreq",
	mPacketsPingresp:        "packets/pingresp",
	mPacketsDisconnect:      "packets/disconnect",
	mMessagesReceived:       "messages/received",
	mMessagesSent:           "messages/sent",
	mMessagesQoS0Received:   "messages/qos0/received",
	mMessagesQoS0Sent:       "messages/qos0/sent",
	mMessagesQoS1Received:   "messages/qos1/received",
	mMessagesQoS1Sent:       "messages/qos1/sent",
	mMessagesQoS2Received:   "messages/qos2/received",
	mMessagesQoS2Sent:       "messages/qos2/sent",
	mMessagesDropped:        "messages/dropped",
	mMessagesAcked:          "messages/acked",
	mMessagesRetried:        "messages/retried",
	mDeliveriesDropped:      "messages/delivery_dropped",
	mAwaitRelExpired:        "messages/awaiting_rel_expired",
	mMalformed:              "packets/malformed",
}

// metrics is the table of counters. Each counter sits on its own cache
// line so connections on different cores do not contend.
type metrics struct {
	c [numMetrics]struct {
		v atomic.Uint64
		_ [56]byte
	}
}

func (m *metrics) add(i metric, n uint64) { m.c[i].v.Add(n) }
func (m *metrics) get(i metric) uint64    { return m.c[i].v.Load() }

// gauge tracks the highest value it has seen.
type gauge struct{ max atomic.Int64 }

func (g *gauge) observe(n int) int64 {
	v := int64(n)
	for {
		old := g.max.Load()
		if v <= old || g.max.CompareAndSwap(old, v) {
			return max(v, old)
		}
	}
}

type gauges struct {
	clientsMax, sessionsMax, topicsMax, subscriptionsMax, subscribersMax, routesMax, retainedMax gauge
	clients                                                                                      atomic.Int64
	retained                                                                                     atomic.Pointer[func() int]
}

// Metrics returns a snapshot of the broker's counters, keyed by EMQ's
// metric names ("packets/publish/received", "messages/dropped", ...).
func (b *Broker) Metrics() map[string]uint64 {
	out := make(map[string]uint64, numMetrics+1)
	for i := range numMetrics {
		out[metricNames[i]] = b.metrics.get(i)
	}
	out["messages/retained"] = uint64(b.retainedCount())
	return out
}

// Stats returns a snapshot of the broker's gauges, keyed by EMQ's stats
// names: clients/count, clients/max, sessions/count, sessions/max,
// topics/count, topics/max, subscriptions/count, subscriptions/max,
// subscribers/count, subscribers/max, routes/count, routes/max,
// retained/count, retained/max.
func (b *Broker) Stats() map[string]int64 {
	clients := int(b.gauges.clients.Load())
	sessions := b.sessionCount()
	topics := b.subs.Filters()
	subscriptions := b.subs.Len()
	retained := b.retainedCount()
	g := &b.gauges
	return map[string]int64{
		"clients/count":       int64(clients),
		"clients/max":         g.clientsMax.observe(clients),
		"sessions/count":      int64(sessions),
		"sessions/max":        g.sessionsMax.observe(sessions),
		"topics/count":        int64(topics),
		"topics/max":          g.topicsMax.observe(topics),
		"subscriptions/count": int64(subscriptions),
		"subscriptions/max":   g.subscriptionsMax.observe(subscriptions),
		"subscribers/count":   int64(subscriptions),
		"subscribers/max":     g.subscribersMax.observe(subscriptions),
		"routes/count":        int64(topics),
		"routes/max":          g.routesMax.observe(topics),
		"retained/count":      int64(retained),
		"retained/max":        g.retainedMax.observe(retained),
	}
}

// SetRetainedCounter installs the function that reports the number of
// retained messages, for the retained/count stat. A retainer calls it when it
// starts and passes nil when it stops.
func (b *Broker) SetRetainedCounter(fn func() int) {
	if fn == nil {
		b.gauges.retained.Store(nil)
		return
	}
	b.gauges.retained.Store(&fn)
}

func (b *Broker) retainedCount() int {
	if p := b.gauges.retained.Load(); p != nil {
		return (*p)()
	}
	return 0
}

// Uptime returns how long the broker has existed.
func (b *Broker) Uptime() time.Duration { return time.Since(b.started) }

// sysLoop publishes the $SYS topics: uptime and datetime every second; the
// node list, version, description, stats and metrics every SysInterval.
func (b *Broker) sysLoop() {
	sec := time.NewTicker(time.Second)
	defer sec.Stop()
	tick := time.NewTicker(b.opts.SysInterval)
	defer tick.Stop()
	b.publishSysInfo()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-sec.C:
			b.publishClock()
		case <-tick.C:
			b.publishSysInfo()
		}
	}
}

func (b *Broker) sysTopic(name string) string { return "$SYS/brokers/" + b.opts.Node + "/" + name }

func (b *Broker) sysPublish(topic, payload string, retain bool) {
	b.publish(context.Background(), Message{Topic: topic, Payload: []byte(payload), Retain: retain})
}

func (b *Broker) publishClock() {
	b.sysPublish(b.sysTopic("uptime"), FormatUptime(b.Uptime()), false)
	b.sysPublish(b.sysTopic("datetime"), time.Now().Format("2006-01-02 15:04:05"), false)
}

func (b *Broker) publishSysInfo() {
	b.sysPublish("$SYS/brokers", b.opts.Node, true)
	b.sysPublish(b.sysTopic("version"), b.opts.Version, true)
	b.sysPublish(b.sysTopic("sysdescr"), sysDescr, true)
	for k, v := range b.Stats() {
		b.sysPublish(b.sysTopic("stats/"+k), strconv.FormatInt(v, 10), false)
	}
	for k, v := range b.Metrics() {
		b.sysPublish(b.sysTopic("metrics/"+k), strconv.FormatUint(v, 10), false)
	}
}

// FormatUptime formats d as EMQ does: "5 seconds", "3 minutes, 4 seconds",
// "2 hours, 3 minutes, 4 seconds", "1 days,2 hours, 3 minutes, 4 seconds".
func FormatUptime(d time.Duration) string {
	s := int64(d / time.Second)
	days, s := s/86400, s%86400
	hours, s := s/3600, s%3600
	mins, secs := s/60, s%60
	switch {
	case days > 0:
		return fmt.Sprintf("%d days,%d hours, %d minutes, %d seconds", days, hours, mins, secs)
	case hours > 0:
		return fmt.Sprintf("%d hours, %d minutes, %d seconds", hours, mins, secs)
	case mins > 0:
		return fmt.Sprintf("%d minutes, %d seconds", mins, secs)
	}
	return fmt.Sprintf("%d seconds", secs)
}
