// SPDX-License-Identifier: Apache-2.0

package msb

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Option configures a sandbox: NewSandbox, Snapshot.Restore and
// Runtime.Start take them. Options that do not apply where they are
// given (Image on a Restore, say) make the call fail with ErrInvalid.
type Option interface {
	applySandbox(c *sandboxConfig)
}

// ExecOption configures one command: Exec, ExecArgs, Shell, Stream and
// ExecDetached take them. Env, Workdir and User are both: given to NewSandbox they are
// the defaults of every command; given to Exec, that command's.
type ExecOption interface {
	applyExec(c *execConfig)
}

type sandboxConfig struct {
	given []string // option names, in order, for Restore's check

	image                 string
	cpus                  uint
	memoryMiB             uint64
	memory                string
	diskMiB               uint64
	disk                  string
	env                   []string
	workdir, user, kernel string
	bootTimeout           time.Duration
	cmd, entrypoint       []string
	entrypointSet         bool
	imageCmd              bool
	net                   networkConfig
	ports                 []string
	volumes               []volumeSpec
	secrets               []secretSpec
	injects               map[string][]string // SecretInject: env -> places
	onSecretViolation     string
	tlsBypass             []string
	tlsCA                 []string // PEM texts
	tlsCAFiles            []string
	keep, ephemeral       bool
	diskOnly              bool
	sync                  bool
	refused               []error     // forms not served (yet): first one wins
	hooks                 goHooks     // OnExec, OnExecExit, OnLifecycle (exechooks.go)
	hookSrv               *hookServer // serving them, net.hooks and fs ones, from create on
	plugins               []pluginSpec
	pluginTimeout         time.Duration
	pluginRestarts        *uint
	spawn                 spawnSpec // AllowSpawn and its shaping (spawnpolicy.go)
}

// pluginSpec is one plugin of the chain, in order: a built-in (name and
// its options) or a command (docs/plugins.md).
type pluginSpec struct {
	builtin, options, command string
}

type optionFunc struct {
	name string
	f    func(c *sandboxConfig)
}

func (o optionFunc) applySandbox(c *sandboxConfig) {
	c.given = append(c.given, o.name)
	o.f(c)
}

func option(name string, f func(c *sandboxConfig)) Option {
	return optionFunc{name, f}
}

// Image is the OCI image to boot: "python:3.12" (Docker Hub), a full
// reference "host:port/repo:tag" or "repo@sha256:...". It is pulled first
// if it is not in the local store. Without it, the built-in "default"
// image (a busybox userland that needs no network) is used.
func Image(ref string) Option {
	return option("Image", func(c *sandboxConfig) { c.image = ref })
}

// CPUs is the number of virtual CPUs (default 1).
func CPUs(n uint) Option {
	return option("CPUs", func(c *sandboxConfig) { c.cpus = n })
}

// Memory is the guest's memory as msb run --memory writes it: "512M",
// "1G", "1.5GiB", or a bare number of MiB (default 512 MiB).
func Memory(size string) Option {
	return option("Memory", func(c *sandboxConfig) { c.memory = size })
}

// MemoryMiB is the guest's memory in MiB (default 512).
func MemoryMiB(mib uint64) Option {
	return option("Memory", func(c *sandboxConfig) { c.memoryMiB = mib })
}

// DiskSize is the writable disk (everything the guest writes outside
// volumes) as msb run --disk-size writes it: "10G", "512M" (64M to 1024G;
// default 4G). It is sparse: only what is written takes host disk.
func DiskSize(size string) Option {
	return option("DiskSize", func(c *sandboxConfig) { c.disk = size })
}

// DiskMiB is DiskSize in MiB.
func DiskMiB(mib uint64) Option {
	return option("DiskSize", func(c *sandboxConfig) { c.diskMiB = mib })
}

// BootTimeout bounds the boot (default $MSB_BOOT_TIMEOUT or 60 s).
func BootTimeout(d time.Duration) Option {
	return option("BootTimeout", func(c *sandboxConfig) { c.bootTimeout = d })
}

