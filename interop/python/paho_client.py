#!/usr/bin/python3
"""MQTT client roles for emqgo's interop tests, with python3-paho-mqtt.

Run by interop/python_test.go as

    paho_client.py HOST PORT ROLE [ARGS...]

Roles:
    sub TOPIC:QOS... --count N   subscribe, print "subscribed <granted QoS...>",
                                 then "msg <qos> <retain> <topic> <payload>"
                                 for N messages, and exit
    pub [--retain] TOPIC QOS PAYLOAD...
                                 publish each triple, waiting for its
                                 PUBACK/PUBCOMP; print "published <topic>"
    will ID TOPIC PAYLOAD        connect with a QoS 1 will, print "connected",
                                 then wait to be killed
    session-start ID TOPIC QOS   connect with clean session off, subscribe,
                                 print "session_present <0|1>", disconnect
    session-resume ID N          connect with clean session off, print
                                 "session_present <0|1>", then print N
                                 messages (no new subscription) and
                                 disconnect
    takeover ID                  connect twice with ID; print
                                 "first_disconnected rc=<rc>" when the broker
                                 disconnects the first, and
                                 "second_ok" once the second still works

Works with paho-mqtt 1.x (Debian 12 ships 1.6) and 2.x (callback API
version 1 is requested explicitly there). Exits 1 with "error: ..." on
stdout on failure or timeout.
"""

import sys
import threading
import time

import paho.mqtt.client as mqtt

TIMEOUT = 10.0


def out(*args):
    print(*args, flush=True)


def fail(msg):
    out("error:", msg)
    sys.exit(1)


def new_client(client_id="", clean_session=True):
    kwargs = dict(client_id=client_id, clean_session=clean_session, protocol=mqtt.MQTTv311)
    if hasattr(mqtt, "CallbackAPIVersion"):  # paho-mqtt 2.x
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, **kwargs)
    return mqtt.Client(**kwargs)


class Conn:
    """A client driven by paho's network thread, with events to wait on."""

    def __init__(self, host, port, client_id="", clean_session=True, will=None):
        self.client = new_client(client_id, clean_session)
        self.connected = threading.Event()
        self.flags = {}
        self.rc = None
        self.subacks = {}
        self.acked = set()
        self.cond = threading.Condition()
        self.messages = []
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        if will:
            self.client.will_set(*will)
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        if not self.connected.wait(TIMEOUT):
            fail("no CONNACK")
        if self.rc != 0:
            fail("CONNACK rc=%s" % self.rc)

    def _on_connect(self, client, userdata, flags, rc):
        self.flags, self.rc = flags, rc
        self.connected.set()

    def _on_subscribe(self, client, userdata, mid, granted_qos):
        with self.cond:
            self.subacks[mid] = list(granted_qos)
            self.cond.notify_all()

    def _on_publish(self, client, userdata, mid):
        with self.cond:
            self.acked.add(mid)
            self.cond.notify_all()

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.messages.append(msg)
            self.cond.notify_all()

    def _wait(self, pred, what):
        with self.cond:
            if not self.cond.wait_for(pred, TIMEOUT):
                fail("timeout waiting for " + what)

    def session_present(self):
        return int(bool(self.flags.get("session present", 0)))

    def subscribe(self, subs):
        rc, mid = self.client.subscribe(subs)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            fail("subscribe rc=%s" % rc)
        self._wait(lambda: mid in self.subacks, "SUBACK")
        return self.subacks[mid]

    def publish(self, topic, qos, payload, retain=False):
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            fail("publish rc=%s" % info.rc)
        # on_publish runs when the QoS exchange is complete (at once for QoS 0).
        self._wait(lambda: info.mid in self.acked, "publish of %s to complete" % topic)

    def receive(self, n):
        self._wait(lambda: len(self.messages) >= n, "%d messages (got %d)" % (n, len(self.messages)))
        for m in self.messages[:n]:
            out("msg", m.qos, int(m.retain), m.topic, m.payload.decode())

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def role_sub(host, port, args):
    count = 1
    subs = []
    i = 0
    while i < len(args):
        if args[i] == "--count":
            count = int(args[i + 1])
            i += 2
            continue
        topic, qos = args[i].rsplit(":", 1)
        subs.append((topic, int(qos)))
        i += 1
    c = Conn(host, port)
    granted = c.subscribe(subs)
    out("subscribed", *granted)
    c.receive(count)
    c.close()


