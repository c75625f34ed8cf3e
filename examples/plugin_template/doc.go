// Package plugintemplate is EMQ 2.0's emq_plugin_template reproduced in
// Go: a plugin to copy when writing your own. It has every part a plugin
// can have:
//
//   - a typed Config, decoded from the plugin's configuration file,
//     etc/plugins/emq_plugin_template.conf, with errors naming file, line
//     and key (ParseConfig);
//   - an authentication module (EMQ's emq_auth_demo) and an ACL module
//     (emq_acl_demo) that log what they are asked and give the configured
//     answer;
//   - a hook on every hook point of the broker, each logging its event;
//   - a CLI command, "cmd arg1 arg2" (EMQ's emq_cli_demo);
//   - a typed constructor for a Go program that embeds the broker (New,
//     Attach), and a broker.PluginInfo for emqd (Plugin).
//
// The README next to this file walks through writing, wiring and loading
// a plugin.
package plugintemplate
