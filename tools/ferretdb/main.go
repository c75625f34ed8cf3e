// Command ferretdb runs FerretDB, a MongoDB wire-protocol server, on its
// SQLite backend, for the integration tests of auth/authmongo. It embeds
// FerretDB's ferretdb package rather than building FerretDB's own
// command, whose build needs generated version files.
//
// It is a module of its own so that FerretDB's dependencies stay out of
// the broker's go.mod. scripts/ferretdb builds and starts it:
//
//	ferretdb -listen 127.0.0.1:27017 -dir /var/tmp/emqgo-ferretdb/data
//
// It runs until SIGINT or SIGTERM. Telemetry is off: the embedded
// package never reports.
//
// With -ping it instead asks the server at -listen whether it answers
// (a MongoDB ping), and exits 0 when it does:
//
//	ferretdb -ping -listen 127.0.0.1:27017
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	dir := flag.String("dir", "data", "folder of the SQLite databases (created if missing)")
	level := flag.String("log-level", "warn", "log level: debug, info, warn or error")
	ping := flag.Bool("ping", false, "ping the server at -listen and exit 0 if it answers")
	flag.Parse()

	if *ping {
		if err := pingServer(*listen); err != nil {
			fmt.Fprintf(os.Stderr, "ferretdb: ping %s: %v\n", *listen, err)
			os.Exit(1)
		}
		return
	}

	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: -log-level: %v\n", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))

	abs, err := filepath.Abs(*dir)
	if err == nil {
		err = os.MkdirAll(abs, 0o755)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: -dir: %v\n", err)
		os.Exit(1)
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    log,
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/",
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: %v\n", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("ferretdb listening", "addr", *listen, "dir", abs)
	if err := f.Run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: %v\n", err)
		os.Exit(1)
	}
}

// pingServer sends a MongoDB ping to addr.
func pingServer(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := mongo.Connect(ctx, options.Client().ApplyURI("mongodb://"+addr+"/").
		SetServerSelectionTimeout(2*time.Second).SetConnectTimeout(2*time.Second))
	if err != nil {
		return err
	}
	defer c.Disconnect(context.Background())
	return c.Ping(ctx, nil)
}
