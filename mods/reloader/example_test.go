package reloader_test

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/mods/reloader"
)

// Reload plugins whose file in etc/plugins changed, checking every minute.
func Example() {
	b, err := broker.New(broker.Options{SysInterval: -1})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	b.Plugins().SetConfigDir("etc/plugins")
	r, err := reloader.New(reloader.Config{Interval: time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	detach, err := r.Attach(b)
	if err != nil {
		log.Fatal(err)
	}
	defer detach()
	// The operator's command, as emqctl sends it: no plugin of that name.
	if err := b.Exec(context.Background(), os.Stdout, "reload", "emq_mod_rewrite"); err != nil {
		os.Stdout.WriteString(err.Error() + "\n")
	}
	// Output:
	// Reload plugin emq_mod_rewrite error: broker: plugin not found: emq_mod_rewrite.
}
