package gerrit

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gerritgate/gerritgate/gate"
)

// commitBatch bounds how many commit: terms go into one query, so URLs stay
// below the limits of proxies in front of Gerrit: a term with its " OR "
// is 53 bytes encoded (commit%3A, 40 hex, +OR+), so 100 make about 5.3
// KiB, which with the options and the project stays under the 8 KiB
// request line nginx (large_client_header_buffers) and Apache
// (LimitRequestLine) accept by default; Gerrit's own Jetty takes 16 KiB.
// A batch is asked in one page (n is at least the batch), so a burst of
// 100 merged commits costs one call.
const commitBatch = 100

// maxPages stops a query whose server keeps saying _more_changes.
const maxPages = 10000

// GateOptions are the query options behind every gate.Change the client
// returns.
var gateOptions = []string{
	OptLabels, OptDetailedLabels, OptSubmitRequirements, OptAllRevisions,
	OptDetailedAccounts, OptMessages, OptCurrentRevision, OptAllCommits,
}

// QueryChanges runs a change query and returns every result, following
// Gerrit's pages (n, S) until the last element has no _more_changes.
//
// Results are sorted by last update and move while changes are updated, so
// a change can appear on two pages (it is returned once, first sighting
// wins) and a change updated during the walk can be missed; callers that
// must not miss one re-query from a time before the walk began.
func (c *Client) QueryChanges(ctx context.Context, query string, options ...string) ([]ChangeInfo, error) {
	return c.queryChanges(ctx, query, c.pageSize, options...)
}

// queryChanges is QueryChanges with pages of pageSize changes (Gerrit's
// query limit may cut them shorter: paging goes on).
func (c *Client) queryChanges(ctx context.Context, query string, pageSize int, options ...string) ([]ChangeInfo, error) {
	var all []ChangeInfo
	seen := map[int]bool{}
	start, stale := 0, 0
	for page := 0; ; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("gerrit: query changes %q: more than %d pages", bounded(query, 200), maxPages)
		}
		v := url.Values{}
		v.Set("q", query)
		for _, o := range options {
			v.Add("o", o)
		}
		v.Set("n", strconv.Itoa(pageSize))
		v.Set("S", strconv.Itoa(start))
		var got []ChangeInfo
		if err := c.call(ctx, request{op: "query changes", method: http.MethodGet, path: "/changes/", query: v.Encode()}, &got); err != nil {
			return nil, err
		}
		fresh := 0
		for _, ci := range got {
			if seen[ci.Number] {
				continue
			}
			seen[ci.Number] = true
			ci.MoreChanges = false
			all = append(all, ci)
			fresh++
		}
		if len(got) == 0 || !got[len(got)-1].MoreChanges {
			return all, nil
		}
		// Drift can repeat a whole page now and then; a server that
		// ignores S repeats them forever.
		if fresh == 0 {
			stale++
		} else {
			stale = 0
		}
		if stale == 3 {
			return nil, fmt.Errorf("gerrit: query changes %q: three pages in a row held only changes already seen", bounded(query, 200))
		}
		start += len(got)
	}
}

// Change returns one change of a project by number.
func (c *Client) Change(ctx context.Context, project string, number int, options ...string) (*ChangeInfo, error) {
	v := url.Values{}
	for _, o := range options {
		v.Add("o", o)
	}
	var ci ChangeInfo
	err := c.call(ctx, request{op: "get change", method: http.MethodGet, path: "/changes/" + changePath(project, number), query: v.Encode()}, &ci)
	if err != nil {
		return nil, err
	}
	return &ci, nil
}

// GateChange returns one change as the gate sees it.
func (c *Client) GateChange(ctx context.Context, project string, number int) (gate.Change, error) {
	ci, err := c.Change(ctx, project, number, gateOptions...)
	if err != nil {
		return gate.Change{}, err
	}
	return ci.GateChange()
}

