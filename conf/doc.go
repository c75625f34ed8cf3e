// Package conf reads the "key = value" configuration format of EMQ 2.x
// (cuttlefish style), used by etc/emq.conf and etc/plugins/*.conf, and
// decodes it into tagged Go structs.
//
// # Format
//
// A file is a sequence of lines:
//
//	## The MQTT/TCP listener
//	mqtt.listener.tcp = 1883
//	mqtt.listener.tcp.acceptors = 8
//	module.subscription.1.topic = $client/%c
//	auth.mysql.auth_query = select password from mqtt_user where username = '%u' limit 1
//	log.prefix = "  [emq] "
//
// Blank lines are skipped. A line whose first non-blank character is '#' is
// a comment; a '#' anywhere else is part of the value, so topic filters such
// as "$client/#" need no quoting. Every other line is a key, '=', and a
// value, split at the first '='.
//
// A key is one or more segments separated by dots; a segment is ASCII
// letters, digits, '_', '-' and '$'. A value is everything after the '=',
// with surrounding white space trimmed; it may be empty. A value that starts
// with a double quote is a quoted value: it must end with the closing quote,
// and inside it \" is a double quote, \\ a backslash and \n a line break
// (any other backslash is kept). Quoting keeps leading and trailing spaces.
//
// When a key appears more than once the last value wins, and the entry
// takes the position of the last occurrence but keeps the place of the
// first in the Map's order. Map.String writes a Map back in this format.
//
// Syntax errors, like every error of this package that concerns the
// contents of a file, are *Error values formatted "file:line: key: message".
//
// # Decoding
//
// Map.Decode fills a struct from the entries, guided by `conf` field tags:
//
//	type Session struct {
//		MaxInflight   int           `conf:"max_inflight"`
//		RetryInterval time.Duration `conf:"retry_interval,unit=s"`
//		ExpiredAfter  time.Duration `conf:"expired_after"`
//	}
//	type Config struct {
//		MaxPacketSize int      `conf:"max_packet_size,size"`
//		AllowAnon     bool     `conf:"allow_anonymous"`
//		Session       Session  `conf:"session"` // session.max_inflight, ...
//	}
//
// The tag is a key name followed by options, `conf:"name,opt,opt"`. The name
// is one or more key segments ("session", or "listener.tcp"), or "." for the
// key of the enclosing struct itself: inside a struct tagged
// `conf:"listener.tcp"`, a field tagged `conf:"."` reads "listener.tcp =
// 1883" while its siblings read "listener.tcp.acceptors" and so on. Fields
// without a tag, and fields tagged `conf:"-"`, are not decoded; an untagged
// embedded struct has its fields decoded as if they were the outer
// struct's.
//
// Field types and the values they take:
//
//   - string: the value as is.
//   - bool: on, off, true or false, in any case (see ParseBool).
//   - int, int8 ... int64, uint ... uint64: a decimal integer in range.
//     With option "size", a size in bytes such as 512B, 64KB, 8MB or 1GB
//     (KB = 1024; see ParseSize). With option "inf0", the word "infinity"
//     is 0 (EMQ's "max_length = infinity" means no limit, which the
//     broker's options spell 0).
//   - float32, float64: a decimal number. With option "percent", a
//     percentage: "20%" is 0.2 (see ParsePercent).
//   - time.Duration: a duration such as 30s, 1m, 2h, 1d, 1w or 1h30m (see
//     ParseDuration). A bare number is an error unless the option
//     "unit=<u>" names its unit (ns, us, ms, s, m, h, d or w): EMQ 2.0
//     writes "retry_interval = 60" meaning seconds, decoded with
//     `conf:"retry_interval,unit=s"`. "0" is always accepted. Option "inf0"
//     works as for integers.
//   - a type whose pointer implements encoding.TextUnmarshaler: the value
//     is passed to UnmarshalText as is (this is checked first, so it covers
//     struct and integer types too).
//   - a pointer to any of the above: set to a new value when the key is
//     set, which tells "set" from "missing".
//   - a slice of any of the above: a comma-separated list, items trimmed
//     and empty items dropped ("a, b,,c" is [a b c]). With option "list",
//     numbered keys instead: `conf:"rule,list"` reads "rule.1", "rule.2", ...
//   - a struct, or pointer to struct: a group of keys under the field's name
//     used as a prefix. A nil pointer is allocated only when some key under
//     the prefix is set.
//   - a slice of structs (or of pointers to structs): a numbered group.
//     `conf:"client"` (option "list" optional) reads "client.1.clientid",
//     "client.1.password", "client.2.clientid", ... into one element per
//     number, in numeric order (numbers need not be contiguous). Keys such
//     as "client.backend", whose segment after the prefix is not a number,
//     are left to other fields.
//   - a map with string keys (option "map" optional): for scalar elements,
//     every key under the prefix, with the prefix removed: `conf:"username"`
//     on a map[string]string reads "username.alice = secret" as
//     m["alice"] = "secret". For struct elements, one element per first
//     segment after the prefix: map[string]Listener tagged
//     `conf:"listener.tcp"` reads "listener.tcp.external.acceptors" into
//     m["external"].Acceptors. Existing map entries are kept and updated
//     (in a copy of the map: Decode never writes into the caller's maps or
//     through its pointers).
//   - a Map: every key under the prefix, as Map.Sub returns it, for a part
//     the caller interprets itself.
//
// A key that is missing leaves its field unchanged, so a caller fills the
// struct with defaults before decoding. A key that no field reads is an
// error ("unknown key") for Decode, and ignored by DecodeKnown. Every
// problem is reported, not just the first: Decode returns them joined with
// errors.Join, each an *Error such as
//
//	emq.conf:42: mqtt.session.retry_interval: invalid value "soon": want a duration like 30s, 1m, 2h or 1d, or a number of seconds
//
// Errors from a Map obtained with Sub still name the key in full, as it is
// written in the file.
//
// # Cuttlefish conventions
//
// IsOff recognizes the ways a value turns a feature off ("off", "false",
// "disable", "disabled", ""), for keys such as "module.presence = on" that
// are both a switch and a prefix.
package conf
