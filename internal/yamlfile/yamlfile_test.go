package yamlfile

import (
	"errors"
	"strings"
	"testing"
)

type conf struct {
	Name  string `yaml:"name"`
	Count int    `yaml:"count"`
	Items []struct {
		Key string `yaml:"key"`
	} `yaml:"items"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		what     string
		in       string
		wantLine int
		wantCol  int
		wantMsg  string
	}{
		{"valid", "name: a\ncount: 2\n", 0, 0, ""},
		{"unknown key", "name: a\ncolor: red\n", 2, 1, "unknown field \"color\""},
		{"nested unknown key", "items:\n  - key: a\n    kye: b\n", 3, 5, "unknown field \"kye\""},
		{"wrong type", "name: a\ncount: many\n", 2, 8, "cannot unmarshal"},
		{"duplicate key", "name: a\nname: b\n", 2, 1, "already defined"},
		{"empty", "  \n", 0, 0, "empty"},
		{"syntax", "name: [a\n", 1, 7, ""},
	}
	for _, tt := range tests {
		var c conf
		err := Decode("f.yaml", []byte(tt.in), &c)
		if tt.what == "valid" {
			if err != nil {
				t.Errorf("%s: %v", tt.what, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: err = %v, want *Error", tt.what, err)
			continue
		}
		if e.Line != tt.wantLine || (tt.wantCol != 0 && e.Column != tt.wantCol) {
			t.Errorf("%s: at %d:%d, want %d:%d (%v)", tt.what, e.Line, e.Column, tt.wantLine, tt.wantCol, err)
		}
		if tt.wantMsg != "" && !strings.Contains(e.Error(), tt.wantMsg) {
			t.Errorf("%s: %q does not mention %q", tt.what, e.Error(), tt.wantMsg)
		}
	}
}

func TestDocErrorf(t *testing.T) {
	src := "items:\n  - key: a\n  - key: b\n"
	d := Parse("f.yaml", []byte(src))
	err := d.Errorf("$.items[1].key", "bad key %q", "b")
	var e *Error
	if !errors.As(err, &e) || e.Line != 3 {
		t.Fatalf("Errorf = %v, want line 3", err)
	}
	if got := err.Error(); got != "f.yaml:3:10: bad key \"b\"" {
		t.Errorf("Errorf = %q", got)
	}
}

// The YAML library panics on some inputs (found by gate's fuzzer); Decode,
// Parse and Errorf must turn that into an error, never crash.
func TestLibraryPanicIsAnError(t *testing.T) {
	data := []byte("repos:\n  !0000000000\n000000000:\n    000000: 00000000000\n0000000000: 000000")
	var v struct {
		Repos []struct {
			Project string `yaml:"project"`
		} `yaml:"repos"`
	}
	err := Decode("p.yaml", data, &v)
	var e *Error
	if !errors.As(err, &e) || e.File != "p.yaml" {
		t.Fatalf("Decode = %v, want a file error", err)
	}
	d := Parse("p.yaml", data)
	if err := d.Errorf("$.repos[0]", "x"); err == nil {
		t.Fatal("Errorf returned nil")
	}
}
