package diagnose

// What a post-mortem found that a deploy pipeline stops on (postmortem's exit status 4).

// KilledUnits counts the units killed in the window, over every host.
func (pm *Postmortem) KilledUnits() int {
	n := 0
	for _, h := range pm.Hosts {
		n += len(h.Units)
	}
	return n
}

// Found reports whether the window holds what a pipeline must stop on: a kill of a unit, a kill tied to
// no unit (it may be any unit's), or a unit possibly denied silently.
func (pm *Postmortem) Found() bool {
	return pm.KilledUnits() > 0 || len(pm.Silent) > 0 || pm.UnattributedTotal > 0
}
