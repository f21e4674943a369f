package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// A git server that accepts connections and never answers does not stop
// the gate: each fetch gives up after gerrit.fetchTimeout and polling goes
// on, failing closed.
func TestHungGitServerTimesOut(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY")
	addr := silentServer(t)
	g := startGate(t, gateSetup{gerritURL: sim.url, username: "gate", password: sim.password, policy: reviewedPolicy,
		gitURL: "http://" + addr, extra: "  fetchTimeout: 1s\n"})
	g.settle() // two whole polls finish although every fetch hangs
	st := g.env(project, "prod")
	if st.Reason != "Failed" || !strings.Contains(st.Message, "deadline") {
		t.Errorf("status = %+v, want Failed on the fetch deadline", st)
	}
	if got := g.deployed(project, "prod"); got != "" {
		t.Errorf("deploy/prod = %s, want nothing", got)
	}

	// The same timeout against a Gerrit that answers: fetches succeed (so
	// the failure above is the hang's, not the setting's).
	ok := startGate(t, gateSetup{gerritURL: sim.url, username: "gate", password: sim.password, policy: reviewedPolicy,
		extra: "  fetchTimeout: 1s\n"})
	ok.waitDeployed(project, "prod", sim.head())
}

// The same over SSH, where the hang is in the handshake.
func TestHungSSHServerTimesOut(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY")
	addr := silentServer(t)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKey(priv, "gate")
	hostPub, _, _ := ed25519.GenerateKey(rand.Reader)
	hk, _ := ssh.NewPublicKey(hostPub)
	g := startGate(t, gateSetup{gerritURL: sim.url, username: "gate", password: sim.password, policy: reviewedPolicy,
		gitURL: "ssh://gate@" + addr, sshKey: pem.EncodeToMemory(block),
		knownHosts: knownhosts.Line([]string{knownhosts.Normalize(addr)}, hk) + "\n",
		extra:      "  fetchTimeout: 1s\n"})
	g.settle()
	if st := g.env(project, "prod"); st.Reason != "Failed" || !strings.Contains(st.Message, "deadline") {
		t.Errorf("status = %+v, want Failed on the fetch deadline", st)
	}
}

// silentServer accepts TCP connections and never says anything.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // hold it open, say nothing
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}
