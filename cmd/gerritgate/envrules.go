package main

import (
	"strings"

	"github.com/gerritgate/gerritgate/gate"
)

// promotionOrder shows the after edges of one repo entry, as
// "staging -> prod"; "" when there are none.
func promotionOrder(r gate.Repo) string {
	var edges []string
	for _, e := range r.Environments {
		if e.After == "" {
			continue
		}
		edges = append(edges, e.After+" -> "+e.Name)
	}
	return strings.Join(edges, ", ")
}
