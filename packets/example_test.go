package packets_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/emqgo/broker/packets"
)

// Decode a PUBLISH received from an MQTT 3.1.1 client and acknowledge it.
func Example() {
	wire := []byte{0x32, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A, 'h', 'i'}
	p, err := packets.Decode(wire, packets.Version311)
	if err != nil {
		fmt.Println(err)
		return
	}
	pub := p.(*packets.Publish)
	fmt.Printf("%v topic=%s qos=%d id=%d payload=%s\n", p.Type(), pub.Topic, pub.QoS, pub.PacketID, pub.Payload)

	ack, _ := packets.Encode(&packets.Puback{PacketID: pub.PacketID}, packets.Version311)
	fmt.Printf("% X\n", ack)

	// Invalid input is an *Error carrying the reason code to send and the spec rule.
	_, err = packets.Decode([]byte{0x30, 0x04, 0x00, 0x01, '#', 0x00}, packets.Version5)
	var perr *packets.Error
	if errors.As(err, &perr) {
		fmt.Printf("0x%X %v\n", byte(perr.Code), err)
	}
	// Output:
	// PUBLISH topic=a/b qos=1 id=10 payload=hi
	// 40 02 00 0A
	// 0x90 packets: topic name contains a wildcard [MQTT-3.3.2-2]
}

// Read packets from a connection. The CONNECT packet sets the protocol
// version used for the packets that follow.
func ExampleReader() {
	var conn bytes.Buffer // stands for a net.Conn
	b, _ := (&packets.Connect{ClientID: "c1", CleanStart: true, KeepAlive: 30}).Append(nil, packets.Version5)
	b, _ = (&packets.Publish{Topic: "t", Payload: []byte("x"),
		Properties: &packets.Properties{ContentType: "text/plain"}}).Append(b, packets.Version5)
	conn.Write(b)

	r := packets.NewReader(&conn, 64*1024)
	for {
		p, err := r.ReadPacket()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		switch p := p.(type) {
		case *packets.Connect:
			fmt.Println("CONNECT", p.ClientID, "version", p.ProtocolVersion)
		case *packets.Publish:
			fmt.Println("PUBLISH", p.Topic, p.Properties.ContentType)
		}
	}
	// Output:
	// CONNECT c1 version 5
	// PUBLISH t text/plain
}

// Encode the CONNACK for each protocol version: v3/v4 get the v3 return code.
func ExampleV3ConnackCode() {
	for _, v := range []byte{packets.Version311, packets.Version5} {
		rc := packets.BadUserNameOrPassword
		if v < packets.Version5 {
			rc = packets.ReasonCode(packets.V3ConnackCode(rc))
		}
		b, _ := (&packets.Connack{ReasonCode: rc}).Append(nil, v)
		fmt.Printf("v%d: % X\n", v, b)
	}
	// Output:
	// v4: 20 02 00 04
	// v5: 20 03 00 86 00
}

// Encode a PUBLISH once per protocol version into a reused buffer; Append
// does not allocate when the buffer is large enough.
func ExamplePublish_Append() {
	msg := &packets.Publish{QoS: 1, PacketID: 7, Topic: "a/b", Payload: []byte("hi"),
		Properties: &packets.Properties{MessageExpiry: new(uint32)}}
	buf := make([]byte, 0, 256)
	for _, v := range []byte{packets.Version311, packets.Version5} {
		var err error
		buf, err = msg.Append(buf[:0], v)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("v%d: % X\n", v, buf)
	}
	// Output:
	// v4: 32 09 00 03 61 2F 62 00 07 68 69
	// v5: 32 0F 00 03 61 2F 62 00 07 05 02 00 00 00 00 68 69
}

// Decode reports malformed input as an *Error with the reason code a
// server sends in its DISCONNECT (v5) before closing the connection.
func ExampleDecode() {
	_, err := packets.Decode([]byte{0x82, 0x02, 0x00, 0x01}, packets.Version311) // SUBSCRIBE without a filter
	if e, ok := packets.AsError(err); ok {
		fmt.Println(e.Code, e.Rule)
	}
	// Output:
	// protocol error MQTT-3.8.3-3
}
