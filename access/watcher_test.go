package access

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log sink the watcher goroutine and the test share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// writeFile replaces path's contents the way editors and ConfigMaps do:
// a new file renamed into place.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond for up to five seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWatcherReload(t *testing.T) {
	key, line := newKey(t)
	path := filepath.Join(t.TempDir(), "access.yaml")
	file := func(projects, keys string) string {
		return fmt.Sprintf("readers:\n  - name: flux\n    projects: [%s]\n    sshKeys: [%s]\n    tokens: [%q]\n", projects, keys, HashToken(secret))
	}
	writeFile(t, path, file(`"platform/*"`, fmt.Sprintf("%q", line)))
	var logs syncBuffer
	w, err := NewWatcher(path, slog.New(slog.NewTextHandler(&logs, nil)), 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v", err)
		}
	}()

	if w.Generation() != 1 || w.LastError() != nil {
		t.Fatalf("after NewWatcher: generation %d, last error %v", w.Generation(), w.LastError())
	}
	if r, ok := w.AuthorizeKey(key); !ok || r != "flux" || !w.CanRead("flux", "platform/fleet") {
		t.Fatalf("initial list does not let flux read platform/fleet with its key")
	}

	// phase: an edit is picked up within the interval
	writeFile(t, path, file(`"platform/*", "apps/*"`, fmt.Sprintf("%q", line)))
	eventually(t, "the edit is loaded", func() bool { return w.CanRead("flux", "apps/web") })
	if w.Generation() != 2 {
		t.Errorf("generation = %d after one edit, want 2", w.Generation())
	}

	// phase: a broken edit keeps the last good list and says why
	writeFile(t, path, "readers:\n  - name: flux\n    tokens: ["+secret+"]\n")
	eventually(t, "the broken edit is reported", func() bool { return w.LastError() != nil })
	if err := w.LastError(); !strings.Contains(err.Error(), path+":3:14:") || !strings.Contains(err.Error(), "plaintext token") {
		t.Errorf("LastError() = %v, want the place and the reason", err)
	}
	if !w.CanRead("flux", "apps/web") || w.Generation() != 2 || w.Failures() != 1 {
		t.Errorf("after a broken edit: canRead=%v generation=%d failures=%d; want the last good list kept and one failure",
			w.CanRead("flux", "apps/web"), w.Generation(), w.Failures())
	}
	time.Sleep(100 * time.Millisecond) // several checks of the same broken file
	if w.Failures() != 1 {
		t.Errorf("the same broken file counted %d times", w.Failures())
	}

	// phase: a removed file is an error too, and the last good list stays
	os.Remove(path)
	eventually(t, "the missing file is reported", func() bool { return w.Failures() == 2 })
	if _, ok := w.AuthorizeKey(key); !ok {
		t.Error("the key stopped working when the file went missing")
	}

	// phase: a removed key stops working
	writeFile(t, path, file(`"platform/*"`, ""))
	eventually(t, "the key is removed", func() bool { _, ok := w.AuthorizeKey(key); return !ok })
	if w.LastError() != nil || w.Generation() != 3 {
		t.Errorf("after a good edit: last error %v, generation %d; want nil, 3", w.LastError(), w.Generation())
	}
	if r, ok := w.AuthorizeToken(secret); !ok || r != "flux" {
		t.Error("the token stopped working with the key")
	}

	for _, leak := range []string{secret, strings.Fields(line)[1]} {
		if strings.Contains(logs.String(), leak) {
			t.Errorf("the log shows a token or key:\n%s", logs.String())
		}
	}
	for _, want := range []string{"access list reloaded", "keeping the last good list", "plaintext token"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, logs.String())
		}
	}
}

func TestWatcherSameSizeSameSecond(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.yaml")
	writeFile(t, path, "anonymous: [\"aaa\"]\n")
	w, err := NewWatcher(path, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	writeFile(t, path, "anonymous: [\"bbb\"]\n")
	os.Chtimes(path, fi.ModTime(), fi.ModTime())
	if err := w.Reload(); err != nil {
		t.Fatal(err)
	}
	if !w.Anonymous("bbb") || w.Anonymous("aaa") {
		t.Error("an edit with the same size and mtime was missed")
	}
}

func TestNewWatcherNeedsAGoodFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "readers: [\n")
	for _, path := range []string{bad, filepath.Join(dir, "missing.yaml")} {
		if _, err := NewWatcher(path, nil, 0); err == nil {
			t.Errorf("NewWatcher(%s) succeeded", filepath.Base(path))
		}
	}
}

// A reader without projects loads (the file is valid) but grants
// nothing: a warning names the reader and its file:line:col, at the first
// load and at a reload. Observe sees every reload's result.
func TestWatcherWarnsAndCountsReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.yaml")
	writeFile(t, path, fmt.Sprintf("readers:\n  - name: flux\n    tokens: [%q]\n", HashToken(secret)))
	var logs syncBuffer
	w, err := NewWatcher(path, slog.New(slog.NewTextHandler(&logs, nil)), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	want := `level=WARN msg="access file grants a reader nothing"`
	if got := logs.String(); !strings.Contains(got, want) || !strings.Contains(got, path+`:2:`) || !strings.Contains(got, `reader \"flux\" may read no project`) {
		t.Errorf("loading a reader without projects logged:\n%s\nwant %s naming %s:2 and the reader", got, want, path)
	}
	var results []string
	w.Observe(func(r string) { results = append(results, r) })
	writeFile(t, path, fmt.Sprintf("readers:\n  - name: flux\n    projects: [\"platform/*\"]\n    tokens: [%q]\n", HashToken(secret)))
	w.Reload()
	if n := strings.Count(logs.String(), want); n != 1 {
		t.Errorf("after giving flux projects, %d warnings in all, want the first one only:\n%s", n, logs.String())
	}
	writeFile(t, path, "readers: [")
	w.Reload()
	w.Reload() // the same broken content counts once
	writeFile(t, path, fmt.Sprintf("readers:\n  - name: ci\n    tokens: [%q]\n", HashToken(secret)))
	w.Reload()
	if got := strings.Join(results, ","); got != "ok,error,ok" {
		t.Errorf("observed reloads %s, want ok,error,ok", got)
	}
	if n := strings.Count(logs.String(), want); n != 2 {
		t.Errorf("reloading a reader without projects: %d warnings in all, want 2:\n%s", n, logs.String())
	}
}
