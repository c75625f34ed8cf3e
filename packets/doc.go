// Package packets is the MQTT 3.1, 3.1.1 and 5.0 wire codec of emqgo.
//
// Every control packet is a Go struct (Connect, Connack, Publish, ...) that
// implements the Packet interface. A packet is encoded for a given protocol
// version with Append or Encode, and decoded with Decode (one complete packet
// held in a byte slice) or a Reader (a stream of packets, typically a network
// connection).
//
// The protocol version is a byte as it appears in the CONNECT packet's
// protocol level: Version31 (3, protocol name "MQIsdp"), Version311 (4,
// "MQTT") and Version5 (5, "MQTT"). Versions 3 and 4 share a wire format;
// properties, reason codes and other 5.0-only fields are ignored when
// encoding for them and never set when decoding them.
//
// Decoding is strict: every malformed or protocol-violating input is
// rejected with an *Error whose Code is the MQTT 5 reason code a server
// sends before closing the connection (MalformedPacket, ProtocolError,
// PacketTooLarge, UnsupportedProtocolVersion, TopicNameInvalid, ...) and
// whose Rule names the normative statement of the specification that was
// violated, such as "MQTT-3.3.2-2". Validation covers the fixed header
// flags, remaining length encoding, UTF-8 strings, packet identifiers, the
// CONNECT flags, PUBLISH topic names, SUBSCRIBE options, and which MQTT 5
// properties may appear in which packet and how often. Topic filter syntax
// (wildcard positions) is left to package topic.
//
// Decoded byte slices and strings alias the packet body that the decoder
// allocated for that packet alone (or the slice passed to Decode); they
// never point into a buffer that is reused.
package packets