def role_pub(host, port, args):
    retain = False
    if args and args[0] == "--retain":
        retain = True
        args = args[1:]
    if len(args) % 3 != 0:
        fail("pub wants TOPIC QOS PAYLOAD triples")
    c = Conn(host, port)
    for i in range(0, len(args), 3):
        topic, qos, payload = args[i], int(args[i + 1]), args[i + 2]
        c.publish(topic, qos, payload, retain)
        out("published", topic)
    c.close()


def role_will(host, port, args):
    client_id, topic, payload = args
    Conn(host, port, client_id, will=(topic, payload, 1, False))
    out("connected")
    time.sleep(3600)  # until SIGKILL: the connection closes without DISCONNECT


def role_session_start(host, port, args):
    client_id, topic, qos = args
    c = Conn(host, port, client_id, clean_session=False)
    out("session_present", c.session_present())
    out("subscribed", *c.subscribe([(topic, int(qos))]))
    c.close()


def role_session_resume(host, port, args):
    client_id, n = args
    c = Conn(host, port, client_id, clean_session=False)
    out("session_present", c.session_present())
    c.receive(int(n))
    c.close()


def role_takeover(host, port, args):
    (client_id,) = args
    # Both clients are driven by hand (client.loop), not by loop_start: the
    # network thread would reconnect the first client after the takeover,
    # which would then take the session back.
    state = {"first_rc": None, "second_rc": None}

    def connect(name):
        c = new_client(client_id)
        state[name + "_connected"] = False

        def on_connect(client, userdata, flags, rc):
            state[name + "_rc"] = rc
            state[name + "_connected"] = True

        def on_disconnect(client, userdata, rc):
            state[name + "_disconnected"] = rc

        c.on_connect = on_connect
        c.on_disconnect = on_disconnect
        c.connect(host, port, keepalive=30)
        return c

    def loop_until(clients, pred, what):
        deadline = time.monotonic() + TIMEOUT
        while not pred():
            if time.monotonic() > deadline:
                fail("timeout waiting for " + what)
            for c in clients:
                c.loop(timeout=0.05)

    first = connect("first")
    loop_until([first], lambda: state["first_connected"], "the first CONNACK")
    if state["first_rc"] != 0:
        fail("first CONNACK rc=%s" % state["first_rc"])
    second = connect("second")
    loop_until([first, second], lambda: state["second_connected"], "the second CONNACK")
    if state["second_rc"] != 0:
        fail("second CONNACK rc=%s" % state["second_rc"])
    loop_until([first, second], lambda: "first_disconnected" in state, "the first client to be disconnected")
    out("first_disconnected rc=%s" % state["first_disconnected"])

    # The second connection still works: a QoS 1 round trip on it.
    got = []
    second.on_message = lambda client, userdata, msg: got.append(msg)
    second.subscribe("py/takeover", 1)
    second.publish("py/takeover", "still here", qos=1)
    loop_until([second], lambda: got, "the second client's own message")
    if "second_disconnected" in state:
        fail("second client disconnected rc=%s" % state["second_disconnected"])
    out("second_ok", got[0].payload.decode())
    second.disconnect()
    second.loop(timeout=0.05)


ROLES = {
    "sub": role_sub,
    "pub": role_pub,
    "will": role_will,
    "session-start": role_session_start,
    "session-resume": role_session_resume,
    "takeover": role_takeover,
}


def main():
    if len(sys.argv) < 4 or sys.argv[3] not in ROLES:
        fail("usage: paho_client.py HOST PORT {%s} ARGS..." % "|".join(ROLES))
    host, port, role = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    ROLES[role](host, port, sys.argv[4:])


if __name__ == "__main__":
    main()
