// Package authhttp authenticates clients and authorizes their publishes
// and subscriptions by asking an HTTP server: EMQ's emq_auth_http plugin.
//
// Three requests may be configured, each a URL, a method (get: parameters
// in the query string; post: an application/x-www-form-urlencoded body)
// and a parameter list such as "clientid=%c,username=%u,password=%P":
//
//   - auth_req, when a client connects: 200 allows, 200 with the body
//     "ignore" leaves the decision to the next module, any other status
//     below 500 denies. A client without a user name or a password is
//     refused without asking, as in EMQ.
//   - super_req, after a successful authentication: 200 makes the client a
//     superuser, which skips the ACL.
//   - acl_req, for each subscription and each publish (publishes are
//     cached per connection unless mqtt.cache_acl is off): the same
//     answers, with %A = 1 for subscribe and 2 for publish and %t the
//     topic.
//
// A parameter's value is exactly one placeholder (%u %c %a %P %t %A, and
// %C, %d from the client's TLS certificate) or a literal; values are
// URL-encoded, so nothing a client sends can add a parameter or change the
// request.
//
// When the server cannot be reached, times out or answers with a 5xx
// status, authentication denies (Config.AuthOnError, or ignore) and the
// ACL answers Config.ACLOnError (EMQ 2.0's acl_nomatch: deny, allow or
// ignore). The failure is logged once when a burst starts, then once a
// minute while it lasts, and once more when the server answers again.
// Each request is bounded by Config.Timeout, and connections to a server
// by Config.PoolSize; a slow server holds up only the clients waiting for
// it.
//
// An embedder registers the module directly:
//
//	a, err := authhttp.New(authhttp.Config{
//		AuthReq: authhttp.Request{URL: "http://127.0.0.1:8080/mqtt/auth", Params: "clientid=%c,username=%u,password=%P"},
//		ACLReq:  authhttp.Request{URL: "http://127.0.0.1:8080/mqtt/acl", Method: "get", Params: "access=%A,username=%u,topic=%t"},
//	})
//	...
//	b.RegisterAuth(a)
//	b.RegisterACL(a)
//
// and emqd loads it as the plugin emq_auth_http (see Plugin and
// ParseConfig).
//
// Differences from EMQ: a parameter value that contains '%' but is not
// exactly a placeholder is a configuration error (EMQ sent it as a
// literal); 5xx answers count as failures rather than refusals (both deny
// by default); %C and %d come from EMQ 3.2; auth_req.on_error, the request
// timeouts, pool_size and header.* are from EMQ 3 or new.
package authhttp
