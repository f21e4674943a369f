package gitssh

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// maxRequest bounds what is read of one client request before deciding
// who answers it; a longer one is handed to git with the bytes read.
// Ref checks and clones worth keeping are far smaller.
const maxRequest = 64 << 10

// errClosing is a conversation cut short by Close.
var errClosing = errors.New("server closed")

// errBusy is a request that needs a clone slot when none is free.
var errBusy = errors.New("no clone slot free")

// converse begins the conversation from memory: the advertisement, then,
// in protocol v2, every ls-refs command, and clones the pack cache holds.
// It returns done when the conversation is over as git would have ended
// it (exit 0), or the opening git must carry on from; nil and false when
// there is no advertiser or it declines (git runs as before). take gets
// the session a clone slot (once; false when none is free).
func (s *Server) converse(sess ssh.Session, dir, protocol string, take func() bool) (open *opening, done bool, err error) {
	if s.adv == nil {
		return nil, false, nil
	}
	adv, err := s.adv.Conversation(sess.Context(), dir, protocol)
	if err != nil {
		s.logger.Debug("ssh advertisement not answered from memory", "err", err)
		return nil, false, nil
	}
	w := s.watch(sess)
	defer w.close()
	if _, err := (progressWriter{sess, w.reset}).Write(adv); err != nil {
		return nil, false, w.err(err)
	}
	c := conversation{s: s, sess: sess, w: w, dir: dir, protocol: protocol, take: take, adv: adv}
	if strings.HasPrefix(string(adv), "000eversion 2\n") {
		return c.v2()
	}
	return c.v0()
}

// conversation is one session's exchange up to the point git takes over.
type conversation struct {
	s             *Server
	sess          ssh.Session
	w             *watchdog
	dir, protocol string
	take          func() bool
	adv           []byte
}

// v0 (and v1): the client's wants, then, for a clone the pack cache
// answers, its shallow lines, "done" and the pack. What upload-pack
// would refuse or negotiate is left to it.
func (c *conversation) v0() (*opening, bool, error) {
	req, complete, err := c.request()
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return nil, false, errHungUp
	case err != nil:
		return nil, false, err
	case !complete:
		return &opening{sent: [][]byte{c.adv}, head: req}, false, nil
	case string(req) == "0000":
		return nil, true, nil // wants nothing: git exits 0
	}
	if !c.take() {
		return nil, false, errBusy
	}
	fallback := &opening{sent: [][]byte{c.adv}, head: req}
	wants, deepen, ok := cloneRequest(req)
	if c.s.packs == nil || !ok || wants == 0 {
		return fallback, false, nil
	}
	// A shallow clone is told its shallow lines before it says "done"
	// (C git waits for them); anything but "done" after them goes to git,
	// which is given the same request and writes the same lines.
	var answer io.ReadCloser
	if deepen {
		answer, ok, err = c.cached(append(bytes.Clone(req), "0009done\n"...))
		switch {
		case err != nil:
			return nil, false, err
		case !ok:
			return fallback, false, nil
		}
		defer answer.Close()
		shallow, err := skipSection(answer)
		if err != nil {
			c.s.logger.Warn("ssh: cached answer without shallow lines; git answers", "repository", c.dir, "err", err)
			return fallback, false, nil
		}
		if err := c.send(bytes.NewReader(shallow)); err != nil {
			return nil, false, err
		}
		fallback.sent = append(fallback.sent, shallow)
	}
	next, err := c.line()
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return nil, false, errHungUp
	case err != nil:
		return nil, false, err
	}
	fallback.head = append(fallback.head, next...)
	if strings.TrimSuffix(string(next[min(4, len(next)):]), "\n") != "done" {
		return fallback, false, nil
	}
	if answer == nil {
		answer, ok, err = c.cached(fallback.head)
		switch {
		case err != nil:
			return nil, false, err
		case !ok:
			return fallback, false, nil
		}
		defer answer.Close()
	}
	return nil, true, c.send(answer)
}

