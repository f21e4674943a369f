package gitssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gliderlabs/ssh"

	"github.com/gerritgate/gerritgate/storage"
	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

// What a client is told. A project it may not read and a missing one get
// the same message.
const (
	msgNotFound     = "gerritgate: repository not found"
	msgUnavailable  = "gerritgate: repository temporarily unavailable; retry shortly"
	msgGrant        = "gerritgate: the environments you are granted of this repository cannot be served together: ask for one environment, or all of them"
	msgReadOnly     = "gerritgate is read-only: push to Gerrit instead"
	msgArchive      = "gerritgate: git archive is not served; clone the repository instead"
	msgNoShell      = "gerritgate: no shell here; this server only serves git clone and git fetch"
	msgSubsystem    = "gerritgate: no subsystems (sftp, ...) here; this server only serves git clone and git fetch"
	msgUnknown      = "gerritgate: only git-upload-pack (git clone, git fetch) is served"
	msgMalformed    = "gerritgate: malformed command: expected git-upload-pack '<project>'"
	msgUnauthorized = "gerritgate: permission denied (publickey)"
	msgClosing      = "gerritgate: server is shutting down; try again"
	msgInternal     = "gerritgate: internal error"
	msgBusy         = "gerritgate is busy: too many clones in progress; retry shortly"
)

// result is what the log line and the observer are told about a session.
type result struct {
	reader, project, command, protocol string
	outcome                            string
	code                               int
	err                                error
	served                             bool            // project named a served repository
	stdinDone                          <-chan struct{} // the copy to git's stdin has ended
}

// handle serves one session: an exec request, a shell request or a
// subsystem request. It runs in its own goroutine; gliderlabs/ssh closes
// the session when it returns.
func (s *Server) handle(sess ssh.Session) {
	if !s.startSession() {
		fmt.Fprintln(sess.Stderr(), msgClosing)
		sess.Exit(1)
		return
	}
	defer s.active.Done()
	if g := guardOf(sess.Context()); g != nil {
		defer g.commandStarted()()
	}
	start := time.Now()
	res := s.serve(sess)

	// Log before the exit status goes out, so the line is there by the
	// time the client has its answer.
	attrs := []any{
		"transport", "ssh",
		"reader", res.reader,
		"project", res.project,
		"command", res.command,
		"outcome", res.outcome,
		"exit", res.code,
		"duration", time.Since(start).Round(time.Millisecond),
		"remote", sess.RemoteAddr().String(),
	}
	if res.protocol != "" {
		attrs = append(attrs, "protocol", res.protocol)
	}
	if res.err != nil {
		attrs = append(attrs, "err", res.err)
	}
	s.logger.Info("git request", attrs...)
	if s.onSession != nil {
		// Only names of served repositories: a client must not be able
		// to mint metric labels.
		project := ""
		if res.served {
			project = res.project
		}
		s.onSession(project, res.outcome)
	}

	sess.Exit(res.code)
	if res.stdinDone != nil {
		// Closing the session ends the read the copy may be blocked in.
		<-res.stdinDone
	}
}

