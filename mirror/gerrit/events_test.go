package gerrit_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gerritgate/gerritgate/mirror/gerrit"
	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
)

func TestEventStream(t *testing.T) {
	srv, err := gerrittest.New(gerrittest.WithSSH("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	if err := srv.AddSSHKey("gate", ssh.MarshalAuthorizedKey(signer.PublicKey())); err != nil {
		t.Fatal(err)
	}
	owner := srv.AddAccount("alice")
	if err := srv.CreateProject("platform/fleet", ""); err != nil {
		t.Fatal(err)
	}

	run := func(hostKey ssh.PublicKey) (<-chan gerrit.Event, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		ch := make(chan gerrit.Event, 100)
		es := &gerrit.EventStream{Addr: srv.SSHAddr(), User: "gate", Signer: signer, HostKeyCallback: ssh.FixedHostKey(hostKey)}
		go es.Run(ctx, func(ev gerrit.Event) { ch <- ev })
		return ch, cancel
	}
	next := func(ch <-chan gerrit.Event, want string) gerrit.Event {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case ev := <-ch:
				if ev.Type == want {
					return ev
				}
			case <-timeout:
				t.Fatalf("no %s event within 10s", want)
			}
		}
	}

	ch, stop := run(srv.HostKey())
	defer stop()
	next(ch, "stream-connected")
	// The server may register the stream a moment after the client has
	// started it (events before that are lost, as with Gerrit): push until
	// one is seen.
	var seen *gerrit.Event
	for i := 0; i < 20 && seen == nil; i++ {
		if _, err := srv.DirectPush("platform/fleet", "main", owner, "pushed", map[string]string{"a": fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-ch:
			seen = &ev
		case <-time.After(500 * time.Millisecond):
		}
	}
	if seen == nil || seen.Type != "ref-updated" || seen.Project != "platform/fleet" {
		t.Fatalf("after pushes: %+v, want ref-updated for platform/fleet", seen)
	}
	c, err := srv.CreateChange(gerrittest.ChangeInput{Project: "platform/fleet", Owner: owner, Subject: "s", Files: map[string]string{"c": "d"}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Vote(c.Number, owner, "Code-Review", 2)
	if ev := next(ch, "comment-added"); ev.Project != "platform/fleet" {
		t.Errorf("comment-added for %q", ev.Project)
	}
	if _, err := srv.Submit(c.Number, owner); err != nil {
		t.Fatal(err)
	}
	if ev := next(ch, "change-merged"); ev.Project != "platform/fleet" {
		t.Errorf("change-merged for %q", ev.Project)
	}

	// An impostor's host key: never connected.
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := ssh.NewSignerFromKey(otherPriv)
	bad, stopBad := run(other.PublicKey())
	defer stopBad()
	select {
	case ev := <-bad:
		t.Errorf("connected to a server with the wrong host key: %+v", ev)
	case <-time.After(1500 * time.Millisecond):
	}
}