// v2: requests one after the other; ls-refs from memory, a fetch the
// pack cache holds from it, anything else (and everything after it) from
// git. A flush or the end of input ends the conversation, as in git.
func (c *conversation) v2() (*opening, bool, error) {
	for {
		req, complete, err := c.request()
		switch {
		case errors.Is(err, io.EOF) && len(req) == 0:
			return nil, true, nil
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return nil, false, errHungUp
		case err != nil:
			return nil, false, err
		case !complete:
			return c.v2git(req)
		case string(req) == "0000":
			return nil, true, nil
		case command(req) == "ls-refs":
			out := &countingWriter{w: progressWriter{c.sess, c.w.reset}}
			err := c.s.adv.LsRefs(c.sess.Context(), c.dir, c.protocol, bytes.NewReader(req), out)
			if out.n > 0 || err == nil {
				if err != nil {
					return nil, false, c.w.err(err)
				}
				continue
			}
			return c.v2git(req)
		case command(req) == "fetch" && c.s.packs != nil:
			if !c.take() {
				return nil, false, errBusy
			}
			answer, ok, err := c.cached(req)
			switch {
			case err != nil:
				return nil, false, err
			case !ok:
				return c.v2git(req)
			}
			err = c.send(answer)
			answer.Close()
			if err != nil {
				return nil, false, err
			}
		default:
			return c.v2git(req)
		}
	}
}

// v2git hands the conversation to git from req on, with a clone slot.
func (c *conversation) v2git(req []byte) (*opening, bool, error) {
	if !c.take() {
		return nil, false, errBusy
	}
	return &opening{sent: [][]byte{c.adv}, head: req}, false, nil
}

// request reads pkt-lines up to and including a flush, the whole within
// the idle timeout, at most maxRequest bytes: complete is false when it
// stopped short (too long, or not a pkt-line length) and git must read
// the rest. It returns every byte read.
func (c *conversation) request() (req []byte, complete bool, err error) {
	c.w.reset()
	defer c.w.pause()
	hdr := make([]byte, 4)
	for len(req) < maxRequest {
		if _, err := io.ReadFull(c.sess, hdr); err != nil {
			return req, false, c.w.err(err)
		}
		req = append(req, hdr...)
		n, err := strconv.ParseUint(string(hdr), 16, 16)
		switch {
		case err != nil || n == 3 || n == 4 || len(req)+int(n)-4 > maxRequest:
			return req, false, nil
		case n == 0:
			return req, true, nil
		case n < 4:
			continue
		}
		start := len(req)
		req = append(req, make([]byte, n-4)...)
		if _, err := io.ReadFull(c.sess, req[start:]); err != nil {
			return req, false, c.w.err(err)
		}
	}
	return req, false, nil
}

// line reads one pkt-line, within the idle timeout.
func (c *conversation) line() ([]byte, error) {
	c.w.reset()
	defer c.w.pause()
	hdr := make([]byte, 4)
	if _, err := io.ReadFull(c.sess, hdr); err != nil {
		return nil, c.w.err(err)
	}
	n, err := strconv.ParseUint(string(hdr), 16, 16)
	if err != nil || n <= 4 {
		return hdr, nil
	}
	b := make([]byte, n)
	copy(b, hdr)
	if _, err := io.ReadFull(c.sess, b[4:]); err != nil {
		return nil, c.w.err(err)
	}
	return b, nil
}

