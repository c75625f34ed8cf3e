package recon

import (
	"fmt"
	"html"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Handler returns an http.Handler serving the Go runtime's profiles as
// net/http/pprof does, so that "go tool pprof" can read them:
//
//	/debug/pprof/                 an index of the profiles
//	/debug/pprof/<name>?debug=N   a runtime/pprof profile: heap, goroutine, allocs, block, mutex, threadcreate
//	                              (debug=0: the binary format; heap?gc=1 collects garbage first)
//	/debug/pprof/profile?seconds=N  a CPU profile over N (30) seconds
//	/debug/pprof/trace?seconds=N    an execution trace over N (1) seconds
//	/debug/pprof/cmdline          the command line, NUL-separated
//
// Mount it at "/debug/pprof/" (the part of the path after the last
// "/debug/pprof/" names the profile; without that prefix, the whole path
// does, so http.StripPrefix works too). Profiles reveal the program's
// internals and a CPU profile costs CPU: serve it only where trusted people
// can reach it. Unlike importing net/http/pprof, Handler registers nothing
// on http.DefaultServeMux.
func Handler() http.Handler { return http.HandlerFunc(servePprof) }

const pprofPrefix = "/debug/pprof/"

func profileName(path string) string {
	if i := strings.LastIndex(path, pprofPrefix); i >= 0 {
		return path[i+len(pprofPrefix):]
	}
	if path == strings.TrimSuffix(pprofPrefix, "/") {
		return ""
	}
	return strings.TrimPrefix(path, "/")
}

func servePprof(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	name := profileName(r.URL.Path)
	switch name {
	case "":
		pprofIndex(w)
	case "cmdline":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, strings.Join(os.Args, "\x00"))
	case "profile":
		sec := seconds(r, 30)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="profile"`)
		if err := pprof.StartCPUProfile(w); err != nil {
			pprofError(w, http.StatusInternalServerError, "could not start the CPU profile: "+err.Error())
			return
		}
		wait(r, sec)
		pprof.StopCPUProfile()
	case "trace":
		sec := seconds(r, 1)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="trace"`)
		if err := trace.Start(w); err != nil {
			pprofError(w, http.StatusInternalServerError, "could not start the trace: "+err.Error())
			return
		}
		wait(r, sec)
		trace.Stop()
	default:
		p := pprof.Lookup(name)
		if p == nil {
			pprofError(w, http.StatusNotFound, "unknown profile "+strconv.Quote(name))
			return
		}
		debug, _ := strconv.Atoi(r.FormValue("debug"))
		if name == "heap" && r.FormValue("gc") != "" {
			runtime.GC()
		}
		if debug != 0 {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		} else {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
		}
		p.WriteTo(w, debug)
	}
}

// seconds returns the request's "seconds" parameter, or def.
func seconds(r *http.Request, def float64) time.Duration {
	s, err := strconv.ParseFloat(r.FormValue("seconds"), 64)
	if err != nil || s <= 0 {
		s = def
	}
	return time.Duration(s * float64(time.Second))
}

// wait waits for d, or for the client to go away.
func wait(r *http.Request, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}

func pprofError(w http.ResponseWriter, code int, msg string) {
	w.Header().Del("Content-Disposition")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

func pprofIndex(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	ps := pprof.Profiles()
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name() < ps[j].Name() })
	var b strings.Builder
	b.WriteString("<html><head><title>/debug/pprof/</title></head><body>\n<p>Profiles (add ?debug=1 for text):</p>\n<table>\n")
	for _, p := range ps {
		n := html.EscapeString(p.Name())
		fmt.Fprintf(&b, "<tr><td align=right>%d</td><td><a href=\"%s?debug=1\">%s</a></td></tr>\n", p.Count(), n, n)
	}
	b.WriteString("<tr><td></td><td><a href=\"goroutine?debug=2\">full goroutine stack dump</a></td></tr>\n")
	b.WriteString("<tr><td></td><td><a href=\"profile\">profile</a> (CPU, ?seconds=30)</td></tr>\n")
	b.WriteString("<tr><td></td><td><a href=\"trace\">trace</a> (?seconds=1)</td></tr>\n")
	b.WriteString("<tr><td></td><td><a href=\"cmdline\">cmdline</a></td></tr>\n")
	b.WriteString("</table></body></html>\n")
	fmt.Fprint(w, b.String())
}