func (s *Server) serve(sess ssh.Session) result {
	refuse := func(res result, msg string) result {
		fmt.Fprintln(sess.Stderr(), msg)
		res.code = 1
		return res
	}
	var res result

	// The handshake accepted this key, but the access list may have
	// changed since: ask again now that the key is about to be used.
	if s.auth == nil {
		return refuse(result{outcome: "unauthenticated"}, msgUnauthorized)
	}
	key := sess.PublicKey()
	if key == nil {
		return refuse(result{outcome: "unauthenticated"}, msgUnauthorized)
	}
	reader, ok := s.auth.AuthorizeKey(key)
	if !ok {
		return refuse(result{outcome: "unauthenticated"}, msgUnauthorized)
	}
	res.reader = reader

	if sess.Subsystem() != "" {
		res.command, res.outcome = "subsystem", "refused"
		return refuse(res, msgSubsystem)
	}
	raw := sess.RawCommand()
	if raw == "" {
		res.command, res.outcome = "shell", "refused"
		return refuse(res, msgNoShell)
	}
	verb, arg, err := splitCommand(raw)
	res.command = verb
	if err == nil && verb != uploadPack {
		res.project, _ = projectFromPath(arg) // for the log only
	}
	switch {
	case verb == receivePack:
		res.outcome = "push_refused"
		return refuse(res, msgReadOnly)
	case verb == uploadArchive:
		res.outcome = "refused"
		return refuse(res, msgArchive)
	case errors.Is(err, errUnknownCommand):
		res.command, res.outcome = "other", "refused"
		return refuse(res, msgUnknown)
	case err != nil:
		res.outcome = "bad_request"
		return refuse(res, msgMalformed)
	}
	project, err := projectFromPath(arg)
	if err != nil {
		res.outcome = "bad_request"
		return refuse(res, msgNotFound)
	}
	res.project = project
	if !s.auth.CanRead(reader, project) {
		res.outcome = "denied"
		return refuse(res, msgNotFound)
	}
	dir, err := s.resolver.ReaderPath(project, s.auth.Environments(reader, project))
	if errors.Is(err, storage.ErrGrant) {
		res.outcome, res.err = "denied", err
		return refuse(res, msgGrant)
	}
	var nameErr *storage.NameError
	if err != nil && !errors.Is(err, storage.ErrNotFound) && !errors.As(err, &nameErr) {
		// An environment's repository that cannot be brought in step.
		res.outcome, res.err = "error", err
		return refuse(res, msgUnavailable)
	}
	if err != nil {
		res.outcome, res.err = "not_found", err
		return refuse(res, msgNotFound)
	}
	res.served = true
	res.protocol = gitProtocol(sess.Environ())
	var release func()
	take := func() bool {
		if release == nil {
			release, _ = s.limit.TryAcquire(uploadpack.Peer{Reader: reader, Addr: uploadpack.PeerAddr(sess.RemoteAddr().String())})
		}
		return release != nil
	}
	defer func() {
		if release != nil {
			release()
		}
	}()
	open, done, err := s.converse(sess, dir, res.protocol, take)
	switch {
	case done && err == nil:
		res.outcome = "ok"
		return res
	case errors.Is(err, errBusy):
		res.outcome = "busy"
		return refuse(res, msgBusy)
	case errors.Is(err, errStalled):
		res.outcome, res.code, res.err = "timeout", 1, err
		return res
	case err != nil:
		res.outcome, res.code, res.err = "error", 128, err
		return res
	}
	if !take() {
		res.outcome = "busy"
		return refuse(res, msgBusy)
	}
	res.code, res.stdinDone, res.err = s.uploadPack(sess, dir, res.protocol, open)
	switch {
	case res.code == 0 && res.err == nil:
		res.outcome = "ok"
	case errors.Is(res.err, errStalled):
		res.outcome, res.code = "timeout", 1
	case res.err != nil && res.code < 0:
		res.outcome, res.code = "error", 1
		fmt.Fprintln(sess.Stderr(), msgInternal)
	default:
		res.outcome = "error"
	}
	return res
}

// gitProtocol returns the client's GIT_PROTOCOL ("version=2") if it is
// well-formed, else "" (protocol v0).
func gitProtocol(env []string) string {
	p := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GIT_PROTOCOL="); ok {
			p = v
		}
	}
	return uploadpack.Protocol(p)
}

