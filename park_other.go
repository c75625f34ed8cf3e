//go:build !linux

package broker

import "errors"

// parker is Linux-only (epoll); elsewhere idle connections keep their
// reader goroutine.
type parker struct{}

func newParker() (*parker, error) { return nil, errors.ErrUnsupported }

func (p *parker) arm(*conn) bool { return false }
func (p *parker) forget(*conn)   {}
func (p *parker) run() *conn     { return nil }
func (p *parker) stop()          {}
