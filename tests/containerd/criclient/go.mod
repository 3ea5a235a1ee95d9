module github.com/microsandbox/microsandbox/tests/containerd/criclient

go 1.22.0

require (
	google.golang.org/grpc v1.71.1
	k8s.io/cri-api v0.30.14
)

require (
	github.com/gogo/protobuf v1.3.2 // indirect
	golang.org/x/net v0.34.0 // indirect
	golang.org/x/sys v0.29.0 // indirect
	golang.org/x/text v0.21.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20250115164207-1a7da9e5054f // indirect
	google.golang.org/protobuf v1.36.4 // indirect
)
