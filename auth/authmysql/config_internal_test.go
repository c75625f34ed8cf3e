package authmysql

import (
	"testing"
	"time"
)

func TestDriverConfig(t *testing.T) {
	for _, tc := range []struct {
		server, net, addr string
	}{
		{"", "tcp", "127.0.0.1:3306"},
		{"db.example:3307", "tcp", "db.example:3307"},
		{"db.example", "tcp", "db.example:3306"},
		{"[::1]:3306", "tcp", "[::1]:3306"},
		{"::1", "tcp", "[::1]:3306"},
		{"/run/mysqld/mysqld.sock", "unix", "/run/mysqld/mysqld.sock"},
	} {
		mc, err := driverConfig(Config{Server: tc.server, Username: "u", Password: "p@/:?", ConnectTimeout: time.Second})
		if err != nil || mc.Net != tc.net || mc.Addr != tc.addr || mc.Passwd != "p@/:?" || mc.Timeout != time.Second {
			t.Errorf("%q: %v %v", tc.server, mc, err)
		}
	}
	if _, err := driverConfig(Config{Server: ":3306"}); err == nil {
		t.Error(`":3306": no error`)
	}
	// The integer 1 only, as EMQ's [[1]].
	for _, tc := range []struct {
		v      any
		dbType string
		want   bool
	}{
		{int64(1), "TINYINT", true}, {uint64(1), "INT", true}, {"1", "TINYINT", true},
		{int64(2), "TINYINT", false}, {"1", "VARCHAR", false}, {"true", "VARCHAR", false},
		{nil, "TINYINT", false}, {float64(1), "DOUBLE", false}, {int64(0), "TINYINT", false},
	} {
		if got := isSuper(tc.v, tc.dbType); got != tc.want {
			t.Errorf("isSuper(%#v, %s) = %v", tc.v, tc.dbType, got)
		}
	}
}
