package broker_test

import (
	"os/exec"
	"strings"
	"testing"
)

// thirdParty lists, per leaf package, the modules it alone may import.
var thirdParty = map[string][]string{
	"ws":            {"github.com/coder/websocket"},
	"mods/retainer": {"go.etcd.io/bbolt"},

	"auth/internal/passwd": {"golang.org/x/crypto"},

	"auth/authmysql": {"github.com/go-sql-driver/mysql"},
	"auth/authpgsql": {"github.com/jackc/pgx/v5"},
	"auth/authredis": {"github.com/redis/go-redis/v9"},
	"auth/authmongo": {"go.mongodb.org/mongo-driver/v2"},
	"auth/authldap":  {"github.com/go-ldap/ldap/v3"},
}

// TestDependencyRule enforces the dependency rule of ARCHITECTURE.md:
//  1. packets, topic, conf and internal/ import only the standard library;
//     the root imports only them. So a host that imports the root links no
//     third-party code at all.
//  2. Plugins and harnesses import the root and the core packages, never
//     each other (auth/* may share auth/internal/).
//  3. A third-party module is imported directly only by the leaf listed for
//     it in thirdParty; what that module pulls in is its own business.
//
// examples/ and interop/ may import anything.
func TestDependencyRule(t *testing.T) {
	const mod = "github.com/emqgo/broker"
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list ./...: %v", err)
	}
	owner := map[string]string{} // module -> the one package allowed to import it
	for pkg, mods := range thirdParty {
		for _, m := range mods {
			if other, ok := owner[m]; ok && other != pkg {
				t.Errorf("thirdParty lists %s for both %s and %s", m, other, pkg)
			}
			owner[m] = pkg
		}
	}
	core := []string{mod + "/packets", mod + "/topic", mod + "/conf", mod + "/internal/"}
	for _, pkg := range strings.Fields(string(out)) {
		rel := strings.TrimPrefix(strings.TrimPrefix(pkg, mod), "/")
		if strings.HasPrefix(rel, "examples/") || rel == "interop" {
			continue
		}
		var allow []string // project packages pkg may depend on, transitively
		leaf := false
		switch {
		case rel == "packets" || rel == "topic" || rel == "conf" || strings.HasPrefix(rel, "internal/"):
		case rel == "":
			allow = core
		default:
			leaf = true
			allow = append([]string{mod, pkg + "/"}, core...)
			if strings.HasPrefix(rel, "auth/") {
				allow = append(allow, mod+"/auth/internal/")
			}
		}
		t.Run(rel, func(t *testing.T) {
			deps := goList(t, "{{if not .Standard}}{{.ImportPath}}{{end}}", "-deps", pkg)
			for _, dep := range deps {
				if dep == pkg {
					continue
				}
				if strings.HasPrefix(dep, mod+"/") || dep == mod {
					if !allowed(dep, allow) {
						t.Errorf("%s depends on %s, which the dependency rule forbids", pkg, dep)
					}
				} else if !leaf {
					t.Errorf("%s depends on third-party %s; only leaf packages may", pkg, dep)
				}
			}
			if !leaf {
				return
			}
			for _, imp := range goList(t, `{{join .Imports "\n"}}`, pkg) {
				if strings.HasPrefix(imp, mod) || !strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
					continue // the project, or the standard library
				}
				m := moduleOf(imp, owner)
				if m == "" || owner[m] != rel {
					t.Errorf("%s imports %s: add its module to thirdParty[%q] (each module has one importer)", pkg, imp, rel)
				}
			}
		})
	}
}

func goList(t *testing.T, format string, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-f", format}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

// moduleOf returns the listed module that import path imp belongs to.
func moduleOf(imp string, owner map[string]string) string {
	for m := range owner {
		if imp == m || strings.HasPrefix(imp, m+"/") {
			return m
		}
	}
	return ""
}

func allowed(dep string, allow []string) bool {
	for _, a := range allow {
		if dep == a || strings.HasPrefix(dep, strings.TrimSuffix(a, "/")+"/") {
			return true
		}
	}
	return false
}
