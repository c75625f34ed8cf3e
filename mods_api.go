package broker

import (
	"context"
	"fmt"

	"github.com/emqgo/broker/packets"
	"github.com/emqgo/broker/topic"
)

// SubscribeClient subscribes the session of the client clientID to subs
// on the broker's own behalf, as EMQ 2.0's emq_mod_subscription did by
// sending {subscribe, TopicTable} to the client: the ACL is not checked
// (the subscriptions come from the operator, not the client), the
// client.subscribe hooks run and may rewrite or refuse entries, and
// session.subscribed runs for each subscription added (so a retainer
// delivers its messages). No SUBACK is sent.
//
// The session need not be attached to a connection. Called from a
// client.connected hook with code Success, it runs after the CONNACK is
// queued and before the session is attached, so the subscriptions exist
// before anything queued for the session is delivered, and what they
// deliver at once (retained messages) follows the CONNACK.
//
// It returns, per subscription, the granted QoS or a reason code of 0x80
// and above for a refusal, and an error wrapping ErrNotConnected when the
// broker has no session for clientID (host subscriptions included).
func (b *Broker) SubscribeClient(ctx context.Context, clientID string, subs ...Subscription) ([]packets.ReasonCode, error) {
	s := b.listedSession(clientID)
	if s == nil {
		return nil, fmt.Errorf("%w: no session for %q", ErrNotConnected, clientID)
	}
	info := s.Info()
	codes := make([]packets.ReasonCode, len(subs))
	work := make([]Subscription, len(subs))
	copy(work, subs)
	for i, sub := range work {
		if topic.ValidateFilter(sub.Filter) != nil {
			codes[i] = packets.TopicFilterInvalid
			work[i].QoS = SubscribeRefused
		}
	}
	stopped := false
	for _, e := range b.hookTable.clientSubscribe.load() {
		out, f := e.fn(ctx, info, work)
		if len(out) == len(work) {
			work = out
		} else {
			b.log.Warn("client.subscribe hook changed the number of filters; ignored", "hook", e.reg.name)
		}
		if f == Stop {
			stopped = true
			break
		}
	}
	var acc []accepted
	for i, sub := range work {
		switch {
		case codes[i] != 0:
			continue
		case stopped || sub.QoS == SubscribeRefused || sub.QoS > 2:
			codes[i] = packets.UnspecifiedError
			continue
		case topic.ValidateFilter(sub.Filter) != nil:
			codes[i] = packets.TopicFilterInvalid
			continue
		}
		isNew, err := s.addSub(sub)
		if err != nil {
			codes[i] = packets.UnspecifiedError
			continue
		}
		codes[i] = packets.ReasonCode(sub.QoS)
		acc = append(acc, accepted{sub, isNew})
	}
	s.afterSubscribe(ctx, acc)
	return codes, nil
}