// Kernel picks the guest kernel: "msb" (the project's) or "cloud"
// (Debian's); by default $MSB_KERNEL, else msb when it was built.
func Kernel(name string) Option {
	return option("Kernel", func(c *sandboxConfig) { c.kernel = name })
}

// Entrypoint replaces the image's Entrypoint for the detached command
// (Cmd, ImageCmd); Entrypoint() with no words clears it.
func Entrypoint(argv ...string) Option {
	return option("Entrypoint", func(c *sandboxConfig) {
		c.entrypoint = append([]string{}, argv...)
		c.entrypointSet = true
	})
}

// Cmd runs @argv detached once the sandbox has booted (msb run -d NAME --
// CMD): its output goes to the sandbox's log, Sandbox.Wait waits for it.
func Cmd(argv ...string) Option {
	return option("Cmd", func(c *sandboxConfig) { c.cmd = append([]string{}, argv...) })
}

// ImageCmd runs the image's own Entrypoint and Cmd detached once the
// sandbox has booted (msb run -d IMAGE).
func ImageCmd() Option {
	return option("ImageCmd", func(c *sandboxConfig) { c.imageCmd = true })
}

// Ports publishes guest ports on the host: "HOST:GUEST",
// "IP:HOST:GUEST", "[IPv6]:HOST:GUEST", each optionally "/tcp". Host
// connections to IP (default 127.0.0.1):HOST reach the guest's GUEST. A
// HOST of 0, "IP::GUEST" or "GUEST" alone takes a free host port, which
// Sandbox.Ports tells once the sandbox runs.
func Ports(specs ...string) Option {
	return option("Ports", func(c *sandboxConfig) { c.ports = append(c.ports, specs...) })
}

// Keep makes Close leave a sandbox this program created running (Close
// then only releases the handle, as it does for one got with
// GetSandbox). Without it, Close removes what NewSandbox or Restore made.
func Keep() Option {
	return option("Keep", func(c *sandboxConfig) { c.keep = true })
}

// Ephemeral has the sandbox removed as soon as it stops, whoever stops it
// (msb run --rm). It can then not be started again.
func Ephemeral() Option {
	return option("Ephemeral", func(c *sandboxConfig) { c.ephemeral = true })
}

// Sync has the sandbox push itself (Push, to where it was last pushed or
// pulled, else REMOTE/NAME:latest) whenever Stop stops it, as msb run
// --sync does; SetSync changes it later. It needs a remote (SetRemote,
// or $MSB_REMOTE): without one the create is refused (ErrNotFound,
// saying how to set one) before anything boots. It keeps the sandbox to
// push it, so Ephemeral is refused with it. Stop's push is LastSync; a
// push that fails leaves the sandbox stopped and Stop returns its error.
func Sync() Option {
	return option("Sync", func(c *sandboxConfig) { c.sync = true })
}

// DiskOnly restores a snapshot by booting its disk, as a fresh machine
// (msb run --from-snapshot), instead of resuming its memory.
func DiskOnly() Option {
	return option("DiskOnly", func(c *sandboxConfig) { c.diskOnly = true })
}

// ---- options of sandboxes and commands -------------------------------------

// EnvOption is an environment variable: for every command of a sandbox
// (NewSandbox, Restore: restored processes read it from /run/msb/env too)
// or for one command (Exec).
type EnvOption struct{ Key, Value string }

// Env sets the environment variable @key to @value.
func Env(key, value string) EnvOption { return EnvOption{key, value} }

func (o EnvOption) applySandbox(c *sandboxConfig) {
	c.given = append(c.given, "Env")
	c.env = append(c.env, o.Key+"="+o.Value)
}

func (o EnvOption) applyExec(c *execConfig) { c.env = append(c.env, o.Key+"="+o.Value) }

// WorkdirOption is a working directory: the default of every command
// (NewSandbox) or one command's (Exec).
type WorkdirOption struct{ Dir string }

// Workdir sets the working directory.
func Workdir(dir string) WorkdirOption { return WorkdirOption{dir} }

func (o WorkdirOption) applySandbox(c *sandboxConfig) {
	c.given = append(c.given, "Workdir")
	c.workdir = o.Dir
}

func (o WorkdirOption) applyExec(c *execConfig) { c.workdir = o.Dir }

