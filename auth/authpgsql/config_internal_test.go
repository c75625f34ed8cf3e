package authpgsql

import (
	"testing"
	"time"
)

// Every setting stays inside its own value, whatever it holds.
func TestDriverConfigQuoting(t *testing.T) {
	cfg := Config{
		Server: "[::1]:6543", Username: "u' sslmode=disable x='", Password: `p\' host=evil '`,
		Database: "db name", SSL: true, ConnectTimeout: 1500 * time.Millisecond,
	}
	pc, addr, err := driverConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if pc.Host != "::1" || pc.Port != 6543 || addr != "[::1]:6543" {
		t.Errorf("host %q port %d addr %q", pc.Host, pc.Port, addr)
	}
	if pc.User != cfg.Username || pc.Password != cfg.Password || pc.Database != cfg.Database {
		t.Errorf("user %q password %q database %q", pc.User, pc.Password, pc.Database)
	}
	if pc.TLSConfig == nil || pc.ConnectTimeout != cfg.ConnectTimeout {
		t.Errorf("TLS %v, connect timeout %v", pc.TLSConfig != nil, pc.ConnectTimeout)
	}
	for _, bad := range []Config{{Server: ":5432"}, {Server: "h:0"}, {Server: "h:x"}, {Encoding: "latin1"}, {Pool: -1}} {
		if _, _, err := driverConfig(bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	pc, _, err = driverConfig(Config{Server: "/var/run/postgresql"})
	if err != nil || pc.Host != "/var/run/postgresql" || pc.Port != 5432 || pc.TLSConfig != nil {
		t.Errorf("socket: %v %v", pc, err)
	}
}
