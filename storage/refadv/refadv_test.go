package refadv_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gerritgate/gerritgate/storage/refadv"
	"github.com/gerritgate/gerritgate/storage/storagetest"
	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

// gitOut runs C git in dir and returns its trimmed output.
func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := storagetest.Git(t, dir, nil, args...)
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(out)
}

// signedTag writes an annotated tag of obj whose message carries an SSH
// signature block (as the audit trail's signed tags do) and returns its id.
func signedTag(t *testing.T, dir, obj, typ, name string) string {
	t.Helper()
	body := fmt.Sprintf("object %s\ntype %s\ntag %s\ntagger t <t@example.com> 1700000000 +0000\n\naudit record\n-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n", obj, typ, name)
	f := filepath.Join(t.TempDir(), "tag")
	os.WriteFile(f, []byte(body), 0o600)
	return gitOut(t, dir, "hash-object", "-t", "tag", "-w", f)
}

// repos builds the served repositories the advertisement is compared on.
func repos(t *testing.T) map[string]string {
	t.Helper()
	root := t.TempDir()
	bare := func(name string) string {
		d := filepath.Join(root, name+".git")
		gitOut(t, root, "init", "-q", "--bare", d)
		gitOut(t, d, "symbolic-ref", "HEAD", "refs/heads/deploy/prod")
		return d
	}
	commit := func(d, msg string, parents ...string) string {
		tree := gitOut(t, d, "hash-object", "-t", "tree", "-w", "/dev/null")
		args := []string{"commit-tree", tree, "-m", msg}
		for _, p := range parents {
			args = append(args, "-p", p)
		}
		return gitOut(t, d, args...)
	}
	out := map[string]string{}

	out["empty, HEAD unborn"] = bare("empty")

	d := bare("one")
	gitOut(t, d, "update-ref", "refs/heads/deploy/prod", commit(d, "one"))
	out["one deploy branch"] = d

	d = bare("fleet")
	c1 := commit(d, "one")
	c2 := commit(d, "two", c1)
	for _, env := range []string{"dev", "prod", "staging"} {
		gitOut(t, d, "update-ref", "refs/heads/deploy/"+env, c2)
		a := commit(d, "audit "+env)
		gitOut(t, d, "update-ref", "refs/heads/audit/"+env, a)
		gitOut(t, d, "update-ref", "refs/tags/gerritgate/"+env, signedTag(t, d, a, "commit", "gerritgate/"+env))
	}
	gitOut(t, d, "update-ref", "refs/heads/deploy/prod", c1)
	// A tag of a tag: peeled to the commit, through both.
	inner := signedTag(t, d, c2, "commit", "inner")
	gitOut(t, d, "update-ref", "refs/tags/outer", signedTag(t, d, inner, "tag", "outer"))
	// gerritgate's own refs, hidden by the served settings.
	gitOut(t, d, "update-ref", "refs/gerritgate/baseline/prod", c2)
	gitOut(t, d, "update-ref", "refs/gerritgate/hold/prod", c1)
	out["several environments, audit branches, signed tags, hidden refs"] = d

	d = bare("unborn-head")
	gitOut(t, d, "update-ref", "refs/heads/deploy/dev", commit(d, "dev only"))
	out["HEAD unborn beside other refs"] = d

	d = bare("detached")
	c := commit(d, "one")
	gitOut(t, d, "update-ref", "refs/heads/deploy/prod", c)
	os.WriteFile(filepath.Join(d, "HEAD"), []byte(c+"\n"), 0o644)
	out["detached HEAD"] = d

	d = bare("packed")
	c = commit(d, "one")
	gitOut(t, d, "update-ref", "refs/heads/deploy/prod", c)
	gitOut(t, d, "update-ref", "refs/tags/v1", signedTag(t, d, c, "commit", "v1"))
	gitOut(t, d, "pack-refs", "--all")
	gitOut(t, d, "update-ref", "refs/heads/deploy/dev", commit(d, "loose", c))
	out["packed and loose refs"] = d
	return out
}

// reference is C git's own answer: upload-pack with the served settings,
// as storage/githttp runs it without a Cache.
func reference(t *testing.T, dir, protocol string, mode uploadpack.Mode, stdin []byte) []byte {
	t.Helper()
	cmd := uploadpack.Command(context.Background(), "git", dir, protocol, mode)
	cmd.Stdin = bytes.NewReader(stdin)
	var out bytes.Buffer
	var stderr uploadpack.Stderr
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("reference upload-pack (protocol %q) on %s: %v", protocol, dir, stderr.Wrap(err))
	}
	return out.Bytes()
}

