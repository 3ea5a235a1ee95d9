module github.com/microsandbox/microsandbox/shim

go 1.22.12

replace github.com/microsandbox/microsandbox/sdk/go => ../sdk/go

require (
	github.com/containerd/cgroups/v3 v3.0.5
	github.com/containerd/containerd/api v1.8.0
	github.com/containerd/fifo v1.1.0
	github.com/containerd/ttrpc v1.2.8
	github.com/containerd/typeurl/v2 v2.3.0
	github.com/microsandbox/microsandbox/sdk/go v0.0.0-00010101000000-000000000000
	github.com/opencontainers/runtime-spec v1.2.0
	golang.org/x/sys v0.30.0
	google.golang.org/grpc v1.71.1
	google.golang.org/protobuf v1.36.7
)

require (
	github.com/containerd/log v0.1.0 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.0 // indirect
	github.com/sirupsen/logrus v1.9.4 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20250115164207-1a7da9e5054f // indirect
)