// UserOption is a guest user: a name, a uid or uid:gid; the default of
// every command (NewSandbox) or one command's (Exec) or file operation's.
type UserOption struct{ User string }

// User sets the guest user.
func User(user string) UserOption { return UserOption{user} }

func (o UserOption) applySandbox(c *sandboxConfig) {
	c.given = append(c.given, "User")
	c.user = o.User
}

func (o UserOption) applyExec(c *execConfig) { c.user = o.User }

// ---- secrets and TLS ----------------------------------------------------------

type secretSpec struct {
	env, ref, hosts string
	source          int // 0 value, 1 env, 2 file
}

// SecretEnv gives the guest variable @env a random placeholder
// (msb_placeholder_...) while @value stays in the sandbox's supervisor on
// the host, which swaps it in only inside verified TLS connections to
// @hosts ("api.example.com", or "*.example.com" for names below it).
// The value is kept nowhere: such a sandbox cannot be started again once
// stopped (SecretFromEnv and SecretFromFile can).
func SecretEnv(env, value string, hosts ...string) Option {
	return option("SecretEnv", func(c *sandboxConfig) {
		c.secrets = append(c.secrets, secretSpec{env, value, strings.Join(hosts, ","), 0})
	})
}

// SecretFromEnv is SecretEnv with the value read from this program's
// environment variable @hostVar at every create and start.
func SecretFromEnv(env, hostVar string, hosts ...string) Option {
	return option("SecretEnv", func(c *sandboxConfig) {
		c.secrets = append(c.secrets, secretSpec{env, hostVar, strings.Join(hosts, ","), 1})
	})
}

// SecretInject lets the value of the secret @env (given by SecretEnv,
// SecretFromEnv or SecretFromFile) go into @places of a request to its
// hosts besides the Authorization header (msb run --secret-inject):
// "header:NAME", "path", "query", "body". A placeholder anywhere else is
// a violation (OnSecretViolation).
func SecretInject(env string, places ...string) Option {
	return option("SecretInject", func(c *sandboxConfig) {
		if c.injects == nil {
			c.injects = map[string][]string{}
		}
		c.injects[env] = append(c.injects[env], places...)
	})
}

// SecretFromFile is SecretEnv with the value read from the file @path
// (one trailing line break dropped) at every create and start.
func SecretFromFile(env, path string, hosts ...string) Option {
	return option("SecretEnv", func(c *sandboxConfig) {
		c.secrets = append(c.secrets, secretSpec{env, path, strings.Join(hosts, ","), 2})
	})
}

// OnSecretViolation says what happens to a placeholder sent where its
// value may not go: "block" (the default: answered 403, logged, the
// connection closed), "log" (sent as it is, logged) or "allow".
func OnSecretViolation(action string) Option {
	return option("OnSecretViolation", func(c *sandboxConfig) { c.onSecretViolation = action })
}

// TLSBypass names hosts whose TLS is never intercepted but passed
// through untouched: "x.com", or "*.x.com" for every name below x.com.
func TLSBypass(hosts ...string) Option {
	return option("TLSBypass", func(c *sandboxConfig) { c.tlsBypass = append(c.tlsBypass, hosts...) })
}

// TLSUpstreamCA trusts the CA certificates in @pem (PEM text), with the
// host's, for the servers of intercepted TLS.
func TLSUpstreamCA(pem []byte) Option {
	return option("TLSUpstreamCA", func(c *sandboxConfig) { c.tlsCA = append(c.tlsCA, string(pem)) })
}

// TLSUpstreamCAFile is TLSUpstreamCA with the certificates read from the
// file @path (msb run --tls-upstream-ca).
func TLSUpstreamCAFile(path string) Option {
	return option("TLSUpstreamCA", func(c *sandboxConfig) { c.tlsCAFiles = append(c.tlsCAFiles, path) })
}

// ---- network ----------------------------------------------------------------

// NetworkOption is one rule of a sandbox's network policy, given to
// Network (docs/network.md).
type NetworkOption interface {
	applyNet(n *networkConfig)
}

