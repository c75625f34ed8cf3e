package reloader

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/emqgo/broker"
)

// Config configures a Reloader. Its conf tags are EMQ's
// etc/plugins/emq_reloader.conf keys without the "reloader." prefix.
type Config struct {
	// Interval is how often the configuration files are checked; 0 means
	// never (only the "reload" command reloads). EMQ writes a number of
	// seconds (60).
	Interval time.Duration `conf:"interval,unit=s"`
	// LogFile, when set, is a file every reload and its result are
	// appended to, one line each; its folder is created if needed.
	LogFile string `conf:"logfile"`
}

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	if c.Interval < 0 {
		return fmt.Errorf("reloader: interval %v is negative", c.Interval)
	}
	return nil
}

// ReloadTimeout bounds one plugin reload started by the watcher.
const ReloadTimeout = time.Minute

// Reloader watches plugin configuration files and reloads plugins. Create
// one with New and attach it to one broker.
type Reloader struct {
	cfg Config

	mu   sync.Mutex      // guards seen and serializes checks
	seen map[string]file // plugin name -> its file as last seen
	lmu  sync.Mutex      // serializes writes to the log file
}

// file is what is known of a configuration file.
type file struct {
	path    string
	exists  bool
	modTime time.Time
	size    int64
	sum     [sha256.Size]byte
}

// New returns a Reloader configured by cfg, or cfg's problem.
func New(cfg Config) (*Reloader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Reloader{cfg: cfg, seen: make(map[string]file)}, nil
}

// Config returns r's configuration.
func (r *Reloader) Config() Config { return r.cfg }

// Attach registers r's "reload" command on b and, with an Interval,
// watches b's plugin files until detach is called or b closes. detach is
// safe to call more than once.
func (r *Reloader) Attach(b *broker.Broker) (detach func(), err error) {
	unregister, err := b.RegisterCommand(r.Command(b))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(b.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx, b)
	}()
	return sync.OnceFunc(func() {
		unregister()
		cancel()
		<-done
	}), nil
}

// Run checks b's plugin files every Interval (at once the first time,
// which records them) until ctx ends. With no Interval it returns at once.
func (r *Reloader) Run(ctx context.Context, b *broker.Broker) {
	if r.cfg.Interval <= 0 {
		return
	}
	r.Check(ctx, b)
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.Check(ctx, b)
		}
	}
}

// Result is the outcome of one reload.
type Result struct {
	Plugin string
	// File is the plugin's configuration file.
	File string
	// Err is why the reload failed; the running plugin is then the one
	// that ran before (or, if it could not be loaded again, none).
	Err error
}

// Check looks once at the configuration files of b's loaded plugins and
// reloads those whose file changed since the last check. The first check
// of a plugin records its file and reloads nothing. It returns the
// reloads it did, in load order.
//
// If ctx ends while a reload is under way, Check returns without waiting;
// the reload finishes (within ReloadTimeout) and logs its result. That
// lets a Reloader that is itself being unloaded, or reloaded, stop.
func (r *Reloader) Check(ctx context.Context, b *broker.Broker) []Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := b.Plugins()
	loaded := p.Loaded()
	live := make(map[string]bool, len(loaded))
	var results []Result
	for _, name := range loaded {
		live[name] = true
		path := p.ConfigFile(name)
		if path == "" {
			continue
		}
		prev, known := r.seen[name]
		cur, err := stat(path)
		if err != nil {
			r.logger(b).Warn("cannot read a plugin's configuration file", "plugin", name, "file", path, "err", err)
			continue
		}
		if known && prev.path == path && cur.exists == prev.exists && cur.modTime.Equal(prev.modTime) && cur.size == prev.size {
			continue
		}
		if cur, err = hash(cur); err != nil {
			r.logger(b).Warn("cannot read a plugin's configuration file", "plugin", name, "file", path, "err", err)
			continue
		}
		r.seen[name] = cur
		if !known || prev.path != path || (cur.exists == prev.exists && cur.sum == prev.sum) {
			continue
		}
		res := Result{Plugin: name, File: path}
		res.Err = r.reloadAsync(ctx, b, name)
		if errors.Is(res.Err, context.Canceled) && ctx.Err() != nil {
			return results
		}
		results = append(results, res)
	}
	for name := range r.seen {
		if !live[name] {
			delete(r.seen, name)
		}
	}
	return results
}

// reloadAsync reloads name on a goroutine of its own, which logs the
// result, and waits for it or for ctx.
func (r *Reloader) reloadAsync(ctx context.Context, b *broker.Broker, name string) error {
	done := make(chan error, 1)
	go func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ReloadTimeout)
		defer cancel()
		done <- r.Reload(rctx, b, name, "configuration file changed")
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Reload reloads the loaded plugin name of b, logs the result with why
// (to b's logger and to the log file), and records the plugin's file as
// seen, so that a check does not reload it again for the same change.
func (r *Reloader) Reload(ctx context.Context, b *broker.Broker, name, why string) error {
	p := b.Plugins()
	err := p.Reload(ctx, name)
	path := p.ConfigFile(name)
	log := r.logger(b)
	if err != nil {
		log.Warn("plugin not reloaded; the running one stays", "plugin", name, "file", path, "why", why, "err", err)
		r.logLine(b, fmt.Sprintf("Reload plugin %s error: %v", name, err))
		return err
	}
	log.Info("plugin reloaded", "plugin", name, "file", path, "why", why)
	r.logLine(b, fmt.Sprintf("Reload plugin %s successfully (%s).", name, why))
	return nil
}

// remember records name's file as it is now (after a reload by command).
func (r *Reloader) remember(b *broker.Broker, name string) {
	path := b.Plugins().ConfigFile(name)
	if path == "" {
		return
	}
	f, err := stat(path)
	if err == nil {
		f, err = hash(f)
	}
	if err != nil {
		return
	}
	r.mu.Lock()
	r.seen[name] = f
	r.mu.Unlock()
}

func (r *Reloader) logger(b *broker.Broker) *slog.Logger {
	return b.Logger().With("module", "reloader")
}

// logLine appends a time-stamped line to the log file, if there is one.
func (r *Reloader) logLine(b *broker.Broker, msg string) {
	if r.cfg.LogFile == "" {
		return
	}
	r.lmu.Lock()
	defer r.lmu.Unlock()
	err := os.MkdirAll(filepath.Dir(r.cfg.LogFile), 0o755)
	if err == nil {
		var f *os.File
		f, err = os.OpenFile(r.cfg.LogFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err == nil {
			_, err = fmt.Fprintf(f, "%s %s\n", time.Now().Format("2006-01-02 15:04:05"), oneLine(msg))
			err = errors.Join(err, f.Close())
		}
	}
	if err != nil {
		r.logger(b).Error("cannot write the reloader log file", "file", r.cfg.LogFile, "err", err)
	}
}

// oneLine joins the lines of a (joined) error message with "; ".
func oneLine(s string) string {
	return string(bytes.ReplaceAll([]byte(s), []byte("\n"), []byte("; ")))
}

// stat returns what the file system says of path, without its contents.
func stat(path string) (file, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return file{path: path}, nil
	case err != nil:
		return file{}, err
	}
	return file{path: path, exists: true, modTime: fi.ModTime(), size: fi.Size()}, nil
}

// hash adds the digest of f's contents.
func hash(f file) (file, error) {
	if !f.exists {
		return f, nil
	}
	fh, err := os.Open(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return file{path: f.path}, nil
	}
	if err != nil {
		return f, err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return f, err
	}
	copy(f.sum[:], h.Sum(nil))
	return f, nil
}
