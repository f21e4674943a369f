package gerrit

import (
	"context"
	"net/http"
	"net/url"

	"github.com/gerritgate/gerritgate/gate"
)

// PostReview posts a review (a message, optionally votes) on a revision
// ("current" or a SHA) of a change. On a merged change Gerrit accepts
// messages, and votes only when they do not lower an earlier vote.
func (c *Client) PostReview(ctx context.Context, project string, number int, revision string, in ReviewInput) error {
	if revision == "" {
		revision = "current"
	}
	p := "/changes/" + changePath(project, number) + "/revisions/" + url.PathEscape(revision) + "/review"
	var out struct{}
	return c.call(ctx, request{op: "post review", method: http.MethodPost, path: p, body: in}, &out)
}

// PostMessage posts message on a revision ("current" or a SHA) of a
// change with tag, notifying nobody (a review without votes).
func (c *Client) PostMessage(ctx context.Context, project string, number int, revision, message, tag string) error {
	return c.PostReview(ctx, project, number, revision, ReviewInput{Message: message, Tag: tag, Notify: "NONE"})
}

// Messages returns the messages of one change, oldest first.
func (c *Client) Messages(ctx context.Context, project string, number int) ([]gate.Message, error) {
	ci, err := c.Change(ctx, project, number, OptMessages, OptDetailedAccounts)
	if err != nil {
		return nil, err
	}
	out := make([]gate.Message, 0, len(ci.Messages))
	for _, m := range ci.Messages {
		out = append(out, message(m))
	}
	return out, nil
}

func message(m ChangeMessageInfo) gate.Message {
	gm := gate.Message{ID: m.ID, Date: m.Date.Time, Message: m.Message, RevisionNumber: m.RevisionNumber, Tag: m.Tag}
	if m.Author != nil {
		gm.Author = account(*m.Author)
	}
	if m.RealAuthor != nil {
		gm.RealAuthor = account(*m.RealAuthor)
	}
	return gm
}
