package gitssh_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	fluxgit "github.com/fluxcd/pkg/git"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/storage"
	"github.com/gerritgate/gerritgate/storage/gitssh"
	"github.com/gerritgate/gerritgate/storage/refadv"
	"github.com/gerritgate/gerritgate/storage/storagetest"
	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

// startFromMemory serves with ref checks answered by a refadv.Cache the
// store tells of ref changes.
func startFromMemory(t *testing.T, l *uploadpack.Limiter) *env {
	t.Helper()
	c := refadv.New()
	e := start(t, gitssh.WithLimiter(l), gitssh.WithAdvertiser(c))
	e.store.NotifyRefs(c.Invalidate)
	return e
}

// fluxCheck is source-controller's clone of deploy/prod over SSH, skipped
// when the branch still points at lastObserved.
func fluxCheck(t *testing.T, e *env, lastObserved string) (string, bool, error) {
	t.Helper()
	identity, _ := os.ReadFile(e.flux.file)
	knownHosts, _ := os.ReadFile(e.knownHosts)
	u, _ := url.Parse(e.url("platform/fleet.git"))
	auth, err := fluxgit.NewAuthOptions(*u, map[string][]byte{"identity": identity, "known_hosts": knownHosts})
	if err != nil {
		t.Fatal(err)
	}
	return storagetest.FluxClone(t, u.String(), auth, "deploy/prod", lastObserved)
}

// TestRefChecksOverSSHNeedNoCloneSlot: with every clone slot taken, git
// ls-remote (protocols 0, 1 and 2) and Flux's check of an unchanged
// branch still succeed over SSH; clones still need a slot.
func TestRefChecksOverSSHNeedNoCloneSlot(t *testing.T) {
	l := uploadpack.NewLimiter(1, 1, 1)
	e := startFromMemory(t, l)
	ssh := gitSSH(e.flux.file, e.knownHosts)
	release, _ := l.TryAcquire(uploadpack.Peer{Reader: "someone cloning"})
	for _, proto := range []string{"0", "1", "2"} {
		out, err := gitRun(t, "", []string{ssh}, "-c", "protocol.version="+proto, "ls-remote", e.url("platform/fleet"))
		if err != nil || !strings.Contains(out, e.sha+"\trefs/heads/deploy/prod") {
			t.Errorf("protocol %s ls-remote with no clone slot free: %v\n%s", proto, err, out)
		}
	}
	if got, cloned, err := fluxCheck(t, e, e.sha); err != nil || cloned || got != e.sha {
		t.Errorf("Flux's check of an unchanged branch with no clone slot free: %s (cloned %v), %v; want %s, no clone", got, cloned, err, e.sha)
	}
	for _, proto := range []string{"0", "2"} {
		if out, err := gitRun(t, "", []string{ssh}, "-c", "protocol.version="+proto, "clone", "-q", e.url("platform/fleet"), filepath.Join(t.TempDir(), "c"+proto)); err == nil || !strings.Contains(out, "busy") {
			t.Errorf("protocol %s clone with no clone slot free: %v, want busy\n%s", proto, err, out)
		}
	}
	release()
	if strings.Contains(e.logs.String(), "outcome=error") {
		t.Errorf("a session ended in error:\n%s", e.logs.String())
	}
}

// TestSSHClientsOfMemoryAdvertisement: C git clones and fetches (protocols
// 0, 1, 2) and Flux clone over SSH after an advertisement from memory,
// and see an advance as soon as UpdateRefs has returned.
func TestSSHClientsOfMemoryAdvertisement(t *testing.T) {
	e := startFromMemory(t, uploadpack.NewLimiter(8, 8, 8))
	ssh := gitSSH(e.flux.file, e.knownHosts)
	var clones []string
	for _, proto := range []string{"0", "1", "2"} {
		dst := filepath.Join(t.TempDir(), "c"+proto)
		if out, err := gitRun(t, "", []string{ssh}, "-c", "protocol.version="+proto, "clone", "-q", "-b", "deploy/prod", e.url("platform/fleet"), dst); err != nil {
			t.Fatalf("protocol %s clone: %v\n%s", proto, err, out)
		}
		clones = append(clones, dst)
	}
	if got, cloned, err := fluxCheck(t, e, ""); err != nil || !cloned || got != e.sha {
		t.Errorf("Flux clone: %s (cloned %v), %v; want %s", got, cloned, err, e.sha)
	}

	next := e.advance(t)
	for i, proto := range []string{"0", "1", "2"} {
		if out, err := gitRun(t, clones[i], []string{ssh}, "-c", "protocol.version="+proto, "pull", "-q", "--ff-only"); err != nil {
			t.Errorf("protocol %s pull after the advance: %v\n%s", proto, err, out)
		}
		if got, _ := gitRun(t, clones[i], nil, "rev-parse", "HEAD"); strings.TrimSpace(got) != next {
			t.Errorf("protocol %s: pulled %q, want %s", proto, got, next)
		}
	}
	if got, cloned, err := fluxCheck(t, e, e.sha); err != nil || !cloned || got != next {
		t.Errorf("Flux, having seen %.8s, after the advance: %s (cloned %v), %v; want a clone of %s", e.sha, got, cloned, err, next)
	}
}

