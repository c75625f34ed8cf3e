// Package ws serves MQTT over WebSocket (MQTT 5.0 section 6, MQTT 3.1.1
// section 6) as an http.Handler, so a host can mount the broker's WebSocket
// endpoint on its own HTTP server, next to its other handlers:
//
//	b, _ := broker.New(broker.Options{})
//	mux := http.NewServeMux()
//	mux.Handle("/mqtt", ws.Handler(b))
//	go http.ListenAndServe(":8083", mux)
//
// The path is the host's choice; EMQ, and emqd, use "/mqtt" on port 8083
// (8084 for wss, which is the same handler behind an HTTPS server).
//
// The handler negotiates the subprotocols "mqtt", "mqttv3.1" and
// "mqttv3.1.1", accepts requests that offer none (most clients send
// "mqtt"; Mosquitto accepts them too) and refuses requests that offer only
// other subprotocols with 400 Bad WebSocket Protocol, as EMQ did. MQTT
// packets travel in binary messages and may be split across messages or
// share one [MQTT-6.0.0-2]. Origins are not checked unless
// WithOriginPatterns is given, and compression is off unless
// WithCompression is given.
//
// The package uses github.com/coder/websocket; a host that does not import
// ws does not link it.
package ws
