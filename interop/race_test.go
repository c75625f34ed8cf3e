//go:build race

package interop_test

// Under go test -race, emqd is built with the race detector too, so that a
// data race real clients provoke in the broker fails the test (emqd then
// exits 66 and prints "WARNING: DATA RACE" on stderr).
func init() { emqdBuildFlags = []string{"-race"} }
