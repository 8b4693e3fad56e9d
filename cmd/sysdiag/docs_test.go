package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDocs runs the examples of README.md and docs/*.md, so that the documentation cannot drift from
// what sysdiag prints. docs/testing.md says how an example is written:
//
//   - A fenced block with the info string `console` is an example on bundled data (testdata/example,
//     testdata/fleet) or on none (syscall, groups, exit-codes). Its first line is `$ sysdiag ARGS…`
//     (continued over lines ending in ` \`; paths relative to the repository's top), the lines after it
//     are the expected stdout, and a last line `[exit N]` the expected exit status when it is not 0.
//     The command is run in-process from the repository's top with local time UTC; stdout must equal
//     the shown lines, except that trailing spaces are ignored and a line `…` stands for any number of
//     lines. stderr is not compared.
//   - A `$ sysdiag` line anywhere else (a ```text block of a live host's answer) must not be runnable on
//     bundled data: a lookup (syscall, groups, exit-codes), or why, postmortem or events on testdata/,
//     belongs in a console block, where it is checked.
//   - The commands of a ```sh ci block (what CI runs on a fresh machine, in order) that are sysdiag
//     commands are run in-process too and must exit 0.
//
// Built without cgo, a block whose output shows a libseccomp verification ("verified") is skipped: the
// same answer then says "not verified".
func TestDocs(t *testing.T) {
	files := []string{"../../README.md"}
	more, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, more...)
	var blocks []docBlock
	for _, f := range files {
		bs, errs := parseDoc(f)
		for _, e := range errs {
			t.Error(e)
		}
		blocks = append(blocks, bs...)
	}
	if len(more) == 0 {
		t.Error("no docs/*.md found")
	}
	console := 0
	for _, b := range blocks {
		if b.kind == "console" {
			console++
		}
	}
	if console == 0 {
		t.Fatal("no ```console example found in README.md or docs/: nothing would be checked")
	}

	// The examples' paths are the repository top's; their times are printed in UTC.
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir("../.."); err != nil {
		t.Fatal(err)
	}
	local := time.Local
	time.Local = time.UTC
	t.Cleanup(func() {
		time.Local = local
		if err := os.Chdir(wd); err != nil {
			panic(err) // every later test would run in the wrong directory
		}
	})

	for _, b := range blocks {
		t.Run(b.where, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(b.args, &stdout, &stderr)
			switch b.kind {
			case "sh ci":
				if code != 0 {
					t.Errorf("%s: `%s` exited %d, want 0 (CI runs it on a fresh machine)\nstderr:\n%s",
						b.where, strings.Join(b.args, " "), code, stderr.String())
				}
				return
			}
			if !cgoOn && strings.Contains(strings.Join(b.want, "\n"), "verified") {
				t.Skip("shows a libseccomp verification: this test binary was built without cgo")
			}
			got := docLines(stdout.String())
			if !matchDoc(b.want, got) || code != b.exit {
				t.Errorf("%s: the example drifted from what `sysdiag %s` prints.\n%s\nshown (exit %d):\n%s\nprinted (exit %d):\n%s\nstderr:\n%s",
					b.where, strings.Join(b.args, " "), firstDrift(b.want, got), b.exit, indent(b.want), code, indent(got), stderr.String())
			}
		})
	}
}

// docBlock is one example found in a document.
type docBlock struct {
	where string // "docs/check.md:42": the file, from the repository's top, and the line of the command
	kind  string // "console" or "sh ci"
	args  []string
	want  []string // console: the expected stdout, line by line, trailing spaces removed
	exit  int
}

var exitLine = regexp.MustCompile(`^\[exit ([0-9]+)\]$`)

// parseDoc finds the examples of one Markdown file, and the mistakes that would keep one from being
// checked.
func parseDoc(path string) ([]docBlock, []error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, []error{err}
	}
	name := strings.TrimPrefix(filepath.ToSlash(path), "../../")
	var (
		blocks []docBlock
		errs   []error
		lines  []string
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return nil, []error{fmt.Errorf("%s: %w", name, err)}
	}
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if !strings.HasPrefix(l, "```") {
			if err := notRunnable(name, i+1, l); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		info := strings.TrimSpace(strings.TrimPrefix(l, "```"))
		start := i + 1
		end := start
		for end < len(lines) && !strings.HasPrefix(lines[end], "```") {
			end++
		}
		if end == len(lines) {
			errs = append(errs, fmt.Errorf("%s:%d: a ``` block that never ends", name, i+1))
			break
		}
		body := lines[start:end]
		i = end
		switch info {
		case "console":
			b, err := consoleBlock(name, start+1, body)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			blocks = append(blocks, b)
		case "sh ci":
			for j, c := range body {
				if !strings.HasPrefix(c, "sysdiag ") {
					continue
				}
				args, err := shellWords(strings.TrimPrefix(c, "sysdiag "))
				if err != nil {
					errs = append(errs, fmt.Errorf("%s:%d: %w", name, start+1+j, err))
					continue
				}
				blocks = append(blocks, docBlock{where: fmt.Sprintf("%s:%d", name, start+1+j), kind: "sh ci", args: args})
			}
		default:
			for j, c := range body {
				if err := notRunnable(name, start+1+j, c); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return blocks, errs
}

// consoleBlock reads a console example: the command (with its continuation lines), the shown stdout
// and the exit status.
func consoleBlock(name string, line int, body []string) (docBlock, error) {
	if len(body) == 0 || !strings.HasPrefix(body[0], "$ sysdiag") {
		return docBlock{}, fmt.Errorf("%s:%d: a ```console block starts with `$ sysdiag ARGS…` (a live host's example goes in a ```text block)", name, line)
	}
	cmd := strings.TrimPrefix(body[0], "$ sysdiag")
	n := 1
	for strings.HasSuffix(cmd, `\`) && n < len(body) {
		cmd = strings.TrimSuffix(cmd, `\`) + " " + strings.TrimSpace(body[n])
		n++
	}
	args, err := shellWords(cmd)
	if err != nil {
		return docBlock{}, fmt.Errorf("%s:%d: %w", name, line, err)
	}
	b := docBlock{where: fmt.Sprintf("%s:%d", name, line), kind: "console", args: args}
	want := docLines(strings.Join(body[n:], "\n"))
	if k := len(want); k > 0 {
		if m := exitLine.FindStringSubmatch(want[k-1]); m != nil {
			b.exit, _ = strconv.Atoi(m[1])
			want = docLines(strings.Join(want[:k-1], "\n"))
		}
	}
	b.want = want
	return b, nil
}

// notRunnable refuses a `$ sysdiag` example outside a console block that would run on bundled data:
// it would never be checked.
func notRunnable(name string, line int, l string) error {
	s := strings.TrimSpace(l)
	if !strings.HasPrefix(s, "$ sysdiag ") {
		return nil
	}
	args, err := shellWords(strings.TrimSuffix(strings.TrimPrefix(s, "$ sysdiag "), `\`))
	if err != nil || len(args) == 0 {
		return nil // not a command this test could run anyway
	}
	var runnable bool
	switch args[0] {
	case "syscall", "groups", "exit-codes":
		runnable = true
	case "help":
		runnable = len(args) > 1 && args[1] == "exit-codes"
	case "why", "postmortem", "events":
		runnable = strings.Contains(s, "testdata/") // check --root testdata/… reads this machine's programs
	}
	if runnable {
		return fmt.Errorf("%s:%d: `%s` runs on bundled data: show it in a ```console block, where its output is checked", name, line, s)
	}
	return nil
}

// shellWords splits a command line as a shell would for the plain commands the documents show: words,
// '…' and "…" quoting, backslash escapes. Anything a plain command does not need (variables,
// redirections, pipes, several commands) is refused rather than guessed.
func shellWords(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		inW   bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inW {
				words = append(words, cur.String())
				cur.Reset()
				inW = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inW = true
		case c == '"':
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) && strings.IndexByte(`"\$`+"`", s[j+1]) >= 0 {
					j++
				} else if s[j] == '$' || s[j] == '`' {
					return nil, fmt.Errorf("%q: expansions are not run in examples", s)
				}
				cur.WriteByte(s[j])
			}
			if j == len(s) {
				return nil, fmt.Errorf("unterminated \" in %q", s)
			}
			i = j
			inW = true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inW = true
		case strings.IndexByte("$`|&;<>()*?[", c) >= 0 || strings.IndexByte("#~", c) >= 0 && !inW:
			return nil, fmt.Errorf("%q: only a plain command can be an example (found %q)", s, c)
		default:
			cur.WriteByte(c)
			inW = true
		}
	}
	if inW {
		words = append(words, cur.String())
	}
	return words, nil
}

// docLines splits output into lines without trailing spaces, dropping trailing empty lines.
func docLines(s string) []string {
	ls := strings.Split(s, "\n")
	for i := range ls {
		ls[i] = strings.TrimRight(ls[i], " \t")
	}
	for len(ls) > 0 && ls[len(ls)-1] == "" {
		ls = ls[:len(ls)-1]
	}
	return ls
}

// matchDoc says whether got is what want shows: line for line, a line "…" matching any number of lines.
func matchDoc(want, got []string) bool {
	memo := map[[2]int]bool{}
	var m func(i, j int) bool
	m = func(i, j int) bool {
		if i == len(want) {
			return j == len(got)
		}
		k := [2]int{i, j}
		if r, ok := memo[k]; ok {
			return r
		}
		var r bool
		if want[i] == "…" {
			r = m(i+1, j) || (j < len(got) && m(i, j+1))
		} else {
			r = j < len(got) && want[i] == got[j] && m(i+1, j+1)
		}
		memo[k] = r
		return r
	}
	return m(0, 0)
}

// firstDrift names the first shown line that the output does not have where it is shown (after a
// "…", anywhere later), for the failure message.
func firstDrift(want, got []string) string {
	j, skip := 0, false
	for i, w := range want {
		if w == "…" {
			skip = true
			continue
		}
		found := -1
		for k := j; k < len(got); k++ {
			if got[k] == w {
				found = k
				break
			}
			if !skip {
				break
			}
		}
		if found < 0 {
			at := "at the end of the output"
			if j < len(got) {
				at = fmt.Sprintf("printed line %d is %q", j+1, got[j])
			}
			if skip {
				at = fmt.Sprintf("not printed after printed line %d", j)
			}
			return fmt.Sprintf("first drift: shown line %d %q: %s", i+1, w, at)
		}
		j, skip = found+1, false
	}
	if !skip && j < len(got) {
		return fmt.Sprintf("first drift: printed line %d %q is not shown", j+1, got[j])
	}
	return "first drift: (the exit status)"
}

func indent(ls []string) string {
	var b strings.Builder
	for _, l := range ls {
		b.WriteString("    | " + l + "\n")
	}
	return b.String()
}
