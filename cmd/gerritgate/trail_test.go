package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/audit"
	"github.com/gerritgate/gerritgate/deploy"
	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/status"
	"github.com/gerritgate/gerritgate/storage"
)

// servedWithTrail makes a data directory whose served platform/fleet has
// records advance records on audit/prod, each with its evidence, signed,
// and returns the store and the audit commits, oldest first.
func servedWithTrail(tb testing.TB, records int) (*storage.Store, []plumbing.Hash) {
	tb.Helper()
	store, err := storage.Open(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	served, err := store.Served("platform/fleet")
	if err != nil {
		tb.Fatal(err)
	}
	private, _, err := audit.NewKey("bench", "bench@localhost")
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := audit.ReadSigner(strings.NewReader(private), "bench")
	if err != nil {
		tb.Fatal(err)
	}
	var hashes []plumbing.Hash
	prev := plumbing.ZeroHash
	for i := range records {
		var commits []gate.Commit
		var summary []audit.Commit
		for j := range 5 {
			sha := fmt.Sprintf("%038d%02d", i, j)
			commits = append(commits, gate.Commit{SHA: sha, Subject: fmt.Sprintf("change %d.%d", i, j)})
			summary = append(summary, audit.Commit{SHA: sha, Subject: fmt.Sprintf("change %d.%d", i, j), Approved: true, Change: i*5 + j})
		}
		rec := &audit.Record{Schema: audit.Schema, Kind: audit.Advance, Project: "platform/fleet", Branch: "main", Environment: "prod",
			To: summary[4].SHA, Time: time.Date(2026, 1, 1, 0, i, 0, 0, time.UTC), Policy: audit.PolicyOf(&gate.Policy{Name: "reviewed", Labels: map[string]gate.LabelRule{"Code-Review": {Min: 2}}}), Commits: summary,
			Evidence: &gate.Range{Project: "platform/fleet", Branch: "main", Head: summary[4].SHA, Commits: commits}}
		h, err := audit.Write(served.Objects(), rec, prev, signer)
		if err != nil {
			tb.Fatal(err)
		}
		hashes, prev = append(hashes, h), h
	}
	if err := served.UpdateRefs(storage.RefUpdate{Name: audit.Ref("prod"), New: prev}); err != nil {
		tb.Fatal(err)
	}
	return store, hashes
}

// servedTrail reads the tip of audit/<env> and the newest records from a
// tip, newest first; a project or environment without a trail is none.
func TestServedTrail(t *testing.T) {
	store, hashes := servedWithTrail(t, 3)
	tr := servedTrail{store}
	tests := []struct {
		project, env string
		tip          string
	}{
		{"platform/fleet", "prod", hashes[2].String()},
		{"platform/fleet", "staging", ""},
		{"platform/other", "prod", ""},
	}
	for _, tt := range tests {
		if tip, err := tr.Tip(tt.project, tt.env); tip != tt.tip || err != nil {
			t.Errorf("Tip(%s, %s) = %q, %v, want %q", tt.project, tt.env, tip, err, tt.tip)
		}
	}
	for _, n := range []int{1, 2, 5} {
		recs, err := tr.Latest("platform/fleet", hashes[1].String(), n)
		var got []string
		for _, r := range recs {
			got = append(got, r.Commits[0].Subject)
		}
		want := []string{"change 1.0", "change 0.0"}[:min(n, 2)]
		if err != nil || strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("Latest(from the second record, %d) = %q, %v, want %q", n, got, err, want)
		}
	}
	if _, err := tr.Latest("platform/other", hashes[1].String(), 1); err == nil {
		t.Errorf("Latest of a project without a served repository: no error")
	}
}

// uncachedTrail names a new tip on every view, so every view reads the
// records again: the status page before the Board kept them.
type uncachedTrail struct {
	servedTrail
	views int
}

func (u *uncachedTrail) Tip(project, env string) (string, error) {
	u.views++
	tip, err := u.servedTrail.Tip(project, env)
	return fmt.Sprintf("%s#%d", tip, u.views), err
}

func (u *uncachedTrail) Latest(project, tip string, n int) ([]audit.Record, error) {
	tip, _, _ = strings.Cut(tip, "#")
	return u.servedTrail.Latest(project, tip, n)
}

// BenchmarkStatusPage measures one view of the status page of an
// environment with 20 signed audit records on disk: read on every view
// (uncached) or once per movement of audit/<env> (cached, the Board).
func BenchmarkStatusPage(b *testing.B) {
	store, hashes := servedWithTrail(b, 20)
	for _, bench := range []struct {
		name  string
		trail status.Trail
	}{
		{"cached", servedTrail{store}},
		{"uncached", &uncachedTrail{servedTrail: servedTrail{store}}},
	} {
		b.Run(bench.name, func(b *testing.B) {
			board := status.NewBoard()
			board.Record(deploy.Result{Project: "platform/fleet", Branch: "main", Env: "prod", Reason: deploy.UpToDate, To: hashes[19].String()})
			mux := http.NewServeMux()
			status.NewHandler(board, status.Everyone{}, nil, status.WithTrail(bench.trail)).Register(mux)
			for b.Loop() {
				w := httptest.NewRecorder()
				mux.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
				if !strings.Contains(w.Body.String(), "change 19.4") {
					b.Fatalf("the page lacks the newest record:\n%s", w.Body.String())
				}
			}
		})
	}
}
