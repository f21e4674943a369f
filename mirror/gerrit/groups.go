package gerrit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/gerritgate/gerritgate/gate"
)

// GroupMembers lists the accounts of an internal group (by UUID), with
// recursive also the members of the groups it includes. A group the caller
// cannot see is ErrNotFound.
func (c *Client) GroupMembers(ctx context.Context, groupID string, recursive bool) ([]gate.Account, error) {
	if groupID == "" {
		return nil, errors.New("gerrit: group members: empty group id")
	}
	q := ""
	if recursive {
		q = "recursive"
	}
	var infos []AccountInfo
	err := c.call(ctx, request{op: "list group members", method: http.MethodGet, path: "/groups/" + url.PathEscape(groupID) + "/members/", query: q}, &infos)
	if err != nil {
		return nil, err
	}
	out := make([]gate.Account, len(infos))
	for i, a := range infos {
		if a.ID <= 0 {
			return nil, fmt.Errorf("gerrit: list group members %q: member without _account_id", bounded(groupID, 64))
		}
		out[i] = account(a)
	}
	return out, nil
}

// AccountGroups lists the groups visible to the caller that account (an id,
// username or "self") is a member of.
func (c *Client) AccountGroups(ctx context.Context, account string) ([]GroupInfo, error) {
	var infos []GroupInfo
	err := c.call(ctx, request{op: "list account groups", method: http.MethodGet, path: "/accounts/" + url.PathEscape(account) + "/groups/"}, &infos)
	return infos, err
}

// Self returns the account the client is authenticated as.
func (c *Client) Self(ctx context.Context) (gate.Account, error) {
	var a AccountInfo
	if err := c.call(ctx, request{op: "get self", method: http.MethodGet, path: "/accounts/self"}, &a); err != nil {
		return gate.Account{}, err
	}
	return account(a), nil
}
