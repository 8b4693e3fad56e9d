package main

import (
	"io"

	"github.com/sysdiag/sysdiag/internal/diagnose"
	"github.com/sysdiag/sysdiag/internal/render"
)

// Wrappers over internal/render for the command files not yet rendering through it directly.

func clean(s string) string { return render.Clean(s) }

type fixView = render.FixView
type fixOpt = render.FixOpt

func fixOf(title string, fx *diagnose.Fix) fixView      { return render.FixOf(title, fx) }
func verifiedAs(s string) fixOpt                        { return render.VerifiedAs(s) }
func qualified(pre, post string) fixOpt                 { return render.Qualified(pre, post) }
func pathBelow(end string) fixOpt                       { return render.PathBelow(end) }
func about(subject string, lines ...string) fixOpt      { return render.About(subject, lines...) }
func orHint(s string) fixOpt                            { return render.OrHint(s) }
func nextLine(s string) fixOpt                          { return render.NextLine(s) }
func showCosts(bold func(string) string) fixOpt         { return render.ShowCosts(bold) }
func renderFix(w io.Writer, fx fixView, opts ...fixOpt) { render.Fix(w, fx, opts...) }
func writeJSON(w io.Writer, v any) error                { return render.JSON(w, v) }
func writeJSONLine(w io.Writer, v any) error            { return render.JSONLine(w, v) }