type networkConfig struct {
	denyAll                     bool
	allow, allowCidr, blockCidr []string
	allowHost                   []string
	nameserver, plugin          string
	hooks                       goHooks // written in Go (hooks.go)
	refused                     []error
}

type netFunc func(n *networkConfig)

func (f netFunc) applyNet(n *networkConfig) { f(n) }

// Network sets the sandbox's network policy. By default the public
// internet is reachable and loopback, private, CGNAT, link-local (cloud
// metadata), ULA, multicast and the host's own addresses are not.
func Network(opts ...NetworkOption) Option {
	return option("Network", func(c *sandboxConfig) {
		for _, o := range opts {
			if o != nil {
				o.applyNet(&c.net)
			}
		}
	})
}

// Allow lets the sandbox reach these names ("example.com",
// "*.example.com"): with any, only the addresses the sandbox's resolver
// returned for them are reachable.
func Allow(names ...string) NetworkOption {
	return netFunc(func(n *networkConfig) { n.allow = append(n.allow, names...) })
}

// AllowCidr opens these ranges, even default-denied ones ("10.1.0.0/16");
// loopback and the host's own addresses only by their exact address.
func AllowCidr(cidrs ...string) NetworkOption {
	return netFunc(func(n *networkConfig) { n.allowCidr = append(n.allowCidr, cidrs...) })
}

// BlockCidr closes these ranges ("169.254.0.0/16", "10.0.0.0/8").
func BlockCidr(cidrs ...string) NetworkOption {
	return netFunc(func(n *networkConfig) { n.blockCidr = append(n.blockCidr, cidrs...) })
}

// AllowHostPort lets the guest reach TCP @ports ("11434") of the host's
// loopback (msb run --net-allow-host): a connection to the gateway
// (10.0.2.2, fd6d:7362::2, host.msb.internal) at PORT is made to
// 127.0.0.1:PORT. Loopback is otherwise closed.
func AllowHostPort(ports ...string) NetworkOption {
	return netFunc(func(n *networkConfig) { n.allowHost = append(n.allowHost, ports...) })
}

// DenyAll lets nothing leave but what Allow and AllowCidr open
// (air-gapped when given alone).
func DenyAll() NetworkOption {
	return netFunc(func(n *networkConfig) { n.denyAll = true })
}

// Nameserver is the "IP[:PORT]" ("[IPv6]:PORT") the sandbox's resolver
// asks (default: the host's first nameserver).
func Nameserver(addr string) NetworkOption {
	return netFunc(func(n *networkConfig) { n.nameserver = addr })
}

// NetPlugin loads a shared object written against msb_net_plugin.h into
// the sandbox's supervisor: C hooks on DNS, connections, HTTP requests
// and frames (msb run --net-plugin).
func NetPlugin(path string) NetworkOption {
	return netFunc(func(n *networkConfig) { n.plugin = path })
}

// DnsQuery is a name the guest asked for, as a DNS hook sees it.
type DnsQuery struct {
	Name string // "api.example.com"
	Type string // "A", "AAAA", ...
}

// DnsAction is a DNS hook's verdict.
type DnsAction int

const (
	DnsAllow DnsAction = iota // go on as the policy decided
	DnsDeny                   // answer NXDOMAIN
)

// HttpRequest is a guest's HTTP request, as an HTTP hook sees it.
type HttpRequest struct {
	Method, Host, Path string
	Header             map[string][]string
	Body               []byte
}

// HttpAction is an HTTP hook's verdict: HttpForward or HttpBlock.
type HttpAction struct {
	Block  bool
	Reason string
	Req    *HttpRequest
}

// HttpForward sends @req on (as it is, or changed).
func HttpForward(req *HttpRequest) HttpAction { return HttpAction{Req: req} }

// HttpBlock refuses the request with @reason.
func HttpBlock(reason string) HttpAction { return HttpAction{Block: true, Reason: reason} }

func notServed(what string) error {
	return newError("create", codeNotSupported, "%s", what)
}

// ---- plugins ------------------------------------------------------------------

// AuditLog is the audit-log built-in: JSON lines of lifecycle, exec,
// network and file events in Dir (docs/plugins.md).
type AuditLog struct {
	Dir string
	Fs  []string // file operations logged (default: open, create, ...)
}

