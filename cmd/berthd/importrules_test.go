package main

// The house rules of DESIGN.md ("Import rules", "Layout") are checked here
// rather than by review. They live in cmd/berthd because cmd/ is the one
// place allowed to see every other part of the module; the checks parse
// source files (imports only), so they see every file of the module
// whatever its build tags.

import (
	"bufio"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// goFile is one source file of the module and what it imports from the
// module itself.
type goFile struct {
	rel     string   // slash path from the module root, e.g. "kernel/image/pull.go"
	dir     string   // slash dir from the module root, e.g. "kernel/image"
	test    bool     // a _test.go file
	imports []string // module-relative import paths, e.g. "sdk/runtime"; "" is the root package
}

// violation is one import that breaks a rule.
type violation struct {
	file, imp, rule string
}

func (v violation) String() string {
	return fmt.Sprintf("%s imports %s: %s", v.file, v.imp, v.rule)
}

// The rules as DESIGN.md states them, for non-test code.
const (
	ruleSDK       = "sdk/ imports nothing from the repo but sdk/"
	ruleBuiltin   = "builtin/<name>/ imports only sdk/ (and its own subpackages)"
	ruleKernel    = "kernel/ never imports builtin/ or cmd/"
	ruleWiring    = "only cmd/ wires everything: nothing outside cmd/ (and e2e/) imports builtin/"
	ruleCmd       = "nothing imports cmd/"
	ruleTestSDK   = "sdk/ and builtin/ tests never import kernel/ or cmd/"
	ruleTestSDKB  = "sdk/ tests never import builtin/"
	ruleTestKern  = "kernel/ tests import builtin/ only from *_integration_test.go files (tests against a real plugin)"
	ruleTestOther = "tests outside kernel/, cmd/, e2e/ and plugin-tests/ never import builtin/ (only its own tests do)"
)

// under reports whether the module-relative path p is dir or inside it.
func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// builtinName returns the plugin name of a path under builtin/ ("builtin/
// overlayfs/x" → "overlayfs"), or "" for builtin/ itself.
func builtinName(p string) string {
	rest, ok := strings.CutPrefix(p, "builtin/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// checkImports applies the import rules to files and returns every
// violation, sorted by file.
func checkImports(files []goFile) []violation {
	var out []violation
	for _, f := range files {
		for _, imp := range f.imports {
			if rule := ruleFor(f, imp); rule != "" {
				out = append(out, violation{file: f.rel, imp: imp, rule: rule})
			}
		}
	}
	slices.SortFunc(out, func(a, b violation) int {
		return strings.Compare(a.String(), b.String())
	})
	return out
}

// ruleFor returns the rule the import imp of file f breaks, or "".
func ruleFor(f goFile, imp string) string {
	dir := f.dir
	toBuiltin := under(imp, "builtin")
	// Its own subpackages are part of a builtin ("and its own libraries").
	ownBuiltin := toBuiltin && builtinName(dir) != "" && builtinName(dir) == builtinName(imp)

	if under(imp, "cmd") && !under(dir, "cmd") {
		switch {
		case f.test && (under(dir, "sdk") || under(dir, "builtin")):
			return ruleTestSDK
		case under(dir, "kernel"):
			return ruleKernel
		}
		return ruleCmd
	}
	if f.test {
		switch {
		case under(dir, "sdk") || under(dir, "builtin"):
			if under(imp, "kernel") {
				return ruleTestSDK
			}
			if under(dir, "sdk") && toBuiltin {
				return ruleTestSDKB
			}
			return ""
		case under(dir, "kernel"):
			if toBuiltin && !strings.HasSuffix(f.rel, "_integration_test.go") {
				return ruleTestKern
			}
			return ""
		case under(dir, "cmd"), under(dir, "e2e"), under(dir, "plugin-tests"):
			return ""
		default:
			if toBuiltin {
				return ruleTestOther
			}
			return ""
		}
	}
	switch {
	case under(dir, "sdk"):
		if !under(imp, "sdk") {
			return ruleSDK
		}
	case under(dir, "builtin"):
		if !under(imp, "sdk") && !ownBuiltin {
			return ruleBuiltin
		}
	case under(dir, "kernel"):
		if toBuiltin {
			return ruleKernel
		}
	case under(dir, "cmd"), under(dir, "e2e"):
		// cmd/ wires everything; e2e/ drives a real berthd.
	default:
		if toBuiltin {
			return ruleWiring
		}
	}
	return ""
}

// moduleRoot returns the module's root dir (two levels above this
// package) and its module path, read from go.mod.
func moduleRoot(t *testing.T) (string, string) {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatalf("module root: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			mod := strings.TrimSpace(rest)
			if unq, err := strconv.Unquote(mod); err == nil {
				mod = unq
			}
			return root, mod
		}
	}
	t.Fatalf("no module line in %s", f.Name())
	return "", ""
}

// parseModule parses the imports of every .go file of the module at root,
// skipping what the go command skips (testdata, vendor, dirs starting with
// "." or "_", nested modules).
func parseModule(root, module string) ([]goFile, error) {
	var files []goFile
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p == root {
				return nil
			}
			if name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		src, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return fmt.Errorf("parse %s: %w", rel, err)
		}
		f := goFile{rel: rel, dir: path.Dir(rel), test: strings.HasSuffix(name, "_test.go")}
		for _, spec := range src.Imports {
			imp, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return fmt.Errorf("%s: import %s: %w", rel, spec.Path.Value, err)
			}
			if imp == module {
				f.imports = append(f.imports, "")
			} else if rest, ok := strings.CutPrefix(imp, module+"/"); ok {
				f.imports = append(f.imports, rest)
			}
		}
		files = append(files, f)
		return nil
	})
	return files, err
}

