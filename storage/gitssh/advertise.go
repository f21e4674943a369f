package gitssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gliderlabs/ssh"
)

// Advertiser answers the start of a protocol v0 or v1 conversation from
// memory (storage/refadv.Cache satisfies it): the advertisement `git
// upload-pack` would write first, or an error (for protocol v2, say), and
// git runs as before.
type Advertiser interface {
	Conversation(ctx context.Context, dir, protocol string) ([]byte, error)
}

// WithAdvertiser answers ref checks over SSH from a: the advertisement is
// sent from memory, and only a client that then wants objects gets a
// clone slot and a git upload-pack. A client that wants nothing (git
// ls-remote, Flux's check before a clone) takes neither.
func WithAdvertiser(a Advertiser) Option { return func(s *Server) { s.adv = a } }

// opening is how a conversation began before git ran: the advertisement
// the client was sent and the first bytes it answered with.
type opening struct {
	sent, head []byte
}

// errHungUp is a client that closed the session after the advertisement
// without a word (git upload-pack would say "the remote end hung up").
var errHungUp = errors.New("client hung up after the advertisement")

// advertise sends dir's advertisement from s.adv and reads the client's
// first pkt-line length. It returns nil, nil when there is no advertiser
// or it declines (git must run as before); done when the client wants
// nothing (a flush), which git would answer by exiting 0.
func (s *Server) advertise(sess ssh.Session, dir, protocol string) (open *opening, done bool, err error) {
	if s.adv == nil {
		return nil, false, nil
	}
	adv, err := s.adv.Conversation(sess.Context(), dir, protocol)
	if err != nil {
		s.logger.Debug("ssh advertisement not answered from memory", "err", err)
		return nil, false, nil
	}
	head, err := s.readHead(sess, adv)
	switch {
	case err != nil:
		return nil, false, err
	case string(head) == "0000":
		return nil, true, nil
	}
	return &opening{sent: adv, head: head}, false, nil
}

// readHead writes adv and reads 4 bytes, within the idle timeout
// (errStalled), and not past Close.
func (s *Server) readHead(sess ssh.Session, adv []byte) ([]byte, error) {
	stop := make(chan struct{})
	defer close(stop)
	timer := time.NewTimer(s.idleTimeout)
	defer timer.Stop()
	var stalled atomic.Bool
	go func() {
		cut := func() {
			if g := guardOf(sess.Context()); g != nil {
				g.conn.Close()
			}
			sess.Close()
		}
		select {
		case <-stop:
		case <-timer.C:
			stalled.Store(true)
			s.observeConn("idle_timeout")
			cut()
		case <-s.kill:
			cut()
		}
	}()
	if _, err := sess.Write(adv); err != nil {
		return nil, err
	}
	head := make([]byte, 4)
	_, err := io.ReadFull(sess, head)
	switch {
	case stalled.Load():
		return nil, errStalled
	case errors.Is(err, io.EOF):
		return nil, errHungUp
	case err != nil:
		return nil, err
	}
	return head, nil
}

// skipAdvertisement reads git's own advertisement (pkt-lines up to and
// including the first flush) from its stdout, so that the client, which
// has had one, gets only what follows. It returns what it read.
func skipAdvertisement(r io.Reader) ([]byte, error) {
	var out bytes.Buffer
	hdr := make([]byte, 4)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return out.Bytes(), fmt.Errorf("git's advertisement: %w", err)
		}
		out.Write(hdr)
		n, err := strconv.ParseUint(string(hdr), 16, 16)
		switch {
		case err != nil || n == 1 || n == 2 || n == 3:
			return out.Bytes(), fmt.Errorf("git's advertisement: bad pkt-line length %q", hdr)
		case n == 0:
			return out.Bytes(), nil
		}
		if _, err := io.CopyN(&out, r, int64(n)-4); err != nil {
			return out.Bytes(), fmt.Errorf("git's advertisement: %w", err)
		}
	}
}
