// Package topic implements MQTT topic names and topic filters: validation
// ([ValidateName], [ValidateFilter]), matching ([Match]), shared-subscription
// parsing ([ParseShared]), a concurrent subscription tree with a bounded,
// patched match cache ([Tree]) and a retained-message index that answers
// wildcard subscriptions without scanning every retained topic ([Retained]).
//
// The rules implemented are those of MQTT 5.0 sections 4.7 (topic names and
// topic filters) and 4.8.2 (shared subscriptions), which are unchanged from
// MQTT 3.1.1 apart from the shared form. The package imports only the
// standard library.
package topic
