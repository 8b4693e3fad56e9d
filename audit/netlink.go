package audit

import "fmt"

// TypeSeccomp is the audit message type of a SECCOMP record.
const TypeSeccomp = 1326

// ParseNetlink decodes the data of an audit netlink message of type 1326 ("audit(SECS.MSEC:SERIAL): …"),
// as the multicast group delivers it.
func ParseNetlink(typ uint16, data []byte) (Record, error) {
	if typ != TypeSeccomp {
		return Record{}, ErrNotSeccomp
	}
	if len(data) > maxRecord {
		return Record{}, fmt.Errorf("%w: %d bytes", errMalformed, len(data))
	}
	return parseKernelMessage(string(data), "netlink")
}
