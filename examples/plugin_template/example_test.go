package plugintemplate_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/emqgo/broker"
	plugintemplate "github.com/emqgo/broker/examples/plugin_template"
)

// A Go program that embeds the broker wires the plugin in with its typed
// constructor: no configuration file, no registry.
func Example() {
	b, err := broker.New(broker.Options{SysInterval: -1})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	cfg := plugintemplate.DefaultConfig()
	cfg.ACL = "allow"
	t, err := plugintemplate.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	detach, err := t.Attach(b)
	if err != nil {
		log.Fatal(err)
	}
	defer detach()
	b.Exec(context.Background(), os.Stdout, "cmd", "arg1", "arg2")
	// Output:
	// ok
}

// emqd, or any host that lets operators load plugins by name, registers
// the PluginInfo and loads it; the configuration comes from
// <config dir>/emq_plugin_template.conf over the plugin's defaults.
func ExamplePlugin() {
	b, err := broker.New(broker.Options{SysInterval: -1})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	p := b.Plugins()
	p.SetConfigDir("testdata/no-such-dir") // no file: the defaults apply
	if err := p.Register(plugintemplate.Plugin); err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	b.Exec(ctx, os.Stdout, "plugins", "load", "emq_plugin_template")
	b.Exec(ctx, os.Stdout, "cmd", "arg1", "arg2")
	b.Exec(ctx, os.Stdout, "plugins", "unload", "emq_plugin_template")
	fmt.Println(p.Loaded())
	// Output:
	// Plugin emq_plugin_template loaded successfully.
	// ok
	// Plugin emq_plugin_template unloaded successfully.
	// []
}
