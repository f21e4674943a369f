package gerrittest

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// A kept ref advertisement is given again only while the repository's
// refs, HEAD and config are as they were, and then it is the same bytes
// http-backend answers: each step changes the repository (through the
// server or behind its back, as bench/ and tests do with C git) and asks
// twice.
func TestAdvertisementKeptUntilRefsChange(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateProject("p", MergeIfNecessary); err != nil {
		t.Fatal(err)
	}
	alice := s.AddAccount("alice")
	dir := s.RepoDir("p")
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	get := func(protocol string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", s.URL()+"/p/info/refs?service=git-upload-pack", nil)
		if protocol != "" {
			req.Header.Set("Git-Protocol", protocol)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-git-upload-pack-advertisement" {
			t.Fatalf("GET info/refs: %d %q %v", resp.StatusCode, resp.Header.Get("Content-Type"), err)
		}
		return string(b)
	}
	// fresh is what http-backend answers now, nothing kept.
	fresh := func(protocol string) string {
		s.adverts.mu.Lock()
		s.adverts.m = nil
		s.adverts.mu.Unlock()
		return get(protocol)
	}
	tip := func() string {
		h, err := s.BranchTip("p", "main")
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	first := tip()
	var second string
	tests := []struct {
		name     string
		change   func()
		protocol string
		want     func() string // a line the answer has
	}{
		{"first ask", func() {}, "", func() string { return first + " refs/heads/main" }},
		{"a new version 2 client", func() {}, "version=2", func() string { return "ls-refs" }},
		{"submit through the server", func() {
			var err error
			if second, err = s.DirectPush("p", "main", alice, "second", map[string]string{"f": "2"}); err != nil {
				t.Fatal(err)
			}
		}, "", func() string { return second + " refs/heads/main" }},
		{"a branch made behind the server's back", func() { git("update-ref", "refs/heads/side", first) }, "", func() string { return first + " refs/heads/side" }},
		{"refs packed", func() { git("pack-refs", "--all") }, "", func() string { return first + " refs/heads/side" }},
		{"a packed ref moved, no loose ref left", func() {
			git("update-ref", "refs/heads/side", second)
			git("pack-refs", "--all")
		}, "", func() string { return second + " refs/heads/side" }},
		{"HEAD pointed elsewhere", func() { git("symbolic-ref", "HEAD", "refs/heads/side") }, "", func() string { return "symref=HEAD:refs/heads/side" }},
	}
	for _, tt := range tests {
		tt.change()
		runs := s.adverts.runs.Load()
		got := get(tt.protocol)
		if n := s.adverts.runs.Load() - runs; n != 1 {
			t.Errorf("%s: http-backend ran %d times for the first answer after the change, want 1", tt.name, n)
		}
		again := get(tt.protocol)
		if n := s.adverts.runs.Load() - runs; n != 1 {
			t.Errorf("%s: http-backend ran again for an unchanged repository", tt.name)
		}
		want := fresh(tt.protocol)
		if got != want || again != want {
			t.Errorf("%s: answers differ from http-backend's\nfirst: %q\nagain: %q\nwant:  %q", tt.name, got, again, want)
		}
		if !strings.Contains(want, tt.want()) {
			t.Errorf("%s: the answer lacks %q:\n%q", tt.name, tt.want(), want)
		}
	}
}