// NewAuditLog is the audit-log built-in writing into @dir.
func NewAuditLog(dir string) *AuditLog { return &AuditLog{Dir: dir} }

// RateLimiter is the rate-limiter built-in: execs and new connections a
// second beyond which they are refused, and the bytes a second the
// guest's network carries each way at most (1024 to 10 GiB; 0 no limit).
type RateLimiter struct {
	ExecPerSec, ConnectPerSec float64
	BytesPerSec               float64
}

// NewRateLimiter limits execs to @execPerSec a second.
func NewRateLimiter(execPerSec float64) *RateLimiter {
	return &RateLimiter{ExecPerSec: execPerSec}
}

// Plugin adds a built-in plugin (*AuditLog, *RateLimiter) or an installed
// one (InstalledPlugin(name), or what InstallPlugin returned) to the
// sandbox's chain, asked in the order given with PluginProcess ones.
// Hooks written in Go are OnExec, OnExecExit and OnLifecycle (options of
// their own) and OnDns, OnConnect, OnHttp, OnHttpResponse and
// OnHttpResponseHead (Network options); anything else is refused with
// ErrNotSupported.
func Plugin(p any) Option {
	return option("Plugin", func(c *sandboxConfig) {
		switch v := p.(type) {
		case *AuditLog:
			var o []string
			if v.Dir != "" {
				dir, err := filepath.Abs(v.Dir)
				if err == nil {
					o = append(o, "dir="+dir)
				}
			}
			if len(v.Fs) > 0 {
				o = append(o, "fs="+strings.Join(v.Fs, "+"))
			}
			c.plugins = append(c.plugins, pluginSpec{builtin: "audit-log",
				options: strings.Join(o, ",")})
		case *RateLimiter:
			var o []string
			if v.ExecPerSec > 0 {
				o = append(o, fmt.Sprintf("exec=%g", v.ExecPerSec))
			}
			if v.ConnectPerSec > 0 {
				o = append(o, fmt.Sprintf("connect=%g", v.ConnectPerSec))
			}
			if v.BytesPerSec > 0 {
				o = append(o, "bytes="+strconv.FormatFloat(v.BytesPerSec, 'f', -1, 64))
			}
			c.plugins = append(c.plugins, pluginSpec{builtin: "rate-limiter",
				options: strings.Join(o, ",")})
		case *PluginInfo:
			c.plugins = append(c.plugins, pluginSpec{builtin: v.Name})
		default:
			c.refused = append(c.refused, notServed(fmt.Sprintf(
				"plugins (msb.Plugin(%T)) are not supported: the built-ins are "+
					"*msb.AuditLog and *msb.RateLimiter, an installed one is "+
					"msb.InstalledPlugin(name); hooks written in Go are "+
					"msb.OnExec, OnExecExit, OnLifecycle and, in msb.Network, "+
					"msb.OnDns, OnConnect, OnHttp, OnHttpResponse and "+
					"OnHttpResponseHead, and "+
					"msb.PluginProcess runs a command that speaks the hook "+
					"protocol (docs/plugins.md)", p)))
		}
	})
}

// PluginTimeout is each hook call's deadline (msb run --plugin-timeout;
// default 1 s): a call a plugin does not answer in time is refused.
func PluginTimeout(d time.Duration) Option {
	return option("PluginTimeout", func(c *sandboxConfig) { c.pluginTimeout = d })
}

// PluginRestarts is how often a plugin process that exits is started
// again (msb run --plugin-restarts; default 3, 0 never); then its hooks
// refuse.
func PluginRestarts(n uint) Option {
	return option("PluginRestarts", func(c *sandboxConfig) { c.pluginRestarts = &n })
}

// PluginProcess runs @command (with /bin/sh -c, in this program's
// current directory) as a plugin of the sandbox, speaking the hook
// protocol on descriptor 3 (docs/plugins.md); restarted when it exits.
func PluginProcess(command string) Option {
	return option("PluginProcess", func(c *sandboxConfig) {
		c.plugins = append(c.plugins, pluginSpec{command: command})
	})
}
