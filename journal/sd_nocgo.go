//go:build !cgo

package journal

import (
	"context"
	"errors"
	"time"
)

// Reader is unavailable without cgo.
type Reader struct{}

// Open fails: sysdiag was built without cgo, so it cannot load libsystemd.
func Open(Source) (*Reader, error) {
	return nil, errors.New("this sysdiag was built without cgo and cannot read the journal")
}

func (r *Reader) Close() error { return nil }

func (r *Reader) Query([]string, time.Time, time.Time, func(Fields) error) error {
	return errors.New("no journal support")
}

func (r *Reader) Follow(context.Context, []string, func(Fields) error) error {
	return errors.New("no journal support")
}

func (r *Reader) Only(...string) Querier { return r }

func (r *Reader) Tail([]string) error { return errors.New("no journal support") }

func (r *Reader) FollowNext(context.Context, func(Fields) error) error {
	return errors.New("no journal support")
}
