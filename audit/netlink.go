package audit

import (
	"fmt"

	"github.com/elastic/go-libaudit/v2/auparse"
)

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
	msg, err := auparse.Parse(auparse.AUDIT_SECCOMP, string(data))
	if err != nil {
		return Record{}, fmt.Errorf("%w: bad header: %v", errMalformed, err)
	}
	r, err := fieldsAfterHeader(msg.RawData)
	if err != nil {
		return Record{}, err
	}
	r.Source, r.Time, r.Serial = "netlink", msg.Timestamp, uint64(msg.Sequence)
	return r, nil
}