// TestImportRules checks DESIGN.md's import rules over every Go file of
// the module.
func TestImportRules(t *testing.T) {
	root, module := moduleRoot(t)
	files, err := parseModule(root, module)
	if err != nil {
		t.Fatal(err)
	}
	// Guard against a walk that silently saw nothing (wrong root, say).
	seen := map[string]bool{}
	for _, f := range files {
		top, _, _ := strings.Cut(f.dir, "/")
		seen[top] = true
	}
	for _, top := range []string{"sdk", "builtin", "kernel", "cmd", "plugins"} {
		if !seen[top] {
			t.Errorf("no Go file found under %s/ in %s: the walk is wrong", top, root)
		}
	}
	if vs := checkImports(files); len(vs) > 0 {
		var b strings.Builder
		for _, v := range vs {
			fmt.Fprintf(&b, "\n\t%s", v)
		}
		t.Errorf("%d import rule violation(s) (DESIGN.md, \"Import rules\"):%s", len(vs), b.String())
	}
}

// TestImportRulesCatchViolations checks the checker itself on a small
// module made up for it: every kind of violation is reported, and the
// allowed imports are not.
func TestImportRulesCatchViolations(t *testing.T) {
	const module = "example.com/m"
	root := t.TempDir()
	write := func(rel, pkg string, imports ...string) {
		t.Helper()
		var b strings.Builder
		fmt.Fprintf(&b, "package %s\n\nimport (\n", pkg)
		for _, imp := range imports {
			fmt.Fprintf(&b, "\t_ %q\n", imp)
		}
		b.WriteString(")\n")
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := func(p string) string { return module + "/" + p }
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module "+module+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Allowed.
	write("sdk/runtime/runtime.go", "runtime", "context", m("sdk/base"))
	write("builtin/a/a.go", "a", m("sdk/runtime"), m("builtin/a/internal/x"), "github.com/other/lib")
	write("builtin/a/a_test.go", "a", m("sdk/runtime"), m("plugin-tests/runtime"))
	write("kernel/k.go", "kernel", m("sdk/runtime"), m("plugins"), m("kernel/store"))
	write("kernel/image/real_integration_test.go", "image", m("builtin/a"))
	write("plugins/p.go", "plugins", m("sdk/base"))
	write("plugin-tests/runtime/builtin_test.go", "runtime", m("builtin/a"))
	write("cmd/berthd/main.go", "main", m("builtin/a"), m("kernel"), m("plugins"))
	write("e2e/e2e_test.go", "e2e", m("kernel"), m("builtin/a"))
	write("e2e/harness.go", "e2e", m("builtin/a"))
	write("cmd/berth/x_test.go", "main", m("cmd/internal/y"))
	write("testdata/ignored.go", "ignored", m("cmd/berthd"))
	if err := os.MkdirAll(filepath.Join(root, "other"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "other", "go.mod"), []byte("module other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	write("other/o.go", "o", m("builtin/a")) // a nested module is not ours
	// Broken.
	write("sdk/bad.go", "sdk", m("kernel"))
	write("sdk/root.go", "sdk", module)
	write("builtin/a/b.go", "a", m("builtin/b"))
	write("builtin/a/c.go", "a", m("plugins"))
	write("kernel/d.go", "kernel", m("builtin/a"))
	write("kernel/e.go", "kernel", m("cmd/berth"))
	write("kernel/image/f_test.go", "image", m("builtin/a"))
	write("plugins/g.go", "plugins", m("builtin/a"))
	write("plugin-tests/runtime/h.go", "runtime", m("builtin/a"))
	write("builtin/a/i_test.go", "a", m("kernel/store"))
	write("sdk/j_test.go", "sdk", m("builtin/a"))
	write("sdk/k_test.go", "sdk", m("cmd/berthd"))
	write("plugins/l_test.go", "plugins", m("builtin/a"))
	write("e2e/m.go", "e2e", m("cmd/berth"))

	files, err := parseModule(root, module)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"builtin/a/b.go imports builtin/b: " + ruleBuiltin,
		"builtin/a/c.go imports plugins: " + ruleBuiltin,
		"builtin/a/i_test.go imports kernel/store: " + ruleTestSDK,
		"e2e/m.go imports cmd/berth: " + ruleCmd,
		"kernel/d.go imports builtin/a: " + ruleKernel,
		"kernel/e.go imports cmd/berth: " + ruleKernel,
		"kernel/image/f_test.go imports builtin/a: " + ruleTestKern,
		"plugin-tests/runtime/h.go imports builtin/a: " + ruleWiring,
		"plugins/g.go imports builtin/a: " + ruleWiring,
		"plugins/l_test.go imports builtin/a: " + ruleTestOther,
		"sdk/bad.go imports kernel: " + ruleSDK,
		"sdk/j_test.go imports builtin/a: " + ruleTestSDKB,
		"sdk/k_test.go imports cmd/berthd: " + ruleTestSDK,
		"sdk/root.go imports : " + ruleSDK,
	}
	var got []string
	for _, v := range checkImports(files) {
		got = append(got, v.String())
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("violations:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// readmeSections are the sections every builtin's README has, in order
// (STYLE.md: a plugin's README has the same sections as every other's).
var readmeSections = []string{"Overview", "Configuration", "Behaviour", "Testing"}

// TestBuiltinREADMEs checks that every builtin/<name>/ has a README.md
// whose "## " sections are exactly readmeSections, in order.
func TestBuiltinREADMEs(t *testing.T) {
	root, _ := moduleRoot(t)
	entries, err := os.ReadDir(filepath.Join(root, "builtin"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") || strings.HasPrefix(e.Name(), "_") || e.Name() == "testdata" {
			continue
		}
		checked++
		name := e.Name()
		readme := filepath.Join(root, "builtin", name, "README.md")
		got, err := readmeHeadings(readme)
		if err != nil {
			t.Errorf("builtin/%s: %v", name, err)
			continue
		}
		if !slices.Equal(got, readmeSections) {
			t.Errorf("builtin/%s/README.md has sections %q, want %q", name, got, readmeSections)
		}
	}
	if checked == 0 {
		t.Errorf("no builtin plugin found under %s", filepath.Join(root, "builtin"))
	}
}

// readmeHeadings returns the level-2 headings of a Markdown file, skipping
// fenced code blocks.
func readmeHeadings(file string) ([]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var out []string
	fenced := false
	for line := range strings.Lines(string(data)) {
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if heading, ok := strings.CutPrefix(line, "## "); ok && !fenced {
			out = append(out, strings.TrimSpace(heading))
		}
	}
	return out, nil
}

// TestReadmeHeadings checks the heading reader that TestBuiltinREADMEs
// relies on: level-2 headings only, none from inside code fences.
func TestReadmeHeadings(t *testing.T) {
	file := filepath.Join(t.TempDir(), "README.md")
	text := "# x\n\n## Overview\ntext\n### Detail\n```sh\n## not a heading\n```\n## Behaviour \r\n##NoSpace\n## Testing\n"
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readmeHeadings(file)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Overview", "Behaviour", "Testing"}
	if !slices.Equal(got, want) {
		t.Errorf("readmeHeadings = %q, want %q", got, want)
	}
	if slices.Equal(got, readmeSections) {
		t.Error("a README without Configuration passes the section check")
	}
}