func TestInfoRefsMatchesGit(t *testing.T) {
	c := refadv.New()
	for name, dir := range repos(t) {
		for _, protocol := range []string{"", "version=0", "version=1", "version=2", "version=1:version=2", "version=2:version=0"} {
			var got bytes.Buffer
			if err := c.InfoRefs(context.Background(), dir, protocol, &got); err != nil {
				t.Fatalf("%s, protocol %q: %v", name, protocol, err)
			}
			want := reference(t, dir, protocol, uploadpack.Advertise, nil)
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("%s, protocol %q: advertisement differs from git's\n got: %q\nwant: %q", name, protocol, got.Bytes(), want)
			}
		}
	}
}

// lsRefs frames a stateless v2 ls-refs request: the command, capability
// lines, a delimiter and argument lines (nil args: no delimiter).
func lsRefs(caps []string, args []string) []byte {
	var b bytes.Buffer
	pkt := func(s string) { fmt.Fprintf(&b, "%04x%s", len(s)+4, s) }
	pkt("command=ls-refs\n")
	for _, c := range caps {
		pkt(c)
	}
	if args != nil {
		b.WriteString("0001")
		for _, a := range args {
			pkt(a)
		}
	}
	b.WriteString("0000")
	return b.Bytes()
}

func prefixes(n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("ref-prefix refs/nothing/%d\n", i))
	}
	return out
}

func TestLsRefsMatchesGit(t *testing.T) {
	client := []string{"agent=git/2.39.5\n", "object-format=sha1\n"}
	tests := []struct {
		name       string
		caps, args []string
	}{
		{"no arguments", client, []string{}},
		{"no delimiter", nil, nil},
		{"capabilities without newlines", []string{"agent=git/2.39.5", "object-format=sha1"}, []string{"peel", "symrefs"}},
		{"peel", client, []string{"peel\n"}},
		{"symrefs", client, []string{"symrefs\n"}},
		{"unborn alone", client, []string{"unborn\n"}},
		{"what git clone asks", client, []string{"peel\n", "symrefs\n", "unborn\n", "ref-prefix HEAD\n", "ref-prefix refs/heads/\n", "ref-prefix refs/tags/\n"}},
		{"what git fetch of a branch asks", client, []string{"peel\n", "symrefs\n", "ref-prefix refs/heads/deploy/prod\n", "ref-prefix refs/tags/\n"}},
		{"hidden refs asked for", client, []string{"symrefs\n", "ref-prefix refs/gerritgate/\n", "ref-prefix refs/\n"}},
		{"prefix matching nothing", client, []string{"ref-prefix refs/nothing/\n"}},
		{"empty prefix", client, []string{"ref-prefix \n", "peel\n"}},
		{"glob characters are literal", client, []string{"ref-prefix refs/heads/*\n", "ref-prefix refs/tags/out\n"}},
		{"overlapping prefixes", client, []string{"ref-prefix refs/heads/deploy/\n", "ref-prefix refs/heads/\n", "ref-prefix refs/heads/deploy/prod\n", "peel\n"}},
		{"repeated arguments", client, []string{"peel\n", "peel\n", "symrefs\n", "symrefs\n", "unborn\n"}},
		{"64 prefixes filter", client, append(prefixes(63), "ref-prefix refs/tags/\n")},
	}
	c := refadv.New()
	for name, dir := range repos(t) {
		for _, tt := range tests {
			req := lsRefs(tt.caps, tt.args)
			var got bytes.Buffer
			if err := c.LsRefs(context.Background(), dir, "version=2", bytes.NewReader(req), &got); err != nil {
				t.Fatalf("%s, %s: %v", name, tt.name, err)
			}
			want := reference(t, dir, "version=2", uploadpack.Request, req)
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("%s, %s: ls-refs differs from git's\n got: %q\nwant: %q", name, tt.name, got.Bytes(), want)
			}
		}
	}
}

