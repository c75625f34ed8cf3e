package broker

import "errors"

// Sentinel errors callers may branch on with errors.Is.
var (
	// ErrBrokerClosed is returned by Serve, ListenAndServe and friends after
	// Shutdown or Close, like http.ErrServerClosed.
	ErrBrokerClosed = errors.New("broker: closed")
	// ErrHookSignature is returned by Hook when fn does not have the
	// function type of the named hook point.
	ErrHookSignature = errors.New("broker: hook signature mismatch")
	// ErrUnknownHook is returned by Hook for a name that is not a hook point.
	ErrUnknownHook = errors.New("broker: unknown hook")
	// ErrNotConnected is returned by Kick and Client lookups for a client id
	// that has no connection on this broker.
	ErrNotConnected = errors.New("broker: client not connected")
	// ErrSessionClosed is returned by Session methods after Close.
	ErrSessionClosed = errors.New("broker: session closed")
	// ErrAuthFailed is returned by Connect when the access chain refuses the
	// client. The error wraps a *ConnectError carrying the reason code.
	ErrAuthFailed = errors.New("broker: not authorized")
)