// TestSSHAdvertisementMatchesGit: an SSH session reads, byte for byte,
// what git upload-pack writes first; a flush then ends it with status 0.
func TestSSHAdvertisementMatchesGit(t *testing.T) {
	e := startFromMemory(t, uploadpack.NewLimiter(1, 1, 1))
	dir, err := e.store.ServedPath("platform/fleet")
	if err != nil {
		t.Fatal(err)
	}
	for _, protocol := range []string{"", "version=1"} {
		cl := e.dial(t, e.flux)
		s, err := cl.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		if protocol != "" {
			s.Setenv("GIT_PROTOCOL", protocol)
		}
		stdin, _ := s.StdinPipe()
		stdout, _ := s.StdoutPipe()
		if err := s.Start("git-upload-pack 'platform/fleet'"); err != nil {
			t.Fatal(err)
		}
		want := reference(t, dir, protocol)
		got := make([]byte, len(want))
		if _, err := io.ReadFull(stdout, got); err != nil || !bytes.Equal(got, want) {
			t.Errorf("protocol %q: read %q (%v), want git's %q", protocol, got, err, want)
		}
		stdin.Write([]byte("0000"))
		stdin.Close()
		if rest, _ := io.ReadAll(stdout); len(rest) > 0 {
			t.Errorf("protocol %q: after the flush, %q", protocol, rest)
		}
		if err := s.Wait(); err != nil {
			t.Errorf("protocol %q: session ended with %v, want status 0", protocol, err)
		}
	}
}

// reference is git upload-pack's own advertisement in a conversation.
func reference(t *testing.T, dir, protocol string) []byte {
	t.Helper()
	cmd := uploadpack.Command(context.Background(), "git", dir, protocol, uploadpack.Conversation)
	cmd.Stdin = strings.NewReader("0000")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A v0 client whose wants come after an advance that followed its
// advertisement from memory is refused by git with its own error (its
// want is no longer a ref's tip), fails closed, and the mismatch is
// logged; the client retries with the new advertisement.
func TestWantsAfterAdvanceRefused(t *testing.T) {
	e := startFromMemory(t, uploadpack.NewLimiter(8, 8, 8))
	repo, err := e.store.Served("platform/fleet")
	if err != nil {
		t.Fatal(err)
	}
	tree, _ := gitRun(t, repo.Dir(), nil, "hash-object", "-t", "tree", "-w", "/dev/null")
	next, err := gitRun(t, repo.Dir(), nil, "commit-tree", strings.TrimSpace(tree), "-p", e.sha, "-m", "advance")
	if err != nil {
		t.Fatal(err)
	}
	cl := e.dial(t, e.flux)
	s, err := cl.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	stdin, _ := s.StdinPipe()
	stdout, _ := s.StdoutPipe()
	if err := s.Start("git-upload-pack 'platform/fleet'"); err != nil {
		t.Fatal(err)
	}
	dir, _ := e.store.ServedPath("platform/fleet")
	adv := make([]byte, len(reference(t, dir, "")))
	if _, err := io.ReadFull(stdout, adv); err != nil || !bytes.Contains(adv, []byte(e.sha+" refs/heads/deploy/prod")) {
		t.Fatalf("advertisement %q, %v", adv, err)
	}
	if err := repo.UpdateRefs(storage.RefUpdate{Name: "refs/heads/deploy/prod", Old: plumbing.NewHash(e.sha), New: plumbing.NewHash(strings.TrimSpace(next))}); err != nil {
		t.Fatal(err)
	}
	want := "want " + e.sha + " side-band-64k\n"
	io.WriteString(stdin, fmt.Sprintf("%04x%s0000%04xdone\n", len(want)+4, want, 9))
	out, _ := io.ReadAll(stdout)
	if err := s.Wait(); err == nil || !bytes.Contains(out, []byte("ERR upload-pack: not our ref")) || bytes.Contains(out, []byte("PACK")) {
		t.Errorf("wants of the old tip after the advance: %v, %q; want git's refusal and no pack", err, out)
	}
	eventually(t, "the mismatch is logged", func() bool {
		return strings.Contains(e.logs.String(), "refs changed between the advertisement from memory and git's")
	})
}
