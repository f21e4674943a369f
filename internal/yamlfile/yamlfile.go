// Package yamlfile decodes the YAML files people edit (service config,
// policy, access list) strictly: unknown keys, duplicate keys and wrong types
// are errors, and every error names file:line:column.
package yamlfile

import (
	"errors"
	"fmt"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Error is a problem at a place in a file.
type Error struct {
	File   string
	Line   int // 1-based; 0 when unknown
	Column int
	Msg    string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// Decode decodes data into v, refusing unknown and duplicate keys. A panic
// inside the YAML library (go-yaml 1.19.2 panics on some tagged sequences;
// gate's fuzzer found one) becomes an error: a bad file is refused, it never
// crashes the service.
func Decode(file string, data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &Error{File: file, Msg: fmt.Sprintf("cannot parse the file (the YAML library failed: %v)", r)}
		}
	}()
	if strings.TrimSpace(string(data)) == "" {
		return &Error{File: file, Msg: "file is empty"}
	}
	err = yaml.UnmarshalWithOptions(data, v, yaml.Strict())
	if err == nil {
		return nil
	}
	var ye yaml.Error
	if errors.As(err, &ye) {
		e := &Error{File: file, Msg: ye.GetMessage()}
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			e.Line, e.Column = tk.Position.Line, tk.Position.Column
		}
		return e
	}
	return &Error{File: file, Msg: err.Error()}
}

// Doc is a parsed file, for errors found after decoding (an undefined name,
// a bad value) that should still point at the line that holds them.
type Doc struct {
	file string
	ast  *ast.File
}

// Parse parses data for At. A parse error yields a Doc that knows no
// positions; Decode reports the error itself.
func Parse(file string, data []byte) (d *Doc) {
	d = &Doc{file: file}
	defer func() {
		if recover() != nil {
			d.ast = nil
		}
	}()
	if f, err := parser.ParseBytes(data, 0); err == nil {
		d.ast = f
	}
	return d
}

// Errorf returns an error at the node that path names, a YAMLPath such as
// "$.repos[0].environments[1].policy"; without it, at the file.
func (d *Doc) Errorf(path string, format string, args ...any) (err error) {
	e := &Error{File: d.file, Msg: fmt.Sprintf(format, args...)}
	if d.ast == nil {
		return e
	}
	defer func() {
		if recover() != nil {
			err = e
		}
	}()
	p, err := yaml.PathString(path)
	if err != nil {
		return e
	}
	n, err := p.FilterFile(d.ast)
	if err != nil || n == nil {
		return e
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		e.Line, e.Column = tk.Position.Line, tk.Position.Column
	}
	return e
}
