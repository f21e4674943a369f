package gerrittest

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/gerritgate/gerritgate/gate"
)

// group is an internal Gerrit group.
type group struct {
	uuid         string
	id           int // legacy numeric id
	name         string
	description  string
	owner        string // owner group UUID; a new group owns itself
	visibleToAll bool
	members      []int    // account ids
	subgroups    []string // UUIDs of included groups
	created      time.Time
}

// GroupOption configures a group at creation.
type GroupOption func(*group)

// VisibleToAll makes the group visible to every user.
func VisibleToAll() GroupOption { return func(g *group) { g.visibleToAll = true } }

// Members adds accounts to the group.
func Members(accounts ...gate.Account) GroupOption {
	return func(g *group) {
		for _, a := range accounts {
			g.members = append(g.members, a.ID)
		}
	}
}

// Subgroups includes other groups (by UUID) in the group.
func Subgroups(uuids ...string) GroupOption {
	return func(g *group) { g.subgroups = append(g.subgroups, uuids...) }
}

// OwnedBy makes another group (by UUID) the owner.
func OwnedBy(uuid string) GroupOption { return func(g *group) { g.owner = uuid } }

// AddGroup creates an internal group and returns its UUID (40 hex digits,
// as Gerrit's internal group UUIDs are). Names are unique.
func (s *Server) AddGroup(name string, opts ...GroupOption) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.groups {
		if g.name == name {
			return "", errorf(409, "group '%s' already exists", name)
		}
	}
	s.serial++
	sum := sha1.Sum([]byte(fmt.Sprintf("group\x00%s\x00%d", name, s.serial)))
	g := &group{uuid: hex.EncodeToString(sum[:]), id: len(s.groups) + 1, name: name, created: s.tick()}
	g.owner = g.uuid
	for _, o := range opts {
		o(g)
	}
	for _, m := range g.members {
		if s.accountByID(m) == nil {
			return "", errorf(422, "account %d not found", m)
		}
	}
	for _, u := range g.subgroups {
		if s.groupByUUID(u) == nil {
			return "", errorf(422, "group %s not found", u)
		}
	}
	s.groups = append(s.groups, g)
	return g.uuid, nil
}

// AddGroupMembers adds accounts to a group.
func (s *Server) AddGroupMembers(uuid string, accounts ...gate.Account) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groupByUUID(uuid)
	if g == nil {
		return errorf(404, "Not found: %s", uuid)
	}
	Members(accounts...)(g)
	return nil
}

// RemoveGroupMember removes an account from a group's direct members.
func (s *Server) RemoveGroupMember(uuid string, a gate.Account) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groupByUUID(uuid)
	if g == nil {
		return errorf(404, "Not found: %s", uuid)
	}
	out := g.members[:0]
	for _, m := range g.members {
		if m != a.ID {
			out = append(out, m)
		}
	}
	g.members = out
	return nil
}

// RenameGroup changes a group's name; its UUID stays.
func (s *Server) RenameGroup(uuid, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groupByUUID(uuid)
	if g == nil {
		return errorf(404, "Not found: %s", uuid)
	}
	g.name = name
	return nil
}

func (s *Server) groupByUUID(uuid string) *group {
	for _, g := range s.groups {
		if g.uuid == uuid {
			return g
		}
	}
	return nil
}

// findGroup resolves a group id as Gerrit's REST API does: UUID, legacy
// numeric id, or name.
func (s *Server) findGroup(id string) *group {
	if g := s.groupByUUID(id); g != nil {
		return g
	}
	if n, err := strconv.Atoi(id); err == nil {
		for _, g := range s.groups {
			if g.id == n {
				return g
			}
		}
	}
	for _, g := range s.groups {
		if g.name == id {
			return g
		}
	}
	return nil
}

// members returns the account ids of a group, with recursive those of
// included groups too (cycles are allowed in Gerrit and tolerated here).
// With a caller, like Gerrit's REST API, included groups the caller cannot
// see are left out, silently; nil is the server's own view.
func (s *Server) members(g *group, recursive bool, seen map[string]bool, caller *account) map[int]bool {
	out := map[int]bool{}
	if seen[g.uuid] {
		return out
	}
	seen[g.uuid] = true
	for _, m := range g.members {
		out[m] = true
	}
	if recursive {
		for _, u := range g.subgroups {
			if sg := s.groupByUUID(u); sg != nil && (caller == nil || s.visible(sg, caller)) {
				for m := range s.members(sg, true, seen, caller) {
					out[m] = true
				}
			}
		}
	}
	return out
}

