package gerrit

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/gerritgate/gerritgate/internal/redact"

	"golang.org/x/crypto/ssh"
)

// Event is one line of `gerrit stream-events`, reduced to what a caller
// acts on. Type "stream-connected" is not Gerrit's: Run reports it after
// every (re)connection, because Gerrit replays nothing a client missed.
type Event struct {
	Type    string
	Project string
}

// EventStream follows `gerrit stream-events` over SSH. The account needs
// Gerrit's Stream Events capability.
type EventStream struct {
	Addr            string // host:port of Gerrit's SSH daemon
	User            string
	Signer          ssh.Signer
	HostKeyCallback ssh.HostKeyCallback // never ssh.InsecureIgnoreHostKey
	Logger          *slog.Logger
	// Timeout bounds the dial and the handshake (default 30s).
	Timeout time.Duration
}

// Run connects, calls on for every event, and reconnects with backoff (1s
// doubling to 1m) until ctx ends. Events are only hints: whoever acts on
// them must read the facts from Gerrit's REST API and git.
func (e *EventStream) Run(ctx context.Context, on func(Event)) {
	log := e.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	backoff := time.Second
	for ctx.Err() == nil {
		start := time.Now()
		err := e.stream(ctx, on)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > time.Minute {
			backoff = time.Second // it ran a while: the server was fine
		}
		// The error may quote the server (an exit-signal message).
		log.Warn("gerrit stream-events ended; reconnecting", "addr", e.Addr, "err", redact.Err(err, maxErrorBody, nil), "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Minute)
	}
}

func (e *EventStream) stream(ctx context.Context, on func(Event)) error {
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	conn, err := (&net.Dialer{Timeout: timeout}).DialContext(ctx, "tcp", e.Addr)
	if err != nil {
		return err
	}
	// go's ssh client has no handshake timeout of its own.
	conn.SetDeadline(time.Now().Add(timeout))
	cc, chans, reqs, err := ssh.NewClientConn(conn, e.Addr, &ssh.ClientConfig{
		User:            e.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(e.Signer)},
		HostKeyCallback: e.HostKeyCallback,
		Timeout:         timeout,
	})
	if err != nil {
		conn.Close()
		return fmt.Errorf("ssh handshake: %w", err)
	}
	conn.SetDeadline(time.Time{})
	client := ssh.NewClient(cc, chans, reqs)
	defer client.Close()
	stop := context.AfterFunc(ctx, func() { client.Close() })
	defer stop()

	sess, err := client.NewSession()
	if err != nil {
		return err
	}
	out, err := sess.StdoutPipe()
	if err != nil {
		return err
	}
	if err := sess.Start("gerrit stream-events -s change-merged -s ref-updated -s comment-added -s project-created"); err != nil {
		return err
	}
	// A connection that dies silently is found by keepalives.
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if _, _, err := client.SendRequest("keepalive@openssh.com", true, nil); err != nil {
					client.Close()
					return
				}
			}
		}
	}()
	on(Event{Type: "stream-connected"})
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if ev, ok := parseEvent(sc.Bytes()); ok {
			on(ev)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return fmt.Errorf("stream closed: %v", sess.Wait())
}

// parseEvent reads the type and project of one stream-events line.
func parseEvent(line []byte) (Event, bool) {
	var v struct {
		Type    string `json:"type"`
		Project any    `json:"project"` // a string; an object in some events
		Change  struct {
			Project string `json:"project"`
		} `json:"change"`
		RefUpdate struct {
			Project string `json:"project"`
		} `json:"refUpdate"`
	}
	if json.Unmarshal(line, &v) != nil || v.Type == "" {
		return Event{}, false
	}
	ev := Event{Type: v.Type, Project: v.Change.Project}
	if ev.Project == "" {
		ev.Project = v.RefUpdate.Project
	}
	if p, ok := v.Project.(string); ok && ev.Project == "" {
		ev.Project = p
	}
	return ev, true
}