// uploadPack runs git upload-pack on dir wired to the session and returns
// its exit code (negative when it could not run or was killed) and a
// channel closed when the copy of the session to git's stdin has ended.
// With an opening, the client has had its advertisement: git's is not
// sent again, and git reads what the client answered first.
func (s *Server) uploadPack(sess ssh.Session, dir, protocol string, open *opening) (int, <-chan struct{}, error) {
	// Not the session's context: a client (go-git, so Flux) may close the
	// connection as soon as it has the last byte, before git has exited,
	// and that clone succeeded. A git whose client went away fails at its
	// next read or write instead; the timeout and Close bound the rest.
	ctx, cancel := s.commandContext()
	defer cancel()
	cmd := uploadpack.Command(ctx, s.gitPath, dir, protocol, uploadpack.Conversation)
	cmd.Dir = dir
	var stderr uploadpack.Stderr
	cmd.Stderr = io.MultiWriter(sess.Stderr(), &stderr)
	cmd.WaitDelay = 10 * time.Second
	// Copy stdin and stdout ourselves. With cmd.Stdin = sess, Wait would
	// wait for the client's EOF after git has exited; with cmd.Stdout =
	// sess, WaitDelay could cut off the end of the pack on a slow link.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return -1, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return -1, nil, err
	}
	if err := cmd.Start(); err != nil {
		return -1, nil, err
	}
	// git's data must move one way or the other at least every idle
	// timeout: a client that sends nothing while git waits for its wants,
	// or takes nothing of the pack, loses its connection (closing the
	// session alone would not end a write blocked on the client's window).
	var stalled atomic.Bool
	stall := time.AfterFunc(s.idleTimeout, func() {
		stalled.Store(true)
		cancel()
		s.observeConn("idle_timeout")
		if g := guardOf(sess.Context()); g != nil {
			g.conn.Close()
		}
	})
	defer stall.Stop()
	moved := func() { stall.Reset(s.idleTimeout) }
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		if open != nil {
			stdin.Write(open.head)
		}
		io.Copy(stdin, progressReader{sess, moved})
		stdin.Close()
	}()
	out := io.Writer(progressWriter{sess, moved})
	if open != nil {
		for i, sent := range open.sent {
			got, err := skipSection(stdout)
			if err != nil {
				cancel() // git is failing; what it wrote is no use to the client
				break
			}
			if bytes.Equal(got, sent) {
				continue
			}
			if i == 0 {
				// The refs moved between the two: the client's wants are of
				// the advertisement it had, which git checks against its own.
				s.logger.Info("ssh: refs changed between the advertisement from memory and git's", "repository", dir)
				continue
			}
			// The client has shallow lines that git would not send now:
			// whatever git sends after them could not be trusted.
			s.logger.Warn("ssh: git's shallow lines differ from the pack cache's; session ended", "repository", dir)
			cancel()
			out = io.Discard
			break
		}
	}
	// Until git closes its stdout, or the client stops taking it: then
	// closing our end makes git's next write fail.
	io.Copy(out, stdout)
	stdout.Close()
	// Wait closes stdin once git has exited; the copy then ends at the
	// client's next write or when the session closes.
	err = cmd.Wait()
	if stalled.Load() {
		return -1, copied, errStalled
	}
	if err == nil {
		return 0, copied, nil
	}
	err = stderr.Wrap(err)
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() > 0 {
		return exit.ExitCode(), copied, err
	}
	return -1, copied, err
}

// commandContext bounds one git run by the max timeout and by Close. Its
// cancel func may be called more than once.
func (s *Server) commandContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	if s.maxTimeout > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), s.maxTimeout)
	}
	stop := make(chan struct{})
	go func() {
		select {
		case <-s.kill:
			cancel()
		case <-stop:
		}
	}()
	var once sync.Once
	return ctx, func() { once.Do(func() { close(stop); cancel() }) }
}

// errStalled ends an upload-pack whose data stopped moving.
var errStalled = errors.New("no progress within the idle timeout")

// progressReader and progressWriter call moved whenever bytes pass.
type progressReader struct {
	r     io.Reader
	moved func()
}

func (p progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.moved()
	}
	return n, err
}

type progressWriter struct {
	w     io.Writer
	moved func()
}

func (p progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if n > 0 {
		p.moved()
	}
	return n, err
}