// cached asks the pack cache for the answer to req. While it is
// computed the client hears nothing of git, so SSH keepalives keep the
// connection from looking idle; the cache bounds the computation. When
// the session ends or the server closes meanwhile, it returns that error
// at once; the computation, which others may be waiting for, goes on.
func (c *conversation) cached(req []byte) (io.ReadCloser, bool, error) {
	type result struct {
		r  io.ReadCloser
		ok bool
	}
	got := make(chan result, 1)
	go func() {
		r, ok := c.s.packs.Conversation(c.sess.Context(), c.dir, c.protocol, req)
		got <- result{r, ok}
	}()
	abandon := func(err error) (io.ReadCloser, bool, error) {
		// Bounded by the cache's timeout: a waiter returns when the
		// session's context ends, the computing request when git does.
		go func() {
			if r := <-got; r.ok {
				r.r.Close()
			}
		}()
		return nil, false, err
	}
	conn, _ := c.sess.Context().Value(ssh.ContextKeyConn).(gossh.Conn)
	tick := time.NewTicker(max(c.s.idleTimeout/3, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case r := <-got:
			return r.r, r.ok, nil
		case <-tick.C:
			if conn != nil {
				conn.SendRequest("keepalive@openssh.com", false, nil)
			}
		case <-c.sess.Context().Done():
			return abandon(errHungUp)
		case <-c.s.kill:
			return abandon(errClosing)
		}
	}
}

// send copies an answer to the client, which must keep taking it.
func (c *conversation) send(r io.Reader) error {
	c.w.reset()
	defer c.w.pause()
	_, err := io.CopyBuffer(progressWriter{c.sess, c.w.reset}, r, make([]byte, 64<<10))
	return c.w.err(err)
}

// command is the command a v2 request names in its first line (C git
// ends "command=ls-refs" with a newline and "command=fetch" without).
func command(req []byte) string {
	n, err := strconv.ParseUint(string(req[:min(4, len(req))]), 16, 16)
	if err != nil || n < 5 || int(n) > len(req) {
		return ""
	}
	c, _ := strings.CutPrefix(strings.TrimSuffix(string(req[4:n]), "\n"), "command=")
	return c
}

// cloneRequest reports whether v0 wants are a request the pack cache may
// answer in a conversation: want lines, then at most a "deepen" line (no
// shallow lines of the client's, whose answer git may begin before
// "done"), and a flush. It says how many wants and whether it deepens;
// the cache checks the rest.
func cloneRequest(req []byte) (wants int, deepen bool, ok bool) {
	for len(req) > 4 {
		n, err := strconv.ParseUint(string(req[:4]), 16, 16)
		if err != nil || n < 5 || int(n) > len(req) {
			return 0, false, false
		}
		l := string(req[4:n])
		switch {
		case strings.HasPrefix(l, "want ") && !deepen:
			wants++
		case strings.HasPrefix(l, "deepen ") && !deepen:
			deepen = true
		default:
			return 0, false, false
		}
		req = req[n:]
	}
	return wants, deepen, string(req) == "0000"
}

type countingWriter struct {
	w io.Writer
	n int
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += n
	return n, err
}

// watchdog cuts a session whose client neither sends a whole request nor
// takes an answer within the idle timeout (errStalled), and every
// session at Close. It runs only between reset and pause.
type watchdog struct {
	s       *Server
	timer   *time.Timer
	stalled atomic.Bool
	stop    chan struct{}
	ended   chan struct{}
}

func (s *Server) watch(sess ssh.Session) *watchdog {
	w := &watchdog{s: s, timer: time.NewTimer(s.idleTimeout), stop: make(chan struct{}), ended: make(chan struct{})}
	w.timer.Stop()
	go func() {
		defer close(w.ended)
		cut := func() {
			if g := guardOf(sess.Context()); g != nil {
				g.conn.Close()
			}
			sess.Close()
		}
		select {
		case <-w.stop:
		case <-w.timer.C:
			w.stalled.Store(true)
			s.observeConn("idle_timeout")
			cut()
		case <-s.kill:
			cut()
		}
	}()
	return w
}

func (w *watchdog) reset() { w.timer.Reset(w.s.idleTimeout) }
func (w *watchdog) pause() { w.timer.Stop() }

func (w *watchdog) close() {
	w.timer.Stop()
	close(w.stop)
	<-w.ended
}

// err is errStalled in place of the error of an I/O the watchdog cut.
func (w *watchdog) err(err error) error {
	if err != nil && w.stalled.Load() {
		return fmt.Errorf("%w (%v)", errStalled, err)
	}
	return err
}
