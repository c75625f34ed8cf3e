module github.com/emqgo/broker

go 1.26

require (
	github.com/coder/websocket v1.8.14 // indirect
	go.etcd.io/bbolt v1.4.3 // indirect
	go.uber.org/goleak v1.3.0 // indirect
	golang.org/x/sys v0.29.0 // indirect
)
