package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gerritgate/gerritgate/access"
	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
)

// gerritEntry is an access.yaml reader bound to Gerrit, without projects.
func (r reader) gerritEntry(binding string) string {
	return fmt.Sprintf("  - name: %s\n    gerrit: %s\n    sshKeys: [%q]\n    tokens: [%q]\n",
		r.name, binding, r.pubLine, access.HashToken(r.token))
}

// readCheckLifetime is the gate's gerrit.readCheckLifetime in these tests.
const readCheckLifetime = 2 * time.Second

// Readers from Gerrit's ACLs (issue 15): a reader bound to a Gerrit
// account reads over HTTP and SSH, and sees the project on the status
// API, while Gerrit grants that account READ on the gated branch; it
// loses all three within the lifetime once the grant is gone, with no
// restart and no edit of access.yaml, and gets them back when it is
// restored. A reader bound to a group reads while every member may. When
// Gerrit cannot be asked, bound readers are refused once their answer is
// older than the lifetime, the log says so once and /metrics shows it.
func TestReadersFromGerritACL(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY")
	sim.srv.AllowViewAccess(sim.srv.AddAccount("gate"))
	flux := sim.srv.AddAccount("flux-prod")
	fleetReaders, err := sim.srv.AddGroup("fleet-readers", gerrittest.Members(flux, sim.alice), gerrittest.VisibleToAll())
	sim.must(err)
	sim.must(sim.srv.SetReadAccess(project, "refs/heads/main", fleetReaders))

	bound, team := newReader(t, "bound"), newReader(t, "team")
	scrape, _, _ := access.NewToken()
	registerSecret(scrape)
	accessYAML := "readers:\n" + bound.gerritEntry("{account: flux-prod}") + team.gerritEntry("{group: fleet-readers}") +
		fmt.Sprintf("metrics:\n  tokens: [%q]\n", access.HashToken(scrape))
	g := startAccessGateWith(t, sim, accessYAML, gateSetup{gerritExtra: fmt.Sprintf("  readCheckLifetime: %s\n", readCheckLifetime)})
	// platform/other is gated too, but nobody may read its main in Gerrit.
	sim.must(sim.srv.SetReadAccess("platform/other", "refs/heads/main"))

	a := sim.mergeApproved("A")
	g.waitDeployedAs(bound, project, a)

	get := func(path, token string) (int, string) { return g.get(t, path, token) }
	httpReads := func(r reader, p string) bool {
		_, err := git(t, "", "ls-remote", g.httpURL(r, p), "refs/heads/deploy/prod")
		return err == nil
	}
	sshClones := func(r reader) bool {
		dir := filepath.Join(t.TempDir(), "c")
		_, err := g.sshGit(t, r.keyFile, g.knownHosts, "clone", "-q", "-b", "deploy/prod", g.sshURL(project), dir)
		return err == nil
	}
	apiShows := func(r reader) bool {
		code, body := get("/api/v1/status", r.token)
		return code == 200 && strings.Contains(body, project)
	}
	reads := func(r reader) bool { return httpReads(r, project) && sshClones(r) && apiShows(r) }
	refused := func(r reader) bool { return !httpReads(r, project) && !sshClones(r) && !apiShows(r) }
	within := readCheckLifetime + 20*time.Second // the lifetime, and slack for a loaded machine

	accessBefore, _ := os.ReadFile(g.accessFile)
	if !reads(bound) || !reads(team) {
		t.Fatalf("readers Gerrit grants READ cannot read: bound %v, team %v\n%s", reads(bound), reads(team), g.log)
	}
	if httpReads(bound, "platform/other") {
		t.Error("bound reads platform/other, whose main Gerrit lets nobody read")
	}

	// The account leaves the group that holds READ: bound loses it; the
	// group reader keeps it (alice, its one member now, may read).
	sim.must(sim.srv.RemoveGroupMember(fleetReaders, flux))
	revoked := time.Now()
	waitFor(t, within, "bound refused over HTTP, SSH and the API after its READ was revoked", func() bool { return refused(bound) })
	t.Logf("bound refused %v after the revocation (lifetime %v)", time.Since(revoked).Round(100*time.Millisecond), readCheckLifetime)
	if !reads(team) {
		t.Error("team refused while every member of its group may read")
	}
	sim.must(sim.srv.AddGroupMembers(fleetReaders, flux))
	waitFor(t, within, "bound reads again after its READ was restored", func() bool { return reads(bound) })

	// The group's READ is taken away, then given back.
	sim.must(sim.srv.SetReadAccess(project, "refs/heads/main"))
	waitFor(t, within, "team refused after its group's READ was removed", func() bool { return refused(team) })
	sim.must(sim.srv.SetReadAccess(project, "refs/heads/main", fleetReaders))
	waitFor(t, within, "team reads again after its group's READ was restored", func() bool { return reads(team) })

	// Gerrit cannot be asked: refused once the answers are a lifetime old.
	sim.must(sim.srv.SetUnreachable(true))
	waitFor(t, within, "bound refused while Gerrit cannot be asked", func() bool { return !httpReads(bound, project) })
	_, m := get("/metrics", scrape)
	if !strings.Contains(m, `gerritgate_access_gerrit_checks_total{outcome="error"}`) || strings.Contains(m, "gerritgate_access_gerrit_stale 0") {
		t.Errorf("/metrics does not show the failed checks and stale answers:\n%s", grepLines(m, "gerritgate_access_gerrit"))
	}
	sim.must(sim.srv.SetUnreachable(false))
	waitFor(t, within, "bound reads again once Gerrit answers", func() bool { return reads(bound) })
	_, m = get("/metrics", scrape)
	for _, want := range []string{`gerritgate_access_gerrit_checks_total{outcome="granted"}`, `gerritgate_access_gerrit_checks_total{outcome="denied"}`,
		`gerritgate_gerrit_requests_total{op="check access",outcome="ok"}`, "gerritgate_access_gerrit_stale 0"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(m, "gerritgate_access_gerrit")+"\n"+grepLines(m, `op="check access"`))
		}
	}
	log := g.log.String()
	if n := strings.Count(log, "cannot ask Gerrit whether bound readers may read"); n != 1 {
		t.Errorf("Gerrit being unreachable is logged %d times, want once per transition", n)
	}
	if !strings.Contains(log, "Gerrit answers read checks again") {
		t.Error("the log does not say Gerrit answers again")
	}
	if after, _ := os.ReadFile(g.accessFile); string(after) != string(accessBefore) {
		t.Error("access.yaml changed")
	}
	if strings.Contains(log, "access list reloaded") {
		t.Error("the gate reloaded its access list")
	}
}
