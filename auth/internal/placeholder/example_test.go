package placeholder_test

import (
	"fmt"

	"github.com/emqgo/broker/auth/internal/placeholder"
)

func ExampleParseSQL() {
	q, _ := placeholder.ParseSQL("select password from mqtt_user where username = '%u' limit 1", placeholder.Dollar)
	v := placeholder.Values{Username: "' or '1'='1"}
	fmt.Println(q.Text)
	fmt.Printf("%q\n", q.Args(&v))
	// Output:
	// select password from mqtt_user where username = $1 limit 1
	// ["' or '1'='1"]
}

func ExampleParseCommand() {
	c, _ := placeholder.ParseCommand("HMGET mqtt_user:%u password salt")
	v := placeholder.Values{Username: "a b"}
	fmt.Printf("%q\n", c.Args(&v))
	// Output: ["HMGET" "mqtt_user:a b" "password" "salt"]
}

func ExampleParseParams() {
	ps, _ := placeholder.ParseParams("clientid=%c,username=%u,password=%P")
	v := placeholder.Values{ClientID: "c1", Username: "&x=y", Password: "100%"}
	fmt.Println(ps.Encode(&v))
	// Output: clientid=c1&username=%26x%3Dy&password=100%25
}
