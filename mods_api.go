package broker

import (
	"context"
	"fmt"

	"github.com/emqgo/broker/packets"
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
	codes, acc := s.subscribe(ctx, subs, true)
	s.afterSubscribe(ctx, acc)
	return codes, nil
}