func (s *Server) isMember(g *group, accountID int) bool {
	return s.members(g, true, map[string]bool{}, nil)[accountID]
}

// owns reports whether caller is in g's owner group.
func (s *Server) owns(g *group, caller *account) bool {
	og := s.groupByUUID(g.owner)
	return caller != nil && og != nil && s.isMember(og, caller.ID)
}

// subgroupsJSON answers GET /groups/{id}/groups/: the included groups the
// caller can see, or all of them when the caller owns the group (as Gerrit
// 3.13 does).
func (s *Server) subgroupsJSON(g *group, caller *account) []any {
	list := []any{}
	for _, u := range g.subgroups {
		if sg := s.groupByUUID(u); sg != nil && (s.owns(g, caller) || s.visible(sg, caller)) {
			list = append(list, s.groupJSON(sg))
		}
	}
	return list
}

// visible reports whether caller (nil for anonymous) may see g: visible to
// all, or the caller is a member or in the owner group.
func (s *Server) visible(g *group, caller *account) bool {
	if g.visibleToAll {
		return true
	}
	if caller == nil {
		return false
	}
	if s.isMember(g, caller.ID) {
		return true
	}
	return s.owns(g, caller)
}

func (s *Server) groupJSON(g *group) map[string]any {
	opts := map[string]any{}
	if g.visibleToAll {
		opts["visible_to_all"] = true
	}
	out := map[string]any{
		"id":         url.QueryEscape(g.uuid),
		"name":       g.name,
		"url":        "#/admin/groups/uuid-" + url.QueryEscape(g.uuid),
		"options":    opts,
		"group_id":   g.id,
		"owner_id":   g.owner,
		"created_on": formatTS(g.created),
	}
	if g.description != "" {
		out["description"] = g.description
	}
	if og := s.groupByUUID(g.owner); og != nil {
		out["owner"] = og.name
	}
	return out
}

// groupMembersJSON answers GET /groups/{id}/members/.
func (s *Server) groupMembersJSON(id string, recursive bool, caller *account) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.findGroup(id)
	if g == nil || !s.visible(g, caller) {
		return nil, errorf(404, "%s", id)
	}
	ids := s.members(g, recursive, map[string]bool{}, caller)
	var accts []*account
	for id := range ids {
		if a := s.accountByID(id); a != nil {
			accts = append(accts, a)
		}
	}
	// Gerrit sorts members by full name, then email, then id.
	sort.Slice(accts, func(i, j int) bool {
		a, b := accts[i], accts[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Email != b.Email {
			return a.Email < b.Email
		}
		return a.ID < b.ID
	})
	out := make([]any, len(accts))
	for i, a := range accts {
		out[i] = accountJSON(a, true)
	}
	return out, nil
}

// accountGroupsJSON answers GET /accounts/{id}/groups/: the internal groups
// the account is a member of (directly or through included groups) that
// the caller can see.
func (s *Server) accountGroupsJSON(id string, caller *account) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.findAccount(id, caller)
	if a == nil {
		return nil, errorf(404, "Account '%s' not found", id)
	}
	out := []any{}
	for _, g := range s.groups {
		if s.isMember(g, a.ID) && s.visible(g, caller) {
			out = append(out, s.groupJSON(g))
		}
	}
	return out, nil
}

// findAccount resolves an account id as Gerrit does: "self", a numeric id,
// a username or an email.
func (s *Server) findAccount(id string, caller *account) *account {
	if id == "self" {
		return caller
	}
	if n, err := strconv.Atoi(id); err == nil {
		return s.accountByID(n)
	}
	if a := s.byName[id]; a != nil {
		return a
	}
	for _, a := range s.accounts {
		if a.Email == id {
			return a
		}
	}
	return nil
}

// accountJSON is an AccountInfo: only _account_id unless detailed.
func accountJSON(a *account, detailed bool) map[string]any {
	if a == nil {
		return nil
	}
	out := map[string]any{"_account_id": a.ID}
	if detailed {
		out["name"] = a.Name
		out["email"] = a.Email
		out["username"] = a.Username
	}
	return out
}
