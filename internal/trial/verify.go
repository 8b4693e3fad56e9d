package trial

import (
	"context"
	"fmt"
	"time"

	"github.com/sysdiag/sysdiag/internal/evidence"
)

// Attempt is what --write (the fix) or --write-tighten (the tightening) puts under the unit's real
// filter: its drop-in, and what to try next after kills under it.
type Attempt struct {
	What    string // "the fix", "the tightening"
	Path    string
	Content string
	// Next is the content to try after kills under the last one, and what it adds ("adding ptrace"); ok
	// false gives up (added, when not "", says what would have been tried).
	Next func(kills []evidence.Violation) (content, added string, ok bool)
}

// Verifier is trial --write: a drop-in under the unit's real filter, the unit restarted and watched; a
// new kill (a path the trial did not exercise) is added and tried again, at most Rounds times; if the
// unit still dies, the drop-in goes back as it was and the unit to its state before the trial.
type Verifier struct {
	Host
	Unit   string
	State  string        // the unit's ActiveState before the trial
	Verify time.Duration // how long each run is watched (Watch keeps the time; said in the answer)
	Rounds int
	// Watch starts the unit under its real filter (its failed state reset, then restarted) after the
	// reload, and follows it for Verify, until it has stopped, or until ctx ends: the calls that killed it.
	Watch func(ctx context.Context) ([]evidence.Violation, error)
	// Progress is told when a kill starts another round (nil: nobody).
	Progress func(msg string)
}

// Try writes the attempt's drop-in, restarts the unit under its real filter and watches it; a kill gives
// the attempt's next content, at most v.Rounds times; then the drop-in goes back as it was and the unit
// to its state before the trial. It says what happened, after how many rounds, whether the drop-in stays
// written, and whether the attempt failed.
func (v *Verifier) Try(ctx context.Context, a Attempt) (said string, rounds int, written, failed bool) {
	old, oldErr := v.Files.ReadFile(a.Path)
	keep := context.WithoutCancel(ctx) // the roll-back, and the manager's answers, even after Ctrl-C
	rollback := func() {
		if oldErr == nil {
			_ = v.Files.WriteFile(a.Path, old)
		} else {
			v.Files.Remove(a.Path)
		}
		// Back to its state before the trial, the job waited for: nothing of ours left running.
		if v.Manager.Reload(keep) != nil {
			return
		}
		op := "stop"
		if Running(v.State) {
			op = "restart"
		}
		_ = v.Manager.Job(keep, op, v.Unit)
	}
	for round := 1; ; round++ {
		if err := v.Files.WriteDropIn(a.Path, a.Content); err != nil {
			return "not written: " + err.Error(), round, false, true
		}
		result, kills, err := v.run(ctx, keep)
		if err != nil {
			rollback()
			return "written, but " + err.Error() + ": rolled back", round, false, true
		}
		if result != "core-dump" && result != "signal" {
			return fmt.Sprintf("written; %s ran under its real filter with %s for %s without a kill (Result=%s)%s", v.Unit, a.What, v.Verify, result, roundsSaid(round)), round, true, false
		}
		content, added, ok := "", "", false
		if len(kills) > 0 && round < v.Rounds {
			content, added, ok = a.Next(kills)
		}
		if !ok {
			rollback()
			why := "no record of the call says what it was"
			switch {
			case added != "":
				why = fmt.Sprintf("after %d round(s); the last tried %s", round, added)
			case len(kills) > 0 && round >= v.Rounds:
				why = fmt.Sprintf("after %d round(s)", round)
			case len(kills) > 0:
				why = "killed by a call it already lets through (another filter, or another ABI)"
			}
			return "killed again under " + a.What + " (Result=" + result + "), " + why + ": rolled back", round, false, true
		}
		if v.Progress != nil {
			v.Progress(fmt.Sprintf("killed under %s (%s), a path the trial did not exercise: trying again (round %d of %d)", a.What, added, round+1, v.Rounds))
		}
		a.Content = content
	}
}

// run is one round: reload, the unit started under its real filter and watched, its Result.
func (v *Verifier) run(ctx, keep context.Context) (string, []evidence.Violation, error) {
	if err := v.Manager.Reload(keep); err != nil {
		return "", nil, fmt.Errorf("the reload failed: %w", err)
	}
	kills, err := v.Watch(ctx)
	if err != nil {
		return "", nil, err
	}
	return v.Manager.Result(keep, v.Unit), kills, nil
}

func roundsSaid(round int) string {
	if round == 1 {
		return ""
	}
	return fmt.Sprintf("; after %d rounds (each kill under the fix was added to it)", round)
}
