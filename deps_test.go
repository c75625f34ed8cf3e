package broker_test

import (
	"os/exec"
	"strings"
	"testing"
)

// thirdParty lists, per leaf package, the modules it alone may import.
var thirdParty = map[string][]string{
	"ws":            {"github.com/coder/websocket"},
	"mods/retainer": {"go.etcd.io/bbolt", "golang.org/x/sys"},
}

// TestDependencyRule enforces the dependency rule of ARCHITECTURE.md:
//  1. packets, topic and conf import only the standard library; the root
//     imports only them and internal/;
//  2. plugins and harnesses import the root and the core packages, never
//     each other;
//  3. each third-party module is imported by the one leaf that needs it.
//
// examples/ may import anything.
func TestDependencyRule(t *testing.T) {
	const mod = "github.com/emqgo/broker"
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list ./...: %v", err)
	}
	core := []string{mod + "/packets", mod + "/topic", mod + "/conf"}
	for _, pkg := range strings.Fields(string(out)) {
		rel := strings.TrimPrefix(strings.TrimPrefix(pkg, mod), "/")
		var allow []string
		switch {
		case strings.HasPrefix(rel, "examples/"):
			continue
		case rel == "packets" || rel == "topic" || rel == "conf" || strings.HasPrefix(rel, "internal/"):
			allow = nil
		case rel == "":
			allow = append([]string{mod + "/internal/"}, core...)
		default:
			allow = append([]string{mod, mod + "/internal/", pkg + "/"}, core...)
			allow = append(allow, thirdParty[rel]...)
			if strings.HasPrefix(rel, "auth/") {
				allow = append(allow, mod+"/auth/internal/")
			}
		}
		t.Run(rel, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).Output()
			if err != nil {
				t.Fatalf("go list -deps %s: %v", pkg, err)
			}
			for _, dep := range strings.Fields(string(out)) {
				if dep != pkg && !allowed(dep, allow) {
					t.Errorf("%s imports %s, which the dependency rule forbids", pkg, dep)
				}
			}
		})
	}
}

func allowed(dep string, allow []string) bool {
	for _, a := range allow {
		if dep == a || strings.HasPrefix(dep, strings.TrimSuffix(a, "/")+"/") {
			return true
		}
	}
	return false
}
