package gerrittest

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// node is a parsed query or submit requirement expression.
type node struct {
	op    string // "and", "or", "not", "atom"
	kids  []*node
	field string // atom
	value string // atom, unquoted
	text  string // atom as written, for passing_atoms/failing_atoms
}

// parseQuery parses Gerrit's query syntax: field:value atoms (values bare,
// "quoted" with backslash escapes, or {braced}), AND (or juxtaposition),
// OR, NOT, a leading "-", and parentheses.
func parseQuery(q string) (*node, error) {
	p := &qparser{src: q}
	p.next()
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, fmt.Errorf("unexpected %q at position %d", p.tok.text, p.tok.pos)
	}
	return n, nil
}

type tokKind int

const (
	tEOF tokKind = iota
	tLParen
	tRParen
	tAnd
	tOr
	tNot
	tAtom
)

type token struct {
	kind         tokKind
	text         string
	field, value string
	pos          int
}

type qparser struct {
	src string
	pos int
	tok token
	err error
}

func (p *qparser) next() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\n') {
		p.pos++
	}
	start := p.pos
	if p.pos >= len(p.src) {
		p.tok = token{kind: tEOF, pos: start}
		return
	}
	switch c := p.src[p.pos]; c {
	case '(':
		p.pos++
		p.tok = token{kind: tLParen, text: "(", pos: start}
		return
	case ')':
		p.pos++
		p.tok = token{kind: tRParen, text: ")", pos: start}
		return
	case '-':
		p.pos++
		p.tok = token{kind: tNot, text: "-", pos: start}
		return
	}
	// A word: operator keyword or field:value.
	end := p.pos
	for end < len(p.src) && !strings.ContainsRune(" \t\n():\"{", rune(p.src[end])) {
		end++
	}
	word := p.src[p.pos:end]
	if end >= len(p.src) || p.src[end] != ':' {
		p.pos = end
		switch word {
		case "AND":
			p.tok = token{kind: tAnd, text: word, pos: start}
		case "OR":
			p.tok = token{kind: tOr, text: word, pos: start}
		case "NOT":
			p.tok = token{kind: tNot, text: word, pos: start}
		default:
			if word == "" {
				word = p.src[p.pos : p.pos+1]
				p.pos++
			}
			p.tok = token{kind: tAtom, text: word, value: word, pos: start}
		}
		return
	}
	field := word
	p.pos = end + 1
	var val strings.Builder
	switch {
	case p.pos < len(p.src) && p.src[p.pos] == '"':
		p.pos++
		closed := false
		for p.pos < len(p.src) {
			c := p.src[p.pos]
			p.pos++
			if c == '\\' && p.pos < len(p.src) {
				val.WriteByte(p.src[p.pos])
				p.pos++
				continue
			}
			if c == '"' {
				closed = true
				break
			}
			val.WriteByte(c)
		}
		if !closed {
			p.err = fmt.Errorf("unterminated quoted value at position %d", start)
		}
	case p.pos < len(p.src) && p.src[p.pos] == '{':
		i := strings.IndexByte(p.src[p.pos:], '}')
		if i < 0 {
			p.err = fmt.Errorf("unterminated {value} at position %d", start)
			p.pos = len(p.src)
			break
		}
		val.WriteString(p.src[p.pos+1 : p.pos+i])
		p.pos += i + 1
	default:
		for p.pos < len(p.src) && !strings.ContainsRune(" \t\n)", rune(p.src[p.pos])) {
			val.WriteByte(p.src[p.pos])
			p.pos++
		}
	}
	p.tok = token{kind: tAtom, text: p.src[start:p.pos], field: field, value: val.String(), pos: start}
}

func (p *qparser) or() (*node, error) {
	n, err := p.and()
	if err != nil {
		return nil, err
	}
	kids := []*node{n}
	for p.tok.kind == tOr {
		p.next()
		m, err := p.and()
		if err != nil {
			return nil, err
		}
		kids = append(kids, m)
	}
	if len(kids) == 1 {
		return n, nil
	}
	return &node{op: "or", kids: kids}, nil
}