// ChangesForCommits maps each of shas (full, hex) to the changes of project
// that have it as one of their patch sets, on any branch, so the gate can
// say that a commit belongs to a change on another branch, or count it
// when the policy accepts that branch; map keys are lower case. The changes
// of branch come first. A SHA that belongs to no change of the project (a
// direct push, or a merge commit Gerrit wrote) is absent from the map.
// Other projects are not asked: their names and changes are not for the
// readers of this one.
func (c *Client) ChangesForCommits(ctx context.Context, project, branch string, shas []string) (map[string][]gate.Change, error) {
	want := map[string]bool{}
	var uniq []string
	for _, s := range shas {
		s = strings.ToLower(s)
		if !isHex(s) || len(s) < 40 {
			return nil, fmt.Errorf("gerrit: changes for commits: %q is not a full commit SHA", bounded(s, 64))
		}
		if !want[s] {
			want[s] = true
			uniq = append(uniq, s)
		}
	}
	out := map[string][]gate.Change{}
	for len(uniq) > 0 {
		batch := uniq[:min(commitBatch, len(uniq))]
		uniq = uniq[len(batch):]
		terms := make([]string, len(batch))
		for i, s := range batch {
			terms[i] = "commit:" + s
		}
		q := "(" + strings.Join(terms, " OR ") + ") project:" + QuoteQuery(project)
		infos, err := c.queryChanges(ctx, q, max(c.pageSize, len(batch)), gateOptions...)
		if err != nil {
			return nil, err
		}
		for i := range infos {
			ch, err := infos[i].GateChange()
			if err != nil {
				return nil, err
			}
			// Trust the revisions, not the query: the change must really
			// hold the SHA, and be of the project asked for.
			if ch.Project != project {
				continue
			}
			for sha := range ch.Revisions {
				if want[sha] && !hasChange(out[sha], ch.Number) {
					out[sha] = append(out[sha], ch)
				}
			}
		}
	}
	// A commit no change of this project has may belong to a change of
	// another project: say so, without naming it (readers of this project
	// may not read that one), rather than call it pushed directly. The
	// answers are kept a while (others.go).
	var missing []string
	for s := range want {
		if len(out[s]) > 0 {
			continue
		}
		switch has, ok := c.others.get(project, s); {
		case !ok:
			missing = append(missing, s)
		case has:
			out[s] = []gate.Change{OtherProjectChange(s)}
		}
	}
	sort.Strings(missing)
	for len(missing) > 0 {
		batch := missing[:min(commitBatch, len(missing))]
		missing = missing[len(batch):]
		terms := make([]string, len(batch))
		for i, s := range batch {
			terms[i] = "commit:" + s
		}
		infos, err := c.queryChanges(ctx, "("+strings.Join(terms, " OR ")+")", max(c.pageSize, len(batch)), OptAllRevisions)
		if err != nil {
			return nil, err
		}
		for _, ci := range infos {
			if ci.Project == project {
				continue // seen by the first query, or not a change the gate trusts
			}
			for sha := range ci.Revisions {
				if want[sha] && len(out[sha]) == 0 {
					out[sha] = []gate.Change{OtherProjectChange(sha)}
				}
			}
		}
		for _, s := range batch {
			c.others.put(project, s, len(out[s]) > 0)
		}
	}
	for _, cs := range out {
		sort.SliceStable(cs, func(i, j int) bool { return cs[i].Branch == branch && cs[j].Branch != branch })
	}
	return out, nil
}

// OtherProjectChange stands for a change of another project that has sha
// as a patch set: it carries nothing about that change but the fact, so
// that no verdict names what a reader of this project may not read. It
// never approves a commit (the gate counts only changes of the project).
func OtherProjectChange(sha string) gate.Change {
	return gate.Change{Project: gate.OtherProject, Revisions: map[string]gate.Revision{sha: {SHA: sha}}}
}

func hasChange(cs []gate.Change, number int) bool {
	for _, c := range cs {
		if c.Number == number {
			return true
		}
	}
	return false
}

// MergedAfter returns the changes of project and branch merged at or after
// t (Gerrit's mergedafter:, since 3.4), to catch up after missed events.
// t is truncated to the second, the precision of the query operator.
func (c *Client) MergedAfter(ctx context.Context, project, branch string, t time.Time) ([]gate.Change, error) {
	q := "project:" + QuoteQuery(project) + " branch:" + QuoteQuery(branch) +
		" status:merged mergedafter:" + QuoteQuery(t.UTC().Truncate(time.Second).Format("2006-01-02 15:04:05 -0700"))
	infos, err := c.QueryChanges(ctx, q, gateOptions...)
	if err != nil {
		return nil, err
	}
	out := make([]gate.Change, 0, len(infos))
	for i := range infos {
		ch, err := infos[i].GateChange()
		if err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	return out, nil
}

// changePath is Gerrit's project~number change id, escaped for a URL path:
// a "/" in the project name becomes %2F.
func changePath(project string, number int) string {
	return url.PathEscape(project) + "~" + strconv.Itoa(number)
}

// QuoteQuery quotes a value for Gerrit's query language, so project and
// branch names with "/" or spaces survive as one operand.
func QuoteQuery(s string) string {
	if !strings.ContainsAny(s, `"\`) {
		return `"` + s + `"`
	}
	if !strings.ContainsAny(s, "{}") {
		return "{" + s + "}"
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func isHex(s string) bool {
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return s != ""
}
