package trial

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// The state machine of a trial's changes to its host — the restore, the log flag, --abort — asks the
// manager through Manager and touches files through Files, so that every decision here is tested
// with a fake manager and no root; Bus and LocalFiles are both on this host.

// Manager is what a trial asks of the unit's manager (systemd over D-Bus, or a test's fake).
type Manager interface {
	// Reload is daemon-reload.
	Reload(ctx context.Context) error
	// Job runs op ("restart", "stop", "reset-failed") on unit, and waits until its job is done.
	Job(ctx context.Context, op, unit string) error
	// ActiveState is unit's ActiveState ("" when the manager does not say).
	ActiveState(ctx context.Context, unit string) string
	// Result is the service's Result= after a run ("" when the manager does not say).
	Result(ctx context.Context, unit string) string
}

// Files are the drop-ins a trial writes and removes (the host's file system, or a test's map).
type Files interface {
	ReadFile(path string) ([]byte, error)
	// ReadDir names the entries of dir.
	ReadDir(dir string) ([]string, error)
	// WriteDropIn writes a file sysdiag owns: atomically, refusing to replace a file sysdiag did not write.
	WriteDropIn(path, content string) error
	// WriteFile puts back bytes read before, as they were (a roll-back).
	WriteFile(path string, data []byte) error
	// Remove removes a file, or a directory when it is empty.
	Remove(path string) error
	// Create creates a new file with content, and its directory: the trial's lock. It fails with
	// fs.ErrExist when there is one; on any other failure no file is left.
	Create(path, content string) error
}

// Host is what a trial changes: the unit's manager and the files.
type Host struct {
	Manager Manager
	Files   Files
}

// States is the manager's ActiveState now of each unit of s.
func (h Host) States(ctx context.Context, s Snapshot) Snapshot {
	out := make(Snapshot, len(s))
	for i, u := range s {
		u.Active = h.Manager.ActiveState(ctx, u.Name)
		out[i] = u
	}
	return out
}

// Restore puts back what a trial of unit changed: the unit (RestoreUnit) and, when flag (the trial set
// the manager's log flag), the flag — turned off again (SYSTEMD_LOG_SECCOMP=0: removing the drop-in does
// not unset it) unless another unit's trial still needs it, its manager drop-in removed after the reload.
// It says what it did. It runs to the end even when ctx is cancelled (Ctrl-C): the unit gets its filter
// back.
func (h Host) Restore(ctx context.Context, unit, dropin string, before Snapshot, flag bool) string {
	ctx = context.WithoutCancel(ctx)
	if !flag {
		return h.RestoreUnit(ctx, dropin, before)
	}
	conf := ManagerConfPath(unit)
	others := false
	if names, err := h.Files.ReadDir(ManagerConfDir); err == nil {
		for _, n := range names {
			others = others || IsManagerConf(n) && n != filepath.Base(conf)
		}
	}
	msg := "; the manager's log flag stays on for another unit's trial"
	if others {
		h.Files.Remove(conf)
	} else if err := h.Files.WriteFile(conf, []byte(ManagerConf(false))); err != nil {
		msg = "; could not turn the manager's log flag off (" + err.Error() + ")"
	} else {
		msg = "; the manager's log flag is off again"
	}
	did := h.RestoreUnit(ctx, dropin, before)
	if !others {
		h.Files.Remove(conf)
	}
	return did + msg
}

// RestoreUnit removes the trial's drop-in, reloads, and puts the unit and its neighbours back as they
// were before (RestoreSteps: a socket that was not listening is stopped before the unit, so it cannot
// start it again under its real filter; what the start pulled in is stopped; then ResetSteps: a unit the
// trial's run left failed is reset), then compares the whole state with before (Differences) and says
// what it did, and what is not as before.
func (h Host) RestoreUnit(ctx context.Context, dropin string, before Snapshot) string {
	ctx = context.WithoutCancel(ctx)
	if err := h.Files.Remove(dropin); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "could not remove " + dropin + ": " + err.Error()
	}
	h.Files.Remove(filepath.Dir(dropin)) // only if empty
	var did []string
	run := func(steps []Step) error {
		for _, st := range steps {
			switch st.Op {
			case "restart":
				did = append(did, st.Unit+" running again under its real filter")
			case "stop":
				did = append(did, st.Unit+" stopped ("+st.Why+")")
			case "reset-failed":
				did = append(did, st.Unit+" reset from failed ("+st.Why+")")
			}
			if err := h.Manager.Job(ctx, st.Op, st.Unit); err != nil {
				if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
					return err // the wait for the job ended
				}
				return fmt.Errorf("%s %s: %w", st.Op, st.Unit, err)
			}
		}
		return nil
	}
	err := h.Manager.Reload(ctx)
	if err == nil {
		err = run(RestoreSteps(before, h.States(ctx, before)))
	}
	if err == nil {
		err = run(ResetSteps(before, h.States(ctx, before)))
	}
	if err != nil {
		return "the trial's drop-in is removed, but the manager said: " + err.Error()
	}
	msg := "drop-in removed, manager reloaded, " + strings.Join(did, ", ")
	if diff := Differences(before, h.States(ctx, before)); len(diff) > 0 {
		return msg + "; NOT as before the trial: " + strings.Join(diff, "; ")
	}
	names := make([]string, len(before))
	for i, u := range before {
		names[i] = u.Name + " " + u.Active
	}
	return msg + "; as before the trial (" + strings.Join(names, ", ") + ")"
}

// NoTrialError says --abort found no trial of the unit to undo.
type NoTrialError struct{ Unit, Dropin string }

func (e *NoTrialError) Error() string {
	return fmt.Sprintf("no trial drop-in for %s (%s)", e.Unit, e.Dropin)
}

// Abort undoes a trial of unit left by a crash: the unit goes back to the state its drop-in's state line
// recorded, and the manager's log flag (a system unit's trial's manager drop-in) is turned off. When
// only the manager drop-in was left, the unit stays as it is (now gives its state). A drop-in at the
// trial's path that sysdiag trial did not write is left alone: an error. No trial: a *NoTrialError.
func (h Host) Abort(ctx context.Context, unit string, user bool, dropin string, now func() Snapshot) (string, error) {
	_, cerr := h.Files.ReadFile(ManagerConfPath(unit))
	flag := !user && cerr == nil
	raw, err := h.Files.ReadFile(dropin)
	if errors.Is(err, fs.ErrNotExist) && !flag {
		return "", &NoTrialError{Unit: unit, Dropin: dropin}
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	line, ok := StateOf(string(raw))
	if err == nil && !ok {
		return "", fmt.Errorf("%s was not written by sysdiag trial: not removing it", dropin)
	}
	before := DecodeSnapshot(unit, line)
	if err != nil { // only the manager's drop-in was left: the unit stays as it is
		before = now()
	}
	return h.Restore(ctx, unit, dropin, before, flag), nil
}
