package evidence

// Method says how a violation was tied to its unit.
type Method string

const (
	ByCoredump   Method = "coredump"    // systemd-coredump's entry names the unit (COREDUMP_UNIT)
	ByCgroup     Method = "cgroup"      // the live process's cgroup, read while it still existed
	ByMainPID    Method = "main-pid"    // the manager's ExecMainPID of the invocation
	ByJournalPID Method = "journal-pid" // the process's own journal entries, tagged by journald with unit and invocation
	ByMainExit   Method = "main-exit"   // the unit's main process died of SIGSYS then, and this is the only kill that fits
)

// Attribution is how a violation's unit was found; a zero Method means it was not, and Detail then says
// why (or is empty when nothing pointed anywhere).
type Attribution struct {
	Method     Method `json:"method,omitempty"`
	Invocation string `json:"invocation,omitempty"`
	Detail     string `json:"detail"`
}
