package uploadpack_test

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gerritgate/gerritgate/internal/gitexec"
	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

func TestProtocol(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"version=2", "version=2"},
		{"version=2:object-format=sha256", "version=2:object-format=sha256"},
		{"version=2 evil", ""},
		{"version=2\nGIT_DIR=/etc", ""},
		{"version=2;id", ""},
		{strings.Repeat("a", 256), strings.Repeat("a", 256)},
		{strings.Repeat("a", 257), ""},
	}
	for _, tt := range tests {
		if got := uploadpack.Protocol(tt.in); got != tt.want {
			t.Errorf("Protocol(%.20q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestCommandEnvironment: git gets nothing of our environment but PATH,
// and the client's GIT_PROTOCOL only when it is well-formed.
func TestCommandEnvironment(t *testing.T) {
	t.Setenv("GERRITGATE_TEST_SECRET", "s3cret")
	t.Setenv("GIT_DIR", "/elsewhere")
	tests := []struct{ protocol, want string }{
		{"version=2", "GIT_PROTOCOL=version=2"},
		{"version=2 GIT_DIR=/x", ""},
		{"", ""},
	}
	for _, tt := range tests {
		cmd := uploadpack.Command(context.Background(), "git", "/srv/x.git", tt.protocol, uploadpack.Conversation)
		var got []string
		for _, kv := range cmd.Env {
			if strings.Contains(kv, "s3cret") || strings.HasPrefix(kv, "GIT_DIR=") {
				t.Errorf("protocol %q: env has %q from our own environment", tt.protocol, kv)
			}
			if strings.HasPrefix(kv, "GIT_PROTOCOL=") {
				got = append(got, kv)
			}
		}
		if want := []string{tt.want}; tt.want == "" && len(got) != 0 || tt.want != "" && !slices.Equal(got, want) {
			t.Errorf("protocol %q: GIT_PROTOCOL entries %q, want %q", tt.protocol, got, tt.want)
		}
		for _, kv := range []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_NO_REPLACE_OBJECTS=1"} {
			if !slices.Contains(cmd.Env, kv) {
				t.Errorf("protocol %q: env lacks %s", tt.protocol, kv)
			}
		}
	}
}

// TestCommandServedSettings runs real git upload-pack on a repository
// whose own configuration asks for everything the served settings forbid:
// the advertisement must hide refs/gerritgate/ and offer no filters and
// no wants of unadvertised objects, in protocol v0 and v2.
func TestCommandServedSettings(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "x.git")
	git := func(args ...string) string {
		t.Helper()
		cmd := gitexec.Command(context.Background(), dir, args...)
		cmd.Env = append(cmd.Env, "GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@example.com", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@example.com")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "init", "-q", "--bare", dir).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v: %s", err, out)
	}
	tree := git("hash-object", "-t", "tree", "-w", "/dev/null")
	commit := git("commit-tree", tree, "-m", "first")
	git("update-ref", "refs/heads/main", commit)
	git("update-ref", "refs/gerritgate/baseline/prod", commit)
	for _, kv := range [][2]string{
		{"uploadpack.allowAnySHA1InWant", "true"},
		{"uploadpack.allowReachableSHA1InWant", "true"},
		{"uploadpack.allowTipSHA1InWant", "true"},
		{"uploadpack.allowFilter", "true"},
		{"uploadpack.allowRefInWant", "true"},
	} {
		git("config", kv[0], kv[1])
	}

	tests := []struct {
		protocol string
		want     []string // in the advertisement
		refused  []string // not in it
	}{
		{"", []string{"refs/heads/main"}, []string{"refs/gerritgate/", "filter", "allow-tip-sha1-in-want", "allow-reachable-sha1-in-want"}},
		{"version=2", []string{"version 2", "fetch"}, []string{"filter", "ref-in-want"}},
	}
	for _, tt := range tests {
		var stdout bytes.Buffer
		var stderr uploadpack.Stderr
		cmd := uploadpack.Command(context.Background(), "git", dir, tt.protocol, uploadpack.Advertise)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("protocol %q: %v", tt.protocol, stderr.Wrap(err))
		}
		adv := stdout.String()
		for _, w := range tt.want {
			if !strings.Contains(adv, w) {
				t.Errorf("protocol %q: advertisement lacks %q:\n%s", tt.protocol, w, adv)
			}
		}
		for _, r := range tt.refused {
			if strings.Contains(adv, r) {
				t.Errorf("protocol %q: advertisement offers %q:\n%s", tt.protocol, r, adv)
			}
		}
	}
}

func TestStderrKeepsTheStart(t *testing.T) {
	var s uploadpack.Stderr
	for i := 0; i < 100; i++ {
		if n, err := s.Write([]byte(strings.Repeat("x", 99) + "\n")); n != 100 || err != nil {
			t.Fatalf("Write = %d, %v; want 100, nil: git must never be held up by its messages", n, err)
		}
	}
	exit := errors.New("exit status 128")
	err := s.Wrap(exit)
	if !errors.Is(err, exit) {
		t.Errorf("Wrap(%v) = %v, which does not wrap it", exit, err)
	}
	if msg, want := err.Error(), len("exit status 128: ")+4096; len(msg) != want {
		t.Errorf("wrapped message of %d bytes, want %d (the first 4 KiB of what git said)", len(msg), want)
	}
}
