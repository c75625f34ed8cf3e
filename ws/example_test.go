package ws_test

import (
	"log"
	"net/http"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/ws"
)

// Mount MQTT over WebSocket at /mqtt on the host's own HTTP server, next to
// its other handlers.
func ExampleHandler() {
	b, err := broker.New(broker.Options{})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/mqtt", ws.Handler(b))
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	srv := &http.Server{Addr: ":8083", Handler: mux}
	go srv.ListenAndServe()
	// ... later: srv.Close() stops accepting; b.Shutdown(ctx) ends the
	// MQTT connections, WebSocket ones included.
}

// Only accept browser pages served from example.com or its subdomains.
func ExampleWithOriginPatterns() {
	b, _ := broker.New(broker.Options{})
	http.Handle("/mqtt", ws.Handler(b, ws.WithOriginPatterns("example.com", "*.example.com")))
}
