package unitfile

import (
	"fmt"
	"io/fs"
	"strings"
)

// Command is one Exec*= command line of a unit, as systemd splits it (systemd.service(5), "COMMAND
// LINES"): the special prefixes, the program and its arguments.
type Command struct {
	Directive string   // "ExecStart", "ExecStartPre", …
	Prefixes  string   // any of "-@:+!" (and "!!") in the order written
	Path      string   // the program: argv[0], or the path after "@" names the program and argv[1] is argv[0]
	Args      []string // argv, argv[0] included
	File      string
	Line      int
}

// execDirectives are the command directives of a service (and of the other units that run commands).
var execDirectives = map[string]bool{
	"ExecStart": true, "ExecStartPre": true, "ExecStartPost": true, "ExecCondition": true,
	"ExecReload": true, "ExecStop": true, "ExecStopPost": true,
}

// Commands returns the Exec*= command lines of a unit's files, in load order; an empty assignment resets
// the list of that directive, as systemd does. A value that does not split (an unterminated quote) is
// skipped: systemd rejects it too.
func Commands(fsys fs.FS, files []string) ([]Command, error) {
	cmds, _, err := CommandsChecked(fsys, files)
	return cmds, err
}

// CommandsChecked is Commands that also says which values it skipped and why ("FILE:LINE: ExecStart=
// … does not split: an unterminated quote"), so that "no command" is never said of a unit whose
// command could not be read.
func CommandsChecked(fsys fs.FS, files []string) ([]Command, []string, error) {
	var out []Command
	var skipped []string
	for _, f := range files {
		content, err := fs.ReadFile(fsys, strings.TrimPrefix(f, "/"))
		if err != nil {
			return nil, nil, err
		}
		if len(content) > MaxFile {
			return nil, nil, fmt.Errorf("%s: larger than %d bytes", f, MaxFile)
		}
		opts, err := deserialize(content)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", f, err)
		}
		lines := directiveLines(content)
		seen := map[string]int{}
		for _, o := range opts {
			if !execDirectives[o.Name] || !execSections[o.Section] {
				continue
			}
			key := o.Section + "/" + o.Name
			n := seen[key]
			seen[key]++
			val := strings.TrimSpace(strings.ReplaceAll(o.Value, "\\\n", " "))
			if val == "" {
				kept := out[:0]
				for _, c := range out {
					if c.Directive != o.Name {
						kept = append(kept, c)
					}
				}
				out = kept
				continue
			}
			line := 0
			if n < len(lines[key]) {
				line = lines[key][n]
			}
			c, ok := ParseCommand(val)
			if !ok {
				skipped = append(skipped, fmt.Sprintf("%s:%d: %s=%.60q does not split (an unterminated quote?): systemd refuses it too", f, line, o.Name, val))
				continue
			}
			c.Directive, c.File, c.Line = o.Name, f, line
			out = append(out, c)
		}
	}
	return out, skipped, nil
}

// ParseCommand splits one command line value: prefixes, then words with systemd's quoting (double and
// single quotes, backslash escapes). Only the first command of the value is returned (systemd before
// v230 allowed ";"-separated commands; later versions do not).
func ParseCommand(val string) (Command, bool) {
	var c Command
	i := 0
	for i < len(val) && strings.IndexByte("-@:+!", val[i]) >= 0 {
		i++
	}
	c.Prefixes = val[:i]
	words, ok := splitWords(val[i:])
	if !ok || len(words) == 0 {
		return Command{}, false
	}
	c.Path = words[0]
	c.Args = words
	if strings.Contains(c.Prefixes, "@") && len(words) > 1 {
		c.Args = words[1:]
	}
	return c, true
}

// splitWords splits like systemd's extract_first_word with EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE, for the
// common escapes.
func splitWords(s string) ([]string, bool) {
	var out []string
	var cur strings.Builder
	in := false
	var quote byte
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0 && ch == quote:
			quote = 0
		case quote == 0 && (ch == '"' || ch == '\''):
			quote, in = ch, true
		case ch == '\\' && i+1 < len(s):
			i++
			switch s[i] {
			case 'n':
				cur.WriteByte('\n')
			case 't':
				cur.WriteByte('\t')
			default:
				cur.WriteByte(s[i])
			}
			in = true
		case quote == 0 && (ch == ' ' || ch == '\t'):
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(ch)
			in = true
		}
	}
	if quote != 0 {
		return nil, false
	}
	if in {
		out = append(out, cur.String())
	}
	return out, true
}

// execSearch is where systemd looks up a command given without a path (systemd.service(5)).
var execSearch = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// Programs names the executables the kernel reports (audit exe=, journald _EXE=) for a unit's commands,
// under fsys (an fs.FS of the unit's "/"): each command's program with its symlinks resolved, and for a
// "#!" script its interpreter (through /usr/bin/env too). Programs that cannot be found are named as
// written. The answer is for matching kills to units, not a security boundary.
func Programs(fsys fs.FS, cmds []Command) []string {
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		if p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, c := range cmds {
		p := c.Path
		if !strings.HasPrefix(p, "/") {
			p = lookPath(fsys, p)
		}
		real := resolve(fsys, p)
		add(real)
		if interp := shebang(fsys, real); interp != "" {
			add(resolve(fsys, interp))
		}
	}
	return out
}

func lookPath(fsys fs.FS, name string) string {
	for _, d := range execSearch {
		p := d + "/" + name
		if fi, err := fs.Stat(fsys, p[1:]); err == nil && !fi.IsDir() {
			return p
		}
	}
	return name
}

// resolve follows symlinks of an absolute path inside fsys, chroot-style (at most 40, as the kernel does).
func resolve(fsys fs.FS, p string) string {
	if !strings.HasPrefix(p, "/") {
		return p
	}
	done, _ := chase(func(name string) (string, error) { return fs.ReadLink(fsys, name) }, strings.Trim(p, "/"), true)
	return "/" + done
}

// shebang returns the interpreter of a "#!" script ("" for anything else); for "/usr/bin/env NAME" the
// program env runs.
func shebang(fsys fs.FS, p string) string {
	if !strings.HasPrefix(p, "/") {
		return ""
	}
	f, err := fsys.Open(p[1:])
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, 256)
	n, _ := f.Read(buf)
	line, _, _ := strings.Cut(string(buf[:n]), "\n")
	rest, ok := strings.CutPrefix(line, "#!")
	if !ok {
		return ""
	}
	words := strings.Fields(rest)
	if len(words) == 0 {
		return ""
	}
	if strings.HasSuffix(words[0], "/env") {
		for _, w := range words[1:] {
			if !strings.HasPrefix(w, "-") {
				return lookPath(fsys, w)
			}
		}
	}
	return words[0]
}
