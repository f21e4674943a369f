package refadv

import (
	"strings"
)

// tooManyPrefixes is ls-refs.c's TOO_MANY_PREFIXES. From this many
// ref-prefix arguments on, git versions differ (some ignore them all and
// list every ref, 2.39 does not), so such a request is left to git.
const tooManyPrefixes = 65

// lsRefsArgs is a v2 ls-refs request.
type lsRefsArgs struct {
	peel, symrefs, unborn bool
	prefixes              []string
}

// parseLsRefsRequest reads a stateless v2 request body and reports
// whether it is an ls-refs request this package answers exactly as
// git 2.39's serve.c and ls-refs.c would: "command=ls-refs", then only
// the capabilities agent=<anything> and object-format=sha1 (and only
// when sha1 is the repository's format), then, after a delimiter, only the
// arguments peel, symrefs, unborn and ref-prefix (fewer than 65); a flush and nothing
// after it. Whatever else (an error git would die with, included) is
// left to git.
func parseLsRefsRequest(body []byte, sha1 bool) (lsRefsArgs, bool) {
	var a lsRefsArgs
	if !sha1 {
		// serve.c takes a client that names no object format for a
		// sha1 one; with another repository format it refuses.
		return a, false
	}
	pkts, err := splitPkts(body)
	if err != nil || len(pkts) < 2 || pkts[len(pkts)-1].special != flushPkt {
		return a, false
	}
	pkts = pkts[:len(pkts)-1]
	// Lines are read with the newline chomped, as git's packet reader
	// does for serve (PACKET_READ_CHOMP_NEWLINE).
	line := func(p pkt) (string, bool) {
		if p.special != 0 {
			return "", false
		}
		return strings.TrimSuffix(string(p.data), "\n"), true
	}
	if l, ok := line(pkts[0]); !ok || l != "command=ls-refs" {
		return a, false
	}
	i := 1
	for ; i < len(pkts) && pkts[i].special == 0; i++ {
		l, _ := line(pkts[i])
		switch {
		case strings.HasPrefix(l, "agent="):
		case l == "object-format=sha1":
		default:
			return a, false
		}
	}
	if i == len(pkts) {
		return a, true // flush right after the capabilities: no arguments
	}
	if pkts[i].special != delimPkt {
		return a, false
	}
	for _, p := range pkts[i+1:] {
		l, ok := line(p)
		if !ok {
			return a, false
		}
		switch {
		case l == "peel":
			a.peel = true
		case l == "symrefs":
			a.symrefs = true
		case l == "unborn":
			a.unborn = true
		case strings.HasPrefix(l, "ref-prefix "):
			if a.prefixes = append(a.prefixes, l[len("ref-prefix "):]); len(a.prefixes) >= tooManyPrefixes {
				return a, false
			}
		default:
			return a, false
		}
	}
	return a, true
}

func (a lsRefsArgs) match(name string) bool {
	if len(a.prefixes) == 0 {
		return true
	}
	for _, p := range a.prefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// lsRefs renders the answer to a: git lists HEAD, then every ref in
// order; each line it would send is one of the snapshot's (taken with
// every argument on) with only the attributes a asked for.
func (s *Snapshot) lsRefs(a lsRefsArgs) []byte {
	var b []byte
	var line strings.Builder
	for _, r := range s.refs {
		if r.oid == "" && !(a.unborn && a.symrefs) || !a.match(r.name) {
			continue
		}
		line.Reset()
		if r.oid == "" {
			line.WriteString("unborn")
		} else {
			line.WriteString(r.oid)
		}
		line.WriteString(" " + r.name)
		if a.symrefs && r.target != "" {
			line.WriteString(" symref-target:" + r.target)
		}
		if a.peel && r.peeled != "" {
			line.WriteString(" peeled:" + r.peeled)
		}
		line.WriteByte('\n')
		b = appendPkt(b, line.String())
	}
	return append(b, "0000"...)
}
