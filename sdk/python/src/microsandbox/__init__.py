# SPDX-License-Identifier: Apache-2.0
"""microsandbox: every agent gets its own microVM.

    from microsandbox import Sandbox, Network, MemFs

    sb = await Sandbox.create("agent", image="python:3.12",
        secrets={"OPENAI_API_KEY": (key, "api.openai.com")},
        network=Network(allow=["api.openai.com"], block_cidr=["10.0.0.0/8"]),
        volumes={"/data": "./data", "/cache": MemFs()})
    result = await sb.exec("pip install numpy")
    print(result.exit_code, result.stdout)

A binding of libmsb, the C library the ``msb`` command line is made of
(include/msb.h): nothing a sandbox does is re-implemented here.
"""

from .cloud import SyncInfo, SyncProgress, remote, set_remote
from .config import (AuditLog, ConnectAction, ConnectRequest, DnsAction,
                     ExecAction, ExecCall, ExecExit, FileSystemBackend,
                     HostDir, HttpAction, HttpResponseHead, LifecycleEvent,
                     MemFs, NamedVolume, Network, Passthrough, PluginFs,
                     RateLimiter, Secret)
from .errors import (AlreadyExists, AlreadyInState, BootFailed, Busy,
                     CommandError, ExecFailed, ExecTimeout, FileError,
                     ImageNotFound, ImagePullFailed, InvalidArgument,
                     LibraryNotFound, MicrosandboxError, NotFound, NotRunning,
                     NotSupported, PermissionDenied, PolicyRefused,
                     ProtocolError, SandboxfileError, SandboxStopped,
                     Damaged, SnapshotDamaged, SyncConflict, Timeout, WrongKind)
from .events import Event, EventStream
from .files import CopyProgress, FileInfo, Files
from .images import (Image, ImageInfo, PruneResult, PullProgress,
                     registry_login, registry_logout)
from .plugins import PluginInfo, Plugins
from .process import ExecResult, OutputChunk, Process
from .project import Project, ProjectEntry, ProjectEvent
from .volumes import Volume, VolumeInfo
from .sandbox import (Metrics, Port, Sandbox, SandboxInfo, Snapshot,
                      SnapshotInfo)

__version__ = "0.1.0"

__all__ = [
    "Sandbox", "SandboxInfo", "Event", "EventStream", "Project", "ProjectEntry", "ProjectEvent", "Snapshot", "SnapshotInfo", "Metrics", "Port",
    "Image", "ImageInfo", "PullProgress", "PruneResult", "registry_login",
    "registry_logout", "SyncInfo", "SyncProgress",
    "remote", "set_remote", "ExecResult", "Process",
    "OutputChunk", "Files", "FileInfo", "CopyProgress", "Network", "DnsAction", "ConnectAction",
    "ConnectRequest", "HttpAction", "HttpResponseHead",
    "ExecAction", "ExecCall", "ExecExit", "LifecycleEvent",
    "HostDir", "MemFs", "PluginFs", "NamedVolume", "Volume", "VolumeInfo", "FileSystemBackend", "Passthrough",
    "AuditLog", "RateLimiter", "Plugins", "PluginInfo", "Secret",
    "MicrosandboxError", "LibraryNotFound", "NotFound", "AlreadyExists",
    "InvalidArgument", "NotRunning", "AlreadyInState", "Busy", "Timeout",
    "SandboxStopped", "PermissionDenied", "ImagePullFailed", "ImageNotFound",
    "BootFailed", "PolicyRefused", "ExecFailed", "ProtocolError", "FileError",
    "Damaged", "SnapshotDamaged", "WrongKind", "SandboxfileError", "SyncConflict",
    "NotSupported", "CommandError", "ExecTimeout", "library_path",
]


def library_path() -> str:
    """Where the libmsb in use was found."""
    from . import _lib
    return _lib.lib().path
