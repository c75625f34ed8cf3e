package main

import (
	"bufio"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestEmqdPresenceWithMosquittoSub runs the real emqd with its default
// plugins and watches $SYS/brokers/+/clients/+/connected and /disconnected
// with Debian's mosquitto_sub, while mosquitto_pub connects and emqctl kicks
// a client: the payloads are EMQ 2.0's JSON, field for field.
func TestEmqdPresenceWithMosquittoSub(t *testing.T) {
	for _, tool := range []string{"mosquitto_sub", "mosquitto_pub", "stdbuf"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run scripts/test-deps (mosquitto-clients, coreutils)", tool)
		}
	}
	home := t.TempDir()
	e := startEmqd(t, home, "node.name = presence@127.0.0.1\nmqtt.broker.sys_interval = 0\nmqtt.listener.tcp = 127.0.0.1:0\n")
	host, port, _ := strings.Cut(e.addrs["mqtt:tcp"], ":")

	// mosquitto_sub from 127.0.0.1 may read $SYS/# under the default acl.conf.
	sub := exec.Command("stdbuf", "-oL", "mosquitto_sub", "-h", host, "-p", port, "-i", "watcher", "-d", "-v",
		"-t", "$SYS/brokers/+/clients/+/connected", "-t", "$SYS/brokers/+/clients/+/disconnected", "-C", "4", "-W", "20")
	out, err := sub.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Process.Kill(); sub.Wait() })
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, out)
	}()
	next := func(what string, match func(string) bool) string {
		t.Helper()
		deadline := time.After(15 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("mosquitto_sub ended before %s", what)
				}
				if match(l) {
					return l
				}
			case <-deadline:
				t.Fatalf("no %s from mosquitto_sub", what)
			}
		}
	}
	next("SUBACK", func(l string) bool { return strings.Contains(l, "received SUBACK") })
	isMsg := func(l string) bool { return strings.HasPrefix(l, "$SYS/") }

	// A client that connects and disconnects cleanly.
	if code, o := mosquitto(t, "mosquitto_pub", "-h", host, "-p", port, "-i", "dev1", "-u", "u1", "-t", "x", "-m", "y"); code != 0 {
		t.Fatalf("mosquitto_pub: exit %d: %s", code, o)
	}
	ts := `"ts":\d+`
	want := []*regexp.Regexp{
		regexp.MustCompile(`^\$SYS/brokers/presence@127\.0\.0\.1/clients/dev1/connected \{"clientid":"dev1","username":"u1","ipaddress":"127\.0\.0\.1","session":false,"protocol":4,"connack":0,` + ts + `\}$`),
		regexp.MustCompile(`^\$SYS/brokers/presence@127\.0\.0\.1/clients/dev1/disconnected \{"clientid":"dev1","reason":"normal",` + ts + `\}$`),
	}
	for _, re := range want {
		if l := next("presence message", isMsg); !re.MatchString(l) {
			t.Errorf("got  %s\nwant %s", l, re)
		}
	}

	// A persistent client kicked with emqctl.
	nc := dial(t, e.addrs["mqtt:tcp"])
	raw := []byte{0x10, 0x11, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x00, 0, 60, 0, 5, 'd', 'e', 'v', '-', '2'}
	if _, err := nc.Write(raw); err != nil {
		t.Fatal(err)
	}
	if l := next("presence message", isMsg); !regexp.MustCompile(`^\$SYS/brokers/presence@127\.0\.0\.1/clients/dev-2/connected \{"clientid":"dev-2","username":"undefined","ipaddress":"127\.0\.0\.1","session":true,"protocol":4,"connack":0,` + ts + `\}$`).MatchString(l) {
		t.Errorf("got %s", l)
	}
	expectCtl(t, home, 0, "", "", "clients", "kick", "dev-2")
	if l := next("presence message", isMsg); !regexp.MustCompile(`^\$SYS/brokers/presence@127\.0\.0\.1/clients/dev-2/disconnected \{"clientid":"dev-2","reason":"kicked",` + ts + `\}$`).MatchString(l) {
		t.Errorf("got %s", l)
	}
	e.stop(t)
}
