package gerrit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/internal/gitid"
)

// commitBatch is how many commit: terms go into one query at first: a
// term with its " OR " is 53 bytes encoded (commit%3A, 40 hex, +OR+), so
// 200 make a request line of about 10.8 KiB with the options, within the
// 16 KiB Gerrit's Jetty reads by default (httpd.requestHeaderSize), and
// a burst of 200 merged commits costs one call. A proxy in front of
// Gerrit may allow less (nginx and Apache: 8 KiB by default): an answer
// 413, 414 or 431 halves the batch, for this and later queries of the
// client (down to minCommitBatch). A batch is asked in one page (n is at
// least the batch).
const commitBatch = 200

// minCommitBatch is the smallest batch: about 600 bytes of terms.
const minCommitBatch = 10

// maxPages stops a query whose server keeps saying _more_changes.
const maxPages = 10000

// gateOptions are the query options behind every gate.Change the client
// returns: what the gate's rules read (labels with every vote, submit
// requirements, all patch sets with their commits, messages).
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
// of branch come first, then the others; each group by change number. A SHA that belongs to no change of the project (a
// direct push, or a merge commit Gerrit wrote) is absent from the map.
// Other projects are not asked: their names and changes are not for the
// readers of this one.
func (c *Client) ChangesForCommits(ctx context.Context, project, branch string, shas []string) (map[string][]gate.Change, error) {
	want := map[string]bool{}
	var uniq []string
	for _, s := range shas {
		s = strings.ToLower(s)
		if !gitid.IsObjectID(s) {
			return nil, fmt.Errorf("gerrit: changes for commits: %q is not a full commit SHA", bounded(s, 64))
		}
		if !want[s] {
			want[s] = true
			uniq = append(uniq, s)
		}
	}
	out := map[string][]gate.Change{}
	infos, err := c.queryCommits(ctx, uniq, " project:"+QuoteQuery(project), gateOptions...)
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
	if len(missing) > 0 {
		infos, err := c.queryCommits(ctx, missing, "", OptAllRevisions)
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
		for _, s := range missing {
			c.others.put(project, s, len(out[s]) > 0)
		}
	}
	for _, cs := range out {
		sort.Slice(cs, func(i, j int) bool {
			if (cs[i].Branch == branch) != (cs[j].Branch == branch) {
				return cs[i].Branch == branch
			}
			return cs[i].Number < cs[j].Number
		})
	}
	return out, nil
}

// queryCommits runs "(commit:A OR commit:B ...) rest" for shas in
// batches, each in one page, and returns every change found. A batch the
// server (or a proxy) refuses as too long is split, and the smaller size
// kept for the client's later queries.
func (c *Client) queryCommits(ctx context.Context, shas []string, rest string, options ...string) ([]ChangeInfo, error) {
	var all []ChangeInfo
	for len(shas) > 0 {
		size := int(c.batch.Load())
		batch := shas[:min(size, len(shas))]
		terms := make([]string, len(batch))
		for i, s := range batch {
			terms[i] = "commit:" + s
		}
		infos, err := c.queryChanges(ctx, "("+strings.Join(terms, " OR ")+")"+rest, max(c.pageSize, len(batch)), options...)
		if tooLong(err) && len(batch) > minCommitBatch {
			c.batch.CompareAndSwap(int64(size), int64(max(minCommitBatch, len(batch)/2)))
			continue
		}
		if err != nil {
			return nil, err
		}
		all = append(all, infos...)
		shas = shas[len(batch):]
	}
	return all, nil
}

// tooLong reports whether err is an answer that the request was too long:
// 413 (Jetty's answer to headers over its buffer), 414 or 431.
func tooLong(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.StatusCode {
	case http.StatusRequestEntityTooLarge, http.StatusRequestURITooLong, http.StatusRequestHeaderFieldsTooLarge:
		return true
	}
	return false
}

// OtherProjectChange stands for a change of another project that has sha
// as a patch set: it carries nothing about that change but the fact, so
// that no verdict names what a reader of this project may not read. It
// never approves a commit (the gate counts only changes of the project).
func OtherProjectChange(sha string) gate.Change {
	return gate.Change{Project: gate.OtherProject, Revisions: map[string]gate.Revision{sha: {SHA: sha}}}
}

// hasChange reports whether cs holds change number.
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