// TestDeclined: whatever the cache does not model is left to git, with
// nothing written.
func TestDeclined(t *testing.T) {
	dir := repos(t)["one deploy branch"]
	client := []string{"agent=git/2.39.5\n"}
	ls := []struct {
		name, protocol string
		req            []byte
	}{
		{"protocol v0", "", lsRefs(client, []string{"peel\n"})},
		{"another GIT_PROTOCOL key", "version=2:foo=bar", lsRefs(client, []string{"peel\n"})},
		{"fetch", "version=2", []byte("0012command=fetch\n00010009done\n0000")},
		{"unknown argument", "version=2", lsRefs(client, []string{"peel\n", "frobnicate\n"})},
		{"empty argument", "version=2", lsRefs(client, []string{"\n"})},
		{"server-option", "version=2", lsRefs([]string{"server-option=x\n"}, []string{"peel\n"})},
		{"another object format", "version=2", lsRefs([]string{"object-format=sha256\n"}, []string{})},
		{"two commands", "version=2", lsRefs([]string{"command=ls-refs\n"}, []string{})},
		{"no flush", "version=2", bytes.TrimSuffix(lsRefs(client, []string{"peel\n"}), []byte("0000"))},
		{"after the flush", "version=2", append(lsRefs(client, []string{"peel\n"}), "0000"...)},
		{"response end", "version=2", append(bytes.TrimSuffix(lsRefs(client, []string{"peel\n"}), []byte("0000")), "0002"...)},
		{"delimiter among arguments", "version=2", append(bytes.TrimSuffix(lsRefs(client, []string{"peel\n"}), []byte("0000")), "00010000"...)},
		// git versions differ from 65 on (TOO_MANY_PREFIXES).
		{"65 prefixes", "version=2", lsRefs(client, prefixes(65))},
		{"not pkt-lines", "version=2", []byte("0014command=ls-refs\nzz")},
	}
	c := refadv.New()
	for _, tt := range ls {
		var out bytes.Buffer
		if err := c.LsRefs(context.Background(), dir, tt.protocol, bytes.NewReader(tt.req), &out); !errors.Is(err, refadv.ErrDeclined) || out.Len() > 0 {
			t.Errorf("ls-refs, %s: err %v, wrote %q; want ErrDeclined and nothing", tt.name, err, out.Bytes())
		}
	}
	for _, protocol := range []string{"version=3", "version=2:object-format=sha256", "foo", "version=02"} {
		var out bytes.Buffer
		if err := c.InfoRefs(context.Background(), dir, protocol, &out); !errors.Is(err, refadv.ErrDeclined) || out.Len() > 0 {
			t.Errorf("info/refs, protocol %q: err %v, wrote %q; want ErrDeclined and nothing", protocol, err, out.Bytes())
		}
	}
}

// TestConversationMatchesGit: what an SSH client reads first is what git
// upload-pack writes before it reads (then a flush ends the conversation),
// and in protocol v2 each ls-refs command of a conversation is answered as
// git answers it there.
func TestConversationMatchesGit(t *testing.T) {
	c := refadv.New()
	client := []string{"agent=git/2.39.5\n", "object-format=sha1\n"}
	// What C git's ls-remote and clone ask, one after the other.
	commands := [][]byte{
		lsRefs(client, []string{"peel\n", "symrefs\n", "unborn\n", "ref-prefix HEAD\n", "ref-prefix refs/heads/\n", "ref-prefix refs/tags/\n"}),
		lsRefs(client, []string{"symrefs\n", "peel\n"}),
		lsRefs(nil, nil),
	}
	for name, dir := range repos(t) {
		for _, protocol := range []string{"", "version=0", "version=1", "version=1:version=0", "version=2", "version=0:version=2"} {
			got, err := c.Conversation(context.Background(), dir, protocol)
			if err != nil {
				t.Fatalf("%s, protocol %q: %v", name, protocol, err)
			}
			want := reference(t, dir, protocol, uploadpack.Conversation, []byte("0000"))
			if !bytes.Equal(got, want) {
				t.Errorf("%s, protocol %q: advertisement differs from git's\n got: %q\nwant: %q", name, protocol, got, want)
			}
			if v, _ := refadv.Version(protocol); v != 2 {
				continue
			}
			in := bytes.Join(commands, nil)
			var conv bytes.Buffer
			conv.Write(got)
			for _, req := range commands {
				if err := c.LsRefs(context.Background(), dir, protocol, bytes.NewReader(req), &conv); err != nil {
					t.Fatalf("%s, protocol %q: ls-refs %q: %v", name, protocol, req, err)
				}
			}
			want = reference(t, dir, protocol, uploadpack.Conversation, append(in, "0000"...))
			if !bytes.Equal(conv.Bytes(), want) {
				t.Errorf("%s, protocol %q: conversation of %d ls-refs differs from git's\n got: %q\nwant: %q", name, protocol, len(commands), conv.Bytes(), want)
			}
		}
	}
	dir := repos(t)["one deploy branch"]
	for _, protocol := range []string{"version=3", "foo"} {
		if _, err := c.Conversation(context.Background(), dir, protocol); !errors.Is(err, refadv.ErrDeclined) {
			t.Errorf("protocol %q: err %v, want ErrDeclined", protocol, err)
		}
	}
}
