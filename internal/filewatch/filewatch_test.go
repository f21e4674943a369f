package filewatch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCheck walks one file through edits, each step a check.
func TestCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("v1")
	f := New(path, []byte("v1"))
	steps := []struct {
		what    string
		prepare func()
		force   bool
		want    string // content handed out, "" for none
		wantErr bool
	}{
		{"unchanged", nil, false, "", false},
		{"edit seen once", func() { write("half") }, false, "", false},
		{"edit went on before the second check", func() { write("v2") }, false, "", false},
		{"same content twice: taken", nil, false, "v2", false},
		{"taken once only", nil, false, "", false},
		{"forced: taken at once", func() { write("v3") }, true, "v3", false},
		{"forced, unchanged: nothing", nil, true, "", false},
		{"deleted: an error", func() { os.Remove(path) }, false, "", true},
		{"back with the same content: seen once", func() { write("v3") }, false, "", false},
		{"back, twice: taken again", nil, false, "v3", false},
		{"edited back and forth before the second check", func() { write("v4") }, false, "", false},
		{"reverted: the applied content, nothing", func() { write("v3") }, false, "", false},
		{"v4 again: seen once, not twice in a row", func() { write("v4") }, false, "", false},
	}
	for _, st := range steps {
		if st.prepare != nil {
			st.prepare()
		}
		data, changed, err := f.Check(st.force)
		got := ""
		if changed {
			got = string(data)
		}
		if got != st.want || (err != nil) != st.wantErr {
			t.Errorf("%s: Check(%v) = %q, %v, %v; want %q, error %v", st.what, st.force, data, changed, err, st.want, st.wantErr)
		}
	}
}

// TestRun: ticks check unforced, a value on force checks forced, and Run
// returns when ctx ends.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	force := make(chan struct{})
	calls := make(chan bool, 100)
	done := make(chan struct{})
	go func() {
		Run(ctx, 5*time.Millisecond, force, func(f bool) { calls <- f })
		close(done)
	}()
	if f := <-calls; f {
		t.Errorf("a tick checked forced")
	}
	force <- struct{}{}
	deadline := time.After(5 * time.Second)
	for forced := false; !forced; {
		select {
		case f := <-calls:
			forced = f
		case <-deadline:
			t.Fatal("a value on force did not check forced")
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after ctx ended")
	}
}
