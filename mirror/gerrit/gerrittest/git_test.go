package gerrittest_test

import (
	"bytes"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
)

// gitOut runs C git in dir, isolated from the machine's configuration.
func gitOut(dir string, args ...string) (string, error) {
	return gitEnv(dir, nil, args...)
}

func gitEnv(dir string, env []string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0")
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return "", &exec.Error{Name: "git " + strings.Join(args, " ") + ": " + errb.String(), Err: err}
	}
	return strings.TrimSpace(out.String()), nil
}

func TestCloneOverHTTP(t *testing.T) {
	f := newFixture(t)
	f.must(f.srv.CreateProject("team/app", ""))
	c := f.change("team/app", "Add file", map[string]string{"dir/file.txt": "content\n"})
	_, err := f.srv.Submit(c.Number, f.bob)
	f.must(err)
	open := f.change("team/app", "Still open", map[string]string{"x": "y"})

	u, _ := url.Parse(f.srv.URL())
	authed := *u
	authed.User = url.UserPassword("gerritgate", "secret-pw")
	tests := []struct {
		name     string
		url      string
		protocol string
		wantErr  bool
	}{
		{"anonymous v2", f.srv.URL() + "/team/app", "2", false},
		{"anonymous v0 with .git", f.srv.URL() + "/team/app.git", "0", false},
		{"authenticated", authed.String() + "/a/team/app", "2", false},
		{"wrong password", strings.Replace(authed.String(), "secret-pw", "nope", 1) + "/a/team/app", "2", true},
		{"unknown project", f.srv.URL() + "/team/none", "2", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := gitOut(dir, "-c", "protocol.version="+tt.protocol, "clone", "-q", tt.url, "w")
			if tt.wantErr {
				if err == nil {
					t.Fatal("clone succeeded, want failure")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, "w", "dir", "file.txt"))
			if err != nil || string(b) != "content\n" {
				t.Errorf("file = %q, %v", b, err)
			}
			out, err := gitOut(filepath.Join(dir, "w"), "fetch", "-q", "origin", open.PatchSets[0].Ref)
			if err != nil {
				t.Fatalf("fetch %s: %v %s", open.PatchSets[0].Ref, err, out)
			}
			head, _ := gitOut(filepath.Join(dir, "w"), "rev-parse", "FETCH_HEAD")
			if head != open.CurrentRevision {
				t.Errorf("FETCH_HEAD = %s, want %s", head, open.CurrentRevision)
			}
			msg, _ := gitOut(filepath.Join(dir, "w"), "log", "-1", "--format=%B", head)
			if !strings.HasSuffix(msg, "Change-Id: "+open.ChangeID) {
				t.Errorf("commit message %q lacks the Change-Id footer", msg)
			}
		})
	}
	if _, err := gitOut(t.TempDir(), "push", f.srv.URL()+"/team/app", "HEAD:refs/heads/x"); err == nil {
		t.Error("push accepted")
	}
}

func TestCloneOverSSH(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no ssh client")
	}
	f := newFixture(t, gerrittest.WithSSH(""))
	f.must(f.srv.CreateProject("team/app", ""))
	c := f.change("team/app", "Add file", map[string]string{"f": "1\n"})
	_, err := f.srv.Submit(c.Number, f.bob)
	f.must(err)

	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	f.must(err)
	f.must(f.srv.AddSSHKey("gerritgate", pub))
	known := filepath.Join(dir, "known_hosts")
	f.must(os.WriteFile(known, []byte(f.srv.KnownHosts()+"\n"), 0o600))
	sshCmd := "ssh -F /dev/null -i " + key + " -o IdentitiesOnly=yes -o UserKnownHostsFile=" + known + " -o StrictHostKeyChecking=yes -o BatchMode=yes"

	for _, tt := range []struct {
		name, user, project, protocol string
		wantErr                       bool
	}{
		{"v2", "gerritgate", "team/app", "2", false},
		{"v0", "gerritgate", "team/app", "0", false},
		{"unknown account", "mallory", "team/app", "2", true},
		{"unknown project", "gerritgate", "team/none", "2", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := filepath.Join(t.TempDir(), "w")
			_, err := gitEnv("", []string{"GIT_SSH_COMMAND=" + sshCmd}, "-c", "protocol.version="+tt.protocol, "clone", "-q", f.srv.SSHURL(tt.user, tt.project), w)
			if tt.wantErr {
				if err == nil {
					t.Fatal("clone succeeded, want failure")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			head, _ := gitOut(w, "rev-parse", "HEAD")
			if head != c.CurrentRevision {
				t.Errorf("HEAD = %s, want %s", head, c.CurrentRevision)
			}
		})
	}
	clone := func(to string) error {
		_, err := gitEnv("", []string{"GIT_SSH_COMMAND=" + sshCmd}, "clone", "-q", f.srv.SSHURL("gerritgate", "team/app"), filepath.Join(dir, to))
		return err
	}
	f.srv.SetDown(true)
	if err := clone("down"); err == nil {
		t.Error("clone while down succeeded")
	}
	f.srv.SetDown(false)
	f.must(f.srv.SetUnreachable(true))
	if err := clone("stopped"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("clone while stopped: %v, want connection refused", err)
	}
	f.must(f.srv.SetUnreachable(false))
	if err := clone("again"); err != nil {
		t.Errorf("clone after restart: %v", err)
	}
}
