//go:build realgerrit

package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Issue 15, readers from Gerrit, on a real Gerrit: READ on the project's
// main is made exclusive to a group (and Service Users, where the gate
// account is) with POST /projects/{p}/access. A reader bound to carol's
// account and one bound to that group read over HTTP and SSH; removing
// the group's READ rule refuses both within the lifetime, with no restart
// and no edit of access.yaml; adding it back lets both read again. On the
// way it shows that check.access needs the View Access capability.
func TestRealGerritReadersFromACL(t *testing.T) {
	r := newRealGerrit(t)
	p := r.createProject("MERGE_IF_NECESSARY")
	root := r.tip(p)
	enc := url.PathEscape(p)

	var su, grp struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	r.must(admin, http.MethodGet, "/groups/"+url.PathEscape("Service Users"), nil, &su)
	name := "readers-" + randomHex(t, 4)
	r.must(admin, http.MethodPut, "/groups/"+name, map[string]any{"visible_to_all": true, "members": []string{carol}}, &grp)
	if su.ID == "" || grp.ID == "" {
		t.Fatalf("group ids: Service Users %q, %s %q", su.ID, name, grp.ID)
	}
	uuid := func(id string) string { u, _ := url.QueryUnescape(id); return u }

	// check.access as the gate account: refused without View Access.
	checkPath := "/projects/" + enc + "/check.access?account=" + carol + "&ref=refs%2Fheads%2Fmain&perm=read"
	err := r.call(gateU, http.MethodGet, checkPath, nil, nil)
	var he *httpError
	if !errors.As(err, &he) || he.Status != http.StatusForbidden {
		t.Fatalf("check.access as the gate without View Access: %v, want 403", err)
	}
	t.Logf("without View Access: %v", err)
	viewAccess := func(op string) {
		r.must(admin, http.MethodPost, "/projects/All-Projects/access", map[string]any{
			op: map[string]any{"GLOBAL_CAPABILITIES": map[string]any{"permissions": map[string]any{
				"viewAccess": map[string]any{"rules": map[string]any{uuid(su.ID): map[string]any{"action": "ALLOW"}}}}}},
		}, nil)
	}
	viewAccess("add")
	t.Cleanup(func() { viewAccess("remove") })
	var info struct {
		Status int `json:"status"`
	}
	r.must(gateU, http.MethodGet, checkPath, nil, &info)
	t.Logf("with View Access (to Service Users): check.access status %d", info.Status)
	// What the client must not take for an answer: an unknown account,
	// an unknown project.
	unknown := strings.Replace(checkPath, "account="+carol, "account=nobody-"+randomHex(t, 4), 1)
	if err := r.call(gateU, http.MethodGet, unknown, nil, nil); !errors.As(err, &he) || he.Status/100 != 4 {
		t.Errorf("check.access of an unknown account: %v, want a 4xx", err)
	} else {
		t.Logf("unknown account: HTTP %d %s", he.Status, strings.TrimSpace(he.Body))
	}
	if err := r.call(gateU, http.MethodGet, strings.Replace(checkPath, enc, "e2e%2Fno-such-"+randomHex(t, 4), 1), nil, nil); !errors.As(err, &he) || he.Status != http.StatusNotFound {
		t.Errorf("check.access on an unknown project: %v, want 404", err)
	}

	readRule := func(op string) {
		t.Helper()
		rules := map[string]any{uuid(grp.ID): map[string]any{"action": "ALLOW"}}
		perm := map[string]any{"rules": rules}
		if op == "add" {
			rules[uuid(su.ID)] = map[string]any{"action": "ALLOW"} // the gate mirrors main
			perm["exclusive"] = true
		}
		r.must(admin, http.MethodPost, "/projects/"+enc+"/access", map[string]any{
			op: map[string]any{"refs/heads/main": map[string]any{"permissions": map[string]any{"read": perm}}},
		}, nil)
	}
	readRule("add")
	r.must(gateU, http.MethodGet, checkPath, nil, &info)
	if info.Status != http.StatusOK {
		t.Fatalf("carol, in %s, has no READ on main: check.access status %d", name, info.Status)
	}

	byAccount, byGroup := newReader(t, "by-account"), newReader(t, "by-group")
	accessYAML := "readers:\n" + byAccount.gerritEntry("{account: "+carol+"}") + byGroup.gerritEntry("{group: "+name+"}")
	g := startAccessGateOn(t, r.url, r.env["GERRIT_GATE_PASSWORD"], realPolicy(p, "upstream"), accessYAML,
		gateSetup{gerritExtra: fmt.Sprintf("  readCheckLifetime: %s\n", readCheckLifetime)})
	g.waitDeployedAs(byAccount, p, root)

	reads := func(rd reader) bool {
		if _, err := git(t, "", "ls-remote", g.httpURL(rd, p), "refs/heads/deploy/prod"); err != nil {
			return false
		}
		dir := filepath.Join(t.TempDir(), "c")
		_, err := g.sshGit(t, rd.keyFile, g.knownHosts, "clone", "-q", "-b", "deploy/prod", g.sshURL(p), dir)
		return err == nil
	}
	refused := func(rd reader) bool {
		_, herr := git(t, "", "ls-remote", g.httpURL(rd, p))
		_, serr := g.sshGit(t, rd.keyFile, g.knownHosts, "ls-remote", g.sshURL(p))
		return herr != nil && serr != nil
	}
	within := readCheckLifetime + 30*time.Second
	if !reads(byAccount) || !reads(byGroup) {
		t.Fatalf("readers Gerrit grants READ cannot read\n%s", g.log)
	}

	readRule("remove")
	r.must(gateU, http.MethodGet, checkPath, nil, &info)
	if info.Status != http.StatusForbidden {
		t.Fatalf("after removing %s's READ rule, check.access status %d, want 403", name, info.Status)
	}
	revoked := time.Now()
	waitFor(t, within, "both readers refused after the group's READ rule was removed", func() bool { return refused(byAccount) && refused(byGroup) })
	t.Logf("refused %v after the removal (lifetime %v)", time.Since(revoked).Round(100*time.Millisecond), readCheckLifetime)

	readRule("add")
	waitFor(t, within, "both readers read again after the rule was added back", func() bool { return reads(byAccount) && reads(byGroup) })
	if log := g.log.String(); strings.Contains(log, "access list reloaded") || strings.Contains(log, "cannot ask Gerrit") {
		t.Errorf("the gate reloaded its access list or could not ask Gerrit:\n%s", grepLines(log, "access"))
	}
}