func (p *qparser) and() (*node, error) {
	n, err := p.unary()
	if err != nil {
		return nil, err
	}
	kids := []*node{n}
	for {
		switch p.tok.kind {
		case tAnd:
			p.next()
		case tNot, tLParen, tAtom:
		default:
			if len(kids) == 1 {
				return n, nil
			}
			return &node{op: "and", kids: kids}, nil
		}
		m, err := p.unary()
		if err != nil {
			return nil, err
		}
		kids = append(kids, m)
	}
}

func (p *qparser) unary() (*node, error) {
	if p.err != nil {
		return nil, p.err
	}
	switch t := p.tok; t.kind {
	case tNot:
		p.next()
		n, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &node{op: "not", kids: []*node{n}}, nil
	case tLParen:
		p.next()
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRParen {
			return nil, fmt.Errorf("missing ) at position %d", p.tok.pos)
		}
		p.next()
		return n, nil
	case tAtom:
		p.next()
		if p.err != nil {
			return nil, p.err
		}
		if t.field == "" {
			return nil, fmt.Errorf("unsupported query term %q: use field:value", t.text)
		}
		return &node{op: "atom", field: strings.ToLower(t.field), value: t.value, text: t.text}, nil
	case tEOF:
		return nil, fmt.Errorf("query ends early")
	default:
		return nil, fmt.Errorf("unexpected %q at position %d", t.text, t.pos)
	}
}

// eval evaluates every atom (no short cuts, so submit requirements can list
// all passing and failing atoms, as Gerrit does).
func (n *node) eval(atom func(*node) (bool, error)) (bool, error) {
	switch n.op {
	case "atom":
		return atom(n)
	case "not":
		v, err := n.kids[0].eval(atom)
		return !v, err
	case "and", "or":
		result := n.op == "and"
		for _, k := range n.kids {
			v, err := k.eval(atom)
			if err != nil {
				return false, err
			}
			if n.op == "and" {
				result = result && v
			} else {
				result = result || v
			}
		}
		return result, nil
	}
	return false, fmt.Errorf("bad node %q", n.op)
}

// walk visits every atom.
func (n *node) walk(f func(*node)) {
	if n.op == "atom" {
		f(n)
	}
	for _, k := range n.kids {
		k.walk(f)
	}
}

// parseQueryTime parses the time operand of after:, mergedafter:, ...
func parseQueryTime(s string) (time.Time, error) {
	for _, layout := range []string{
		"2006-01-02 15:04:05.999999999 -0700",
		"2006-01-02 15:04:05 -0700",
		"2006-01-02 15:04:05.999999999",
		"2006-01-02 15:04:05",
		"2006-01-02 15:04 -0700",
		"2006-01-02 15:04",
		"2006-01-02",
	} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("Invalid date format: %s", s)
}

// labelCheck parses the value of a label: atom: NAME=MAX, NAME=MIN,
// NAME=+1, NAME>=1, NAME<=-1, with an optional ",user=ID" ignored.
func labelCheck(value string) (name, op, operand string, err error) {
	value, _, _ = strings.Cut(value, ",")
	for _, o := range []string{">=", "<=", "=", ">", "<"} {
		if i := strings.Index(value, o); i > 0 {
			return value[:i], o, value[i+len(o):], nil
		}
	}
	return "", "", "", fmt.Errorf("invalid label expression %q", value)
}

// labelMatches reports whether any of votes satisfies op operand for l.
func labelMatches(l Label, votes []int, op, operand string) (bool, error) {
	var want int
	switch strings.ToUpper(operand) {
	case "MAX":
		want = l.max()
	case "MIN":
		want = l.min()
	default:
		v, err := strconv.Atoi(strings.TrimSpace(operand))
		if err != nil {
			return false, fmt.Errorf("invalid label value %q", operand)
		}
		want = v
	}
	if len(votes) == 0 {
		votes = []int{0}
	}
	for _, v := range votes {
		switch {
		case op == "=" && v == want, op == ">=" && v >= want, op == "<=" && v <= want,
			op == ">" && v > want, op == "<" && v < want:
			return true, nil
		}
	}
	return false, nil
}
