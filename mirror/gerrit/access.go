package gerrit

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// accessCheckInfo is Gerrit's AccessCheckInfo: status 200 means the
// account has the permission, 403 that it has not, 404 that the project
// does not exist.
type accessCheckInfo struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
}

// CanRead reports whether Gerrit grants account (an id, username or
// email) READ on ref of project, asking GET
// /projects/{project}/check.access?account=..&ref=..&perm=read. The caller
// needs Gerrit's View Access global capability (else ErrUnauthorized).
//
// Only an answer of status 200 is true and only 403 is false: a missing
// project (404), an unknown account (Gerrit answers 422) or any other
// status is an error, so that a caller never reads "not asked" as "no" or
// "yes".
func (c *Client) CanRead(ctx context.Context, project, account, ref string) (bool, error) {
	q := url.Values{"account": {account}, "ref": {ref}, "perm": {"read"}}
	var info accessCheckInfo
	r := request{op: "check access", method: http.MethodGet, path: "/projects/" + url.PathEscape(project) + "/check.access", query: q.Encode()}
	if err := c.call(ctx, r, &info); err != nil {
		return false, err
	}
	switch info.Status {
	case http.StatusOK:
		return true, nil
	case http.StatusForbidden:
		return false, nil
	}
	return false, fmt.Errorf("gerrit: check access of %q to %s in %q: answer status %d: %q",
		bounded(account, 64), bounded(ref, 128), bounded(project, 128), info.Status, bounded(info.Message, maxErrorBody))
}
