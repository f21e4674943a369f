package gerrit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/internal/gitid"
)

// GroupMembers lists the accounts of an internal group (by UUID), with
// recursive also the members of the groups it includes. A group the caller
// cannot see is ErrNotFound.
//
// Gerrit leaves out, without a sign, the members of included groups the
// caller cannot see. With recursive the included groups are therefore
// checked one by one: one the caller is shown but cannot read (Gerrit shows
// a group's included groups to the owners of the group) is a
// *HiddenGroupError. An included group the caller is not even shown cannot
// be detected: the gate account must see every group it resolves (README).
func (c *Client) GroupMembers(ctx context.Context, groupID string, recursive bool) ([]gate.Account, error) {
	if recursive {
		if err := c.checkSubgroups(ctx, groupID, groupID, map[string]bool{}); err != nil {
			return nil, err
		}
	}
	return c.groupMembers(ctx, groupID, recursive)
}

// HiddenGroupError is a group that includes a group the caller cannot see,
// so that its members would be left out.
type HiddenGroupError struct {
	Group    string // the group asked for
	Subgroup string // the included group the caller cannot see: name (UUID)
}

func (e *HiddenGroupError) Error() string {
	return fmt.Sprintf("group %s includes group %s, which the gate's Gerrit account cannot see, so its members would be left out: make that group visible to all, or add the gate account to its owner group", e.Group, e.Subgroup)
}

// checkSubgroups walks the groups id includes (those the caller is
// shown), and fails on the first the caller cannot read.
func (c *Client) checkSubgroups(ctx context.Context, top, id string, seen map[string]bool) error {
	if seen[id] {
		return nil
	}
	seen[id] = true
	var subs []GroupInfo
	if err := c.call(ctx, request{op: "list subgroups", method: http.MethodGet, path: "/groups/" + url.PathEscape(id) + "/groups/"}, &subs); err != nil {
		return err
	}
	for _, sg := range subs {
		uuid, err := url.QueryUnescape(sg.ID)
		if err != nil || uuid == "" {
			return fmt.Errorf("gerrit: list subgroups of %q: included group without a usable id", bounded(id, 64))
		}
		if !gitid.IsLowerHex(uuid) {
			continue // an external group (ldap:, ...): Gerrit lists no members for it anyway
		}
		var g GroupInfo
		err = c.call(ctx, request{op: "get group", method: http.MethodGet, path: "/groups/" + url.PathEscape(uuid)}, &g)
		if errors.Is(err, ErrNotFound) {
			return &HiddenGroupError{Group: top, Subgroup: fmt.Sprintf("%s (%s)", sg.Name, uuid)}
		}
		if err != nil {
			return err
		}
		if err := c.checkSubgroups(ctx, top, uuid, seen); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) groupMembers(ctx context.Context, groupID string, recursive bool) ([]gate.Account, error) {
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
