package topic_test

import (
	"fmt"
	"slices"

	"github.com/emqgo/broker/topic"
)

func ExampleMatch() {
	fmt.Println(topic.Match("sport/tennis/+", "sport/tennis/player1"))
	fmt.Println(topic.Match("sport/#", "sport"))      // '#' matches the parent level
	fmt.Println(topic.Match("sport/+", "sport"))      // '+' needs a level, though it may be empty
	fmt.Println(topic.Match("#", "$SYS/broker/load")) // wildcards do not reach '$' topics
	fmt.Println(topic.Match("$SYS/#", "$SYS/broker/load"))
	// Output:
	// true
	// true
	// false
	// false
	// true
}

func ExampleValidateFilter() {
	for _, f := range []string{"sport/+/player1", "sport/tennis#", "$share/g1/sport/#", "$share/g+/x"} {
		fmt.Printf("%s: %v\n", f, topic.ValidateFilter(f))
	}
	// Output:
	// sport/+/player1: <nil>
	// sport/tennis#: topic: misplaced wildcard: '#' must be the whole last level in "sport/tennis#"
	// $share/g1/sport/#: <nil>
	// $share/g+/x: topic: invalid shared subscription group: '+' in share name "g+"
}

func ExampleParseShared() {
	fmt.Println(topic.ParseShared("$share/workers/jobs/+"))
	fmt.Println(topic.ParseShared("$queue/jobs/+"))
	fmt.Println(topic.ParseShared("jobs/+"))
	// Output:
	// workers jobs/+ true
	// $queue jobs/+ true
	//  jobs/+ false
}

func ExampleTree() {
	subs := topic.NewTree[string]() // values are client IDs here
	subs.Insert("devices/+/temp", "dashboard")
	subs.Insert("devices/42/#", "device-42-log")
	subs.Insert("devices/42/temp", "thermostat")
	subs.Insert("#", "audit")

	// The result is shared with the tree's cache: copy before sorting.
	got := slices.Clone(subs.Match("devices/42/temp"))
	slices.Sort(got)
	fmt.Println(got)

	subs.Remove("#", "audit")
	fmt.Println(subs.Match("devices/7/temp"), subs.Len(), subs.Filters())
	fmt.Println(subs.Match("$SYS/uptime"))
	// Output:
	// [audit dashboard device-42-log thermostat]
	// [dashboard] 3 3
	// []
}

func ExampleRetained() {
	retained := topic.NewRetained[string]() // values are payloads here
	retained.Set("devices/1/temp", "21.5")
	retained.Set("devices/2/temp", "19.0")
	retained.Set("devices/2/humidity", "40")
	retained.Set("$SYS/version", "1.0")

	var got []string
	retained.Match("devices/+/temp", func(name, payload string) bool {
		got = append(got, name+"="+payload)
		return true
	})
	slices.Sort(got)
	fmt.Println(got)

	n := 0
	retained.Match("#", func(string, string) bool { n++; return true })
	fmt.Println(n, retained.Len()) // "#" skips $SYS

	retained.Delete("devices/1/temp")
	_, ok := retained.Get("devices/1/temp")
	fmt.Println(ok)
	// Output:
	// [devices/1/temp=21.5 devices/2/temp=19.0]
	// 3 4
	// false
}
