package trial

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/sysdiag/sysdiag/internal/unit"
)

// Bus is Manager and Starter on this machine's manager over D-Bus (unit.Connect: the system's, or the
// calling user's with User): a connection of its own, bounded by 30 s, for each question. Its connection
// errors are unit's (*unit.Error, with a hint).
type Bus struct{ User bool }

var (
	_ Manager = Bus{}
	_ Starter = Bus{}
)

// busTimeout bounds each question to the manager, and the queueing of Start's job.
const busTimeout = 30 * time.Second

// do runs fn on a connection to the manager, with busTimeout.
func (b Bus) do(ctx context.Context, fn func(ctx context.Context, c *sddbus.Conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, busTimeout)
	defer cancel()
	c, err := unit.Connect(ctx, b.User)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(ctx, c)
}

// Reload is daemon-reload.
func (b Bus) Reload(ctx context.Context) error {
	return b.do(ctx, func(ctx context.Context, c *sddbus.Conn) error {
		return c.ReloadContext(ctx)
	})
}

// Job runs op ("restart", "stop", "reset-failed") on the unit name and waits until its job is done.
func (b Bus) Job(ctx context.Context, op, name string) error {
	return b.do(ctx, func(ctx context.Context, c *sddbus.Conn) error {
		ch := make(chan string, 1)
		var err error
		switch op {
		case "restart":
			_, err = c.RestartUnitContext(ctx, name, "replace", ch)
		case "stop":
			_, err = c.StopUnitContext(ctx, name, "replace", ch)
		case "reset-failed":
			return c.ResetFailedUnitContext(ctx, name)
		default:
			return fmt.Errorf("unknown job %q", op)
		}
		if err != nil {
			return err
		}
		select {
		case <-ch:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

// ActiveState is unit's ActiveState ("" when the manager does not say).
func (b Bus) ActiveState(ctx context.Context, name string) string {
	st := ""
	_ = b.do(ctx, func(ctx context.Context, c *sddbus.Conn) error {
		p, err := c.GetUnitPropertyContext(ctx, name, "ActiveState")
		if err == nil {
			st = strings.Trim(p.Value.String(), `"`)
		}
		return err
	})
	return st
}

// Result is the service's Result= ("" when the manager does not say).
func (b Bus) Result(ctx context.Context, name string) string {
	result := ""
	_ = b.do(ctx, func(ctx context.Context, c *sddbus.Conn) error {
		p, err := c.GetUnitTypePropertyContext(ctx, name, "Service", "Result")
		if err == nil {
			result = strings.Trim(p.Value.String(), `"`)
		}
		return err
	})
	return result
}

// Deps are the unit's TriggeredBy and PulledProps, each as the manager gives it.
func (b Bus) Deps(ctx context.Context, name string) map[string][]string {
	props := map[string][]string{}
	_ = b.do(ctx, func(ctx context.Context, c *sddbus.Conn) error {
		for _, p := range append([]string{"TriggeredBy"}, PulledProps...) {
			if v, err := c.GetUnitPropertyContext(ctx, name, p); err == nil {
				if names, ok := v.Value.Value().([]string); ok {
					props[p] = names
				}
			}
		}
		return nil
	})
	return props
}

// Start restarts the unit (its failed state reset) on a connection of its own that stays open until
// the job is done — a oneshot's lasts as long as it runs; the channel closes then.
func (b Bus) Start(ctx context.Context, name string) (<-chan struct{}, error) {
	job, started := make(chan struct{}), make(chan error, 1)
	go func() {
		defer close(job)
		c, err := unit.Connect(ctx, b.User)
		if err != nil {
			started <- err
			return
		}
		defer c.Close()
		// The call itself is bounded (the job is queued at once); only the wait for the job is not.
		cctx, ccancel := context.WithTimeout(ctx, busTimeout)
		_ = c.ResetFailedUnitContext(cctx, name)
		ch := make(chan string, 1)
		_, err = c.RestartUnitContext(cctx, name, "replace", ch)
		ccancel()
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("the manager did not answer RestartUnit within 30 s")
		}
		started <- err
		if err == nil {
			select {
			case <-ch:
			case <-ctx.Done():
			}
		}
	}()
	return job, <-started
}
