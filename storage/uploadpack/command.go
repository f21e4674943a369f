package uploadpack

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"

	"github.com/gerritgate/gerritgate/internal/gitexec"
)

// Mode is how an upload-pack talks to its client.
type Mode int

const (
	// Conversation: the whole exchange on one stdin and stdout (SSH).
	Conversation Mode = iota
	// Advertise: the ref advertisement only (--stateless-rpc
	// --advertise-refs; HTTP's GET info/refs).
	Advertise
	// Request: the answer to one request read whole from stdin
	// (--stateless-rpc; HTTP's POST git-upload-pack).
	Request
)

// Command returns `git upload-pack --strict` on the repository dir, run
// with the binary git, the served settings (see config), in a clean
// environment (internal/gitexec) that carries the client's protocol if
// Protocol finds it well-formed, and killed when ctx ends. The caller
// wires stdin, stdout and stderr and may set WaitDelay and Dir.
func Command(ctx context.Context, git, dir, protocol string, mode Mode) *exec.Cmd {
	args := append(config(), "upload-pack", "--strict")
	switch mode {
	case Advertise:
		args = append(args, "--stateless-rpc", "--advertise-refs")
	case Request:
		args = append(args, "--stateless-rpc")
	}
	args = append(args, dir)
	cmd := exec.CommandContext(ctx, git, args...)
	extra := []string{"GIT_NO_REPLACE_OBJECTS=1"}
	if p := Protocol(protocol); p != "" {
		extra = append(extra, "GIT_PROTOCOL="+p)
	}
	cmd.Env = gitexec.Env(extra...)
	return cmd
}

// config is the git -c settings every upload-pack runs with: no object
// that no advertised ref reaches (protocol v0/v1), no partial-clone
// filters, no bundle URIs, no hooks, and gerritgate's own refs hidden.
// Protocol v2 ignores the SHA1InWant settings, which is why served
// repositories hold gated objects only. Settings given with -c win over the
// repository's own configuration.
func config() []string {
	return []string{
		"-c", "uploadpack.allowAnySHA1InWant=false",
		"-c", "uploadpack.allowReachableSHA1InWant=false",
		"-c", "uploadpack.allowTipSHA1InWant=false",
		"-c", "uploadpack.allowFilter=false",
		"-c", "uploadpack.allowRefInWant=false",
		"-c", "core.hooksPath=/dev/null",
		"-c", "transfer.bundleURI=false",
		"-c", "uploadpack.hideRefs=" + HiddenRefs,
	}
}

// HiddenRefs is the prefix of the refs upload-pack hides from clients:
// gerritgate's own bookkeeping (baselines) is not for them.
const HiddenRefs = "refs/gerritgate/"

var protocolRE = regexp.MustCompile(`^[A-Za-z0-9=:._-]{1,256}$`)

// Protocol returns a client's GIT_PROTOCOL value ("version=2") if it is
// well-formed (at most 256 characters of letters, digits and =:._-), else
// "", which is protocol v0: a client cannot smuggle anything into git's
// environment through it.
func Protocol(p string) string {
	if !protocolRE.MatchString(p) {
		return ""
	}
	return p
}

// Stderr keeps the first 4 KiB git writes to its standard error, for the
// error a failed run is logged with. A write never fails and is never
// held up, so git's messages can neither block nor end it.
type Stderr struct {
	buf bytes.Buffer
}

const stderrMax = 4096

func (s *Stderr) Write(p []byte) (int, error) {
	if room := stderrMax - s.buf.Len(); room > 0 {
		s.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// Wrap returns err with what git said appended.
func (s *Stderr) Wrap(err error) error {
	return fmt.Errorf("%w: %s", err, strings.TrimSpace(s.buf.String()))
}
