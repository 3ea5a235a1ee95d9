// SPDX-License-Identifier: Apache-2.0
// The ES module face of the package: the same objects as lib/index.js.
import cjs from './index.js';

export const {
  Sandbox, SandboxInfo, Metrics, Snapshot, SnapshotInfo, ImageInfo, SyncInfo, getRemote, setRemote,
  VolumeInfo, createVolume, getVolume, inspectVolume, listVolumes, removeVolume, NamedVolume,
  pullImage, loadImage, listImages, inspectImage, removeImage, saveImage, pruneImages, registryLogin, registryLogout,
  Project, Event, EventStream, EventSubscription, Process, ExecResult, OutputChunk, Files, FileInfo,
  HostDir, MemFs, PluginFs, FileSystemBackend, PassthroughFs, Secret, DnsAction, ExecAction, AuditLog, RateLimiter, Plugin, Plugins, PluginInfo, Runtime, Peer, PeerInfo, PeerSnapshotInfo, forward, block,
  splitCommand, home, validName, version,
  MicrosandboxError, NotFoundError, AlreadyExistsError, InvalidArgumentError, SandboxfileError, NotRunningError,
  AlreadyInStateError, BusyError, TimeoutError, SandboxStoppedError, PermissionDeniedError,
  ProtocolError, ImagePullFailedError, ImageNotFoundError, BootFailedError, PolicyRefusedError,
  ExecFailedError, DamagedError, SnapshotDamagedError, WrongKindError, ConflictError, NotSupportedError, ClosedError, LibraryNotFoundError,
  FileError, CommandError,
} = cjs;
export default cjs;
