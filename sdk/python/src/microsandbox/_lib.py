# SPDX-License-Identifier: Apache-2.0
"""libmsb through ctypes: finding the library, its structs and prototypes.

Everything a sandbox does is done by libmsb (include/msb.h); this module
only describes its ABI to Python. The structs below mirror msb.h field for
field, and are checked against the library's own sizes (msb_abi_sizeof)
when it is loaded, so a library newer than this module is a clear error,
never memory written past an end.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
import sys
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double,
                    c_int, c_int64, c_size_t, c_uint, c_uint16, c_uint32,
                    c_uint64, c_void_p)

from .errors import LibraryNotFound

c_str_array = POINTER(c_char_p)


class MsbError(Structure):
    _fields_ = [("code", c_int), ("message", c_char * 1024)]


class NetConfig(Structure):
    _fields_ = [("deny_all", c_int), ("allow", c_str_array),
                ("allow_cidr", c_str_array), ("block_cidr", c_str_array),
                ("dns_nameserver", c_char_p), ("ports", c_str_array),
                ("plugin", c_char_p), ("allow_host", c_str_array)]


VOLUME_HOST, VOLUME_MEMORY, VOLUME_PLUGIN, VOLUME_NAMED = 0, 1, 2, 3
SAVE_OCI, SAVE_DOCKER = 0, 1


class Volume(Structure):
    _fields_ = [("kind", c_int), ("guest_path", c_char_p), ("source", c_char_p),
                ("arg", c_char_p), ("dir", c_char_p), ("size_mib", c_uint64),
                ("readonly", c_int), ("direct_io", c_int),
                ("overlay_mib", c_uint64), ("cache", c_int),
                ("cache_timeout_ms", c_uint32)]


SECRET_ENV, SECRET_FILE, SECRET_VALUE = 0, 1, 2


class Secret(Structure):
    _fields_ = [("env", c_char_p), ("source", c_int), ("ref", c_char_p),
                ("hosts", c_char_p), ("inject", c_char_p)]


class SandboxConfig(Structure):
    _fields_ = [("name", c_char_p), ("image", c_char_p), ("cpus", c_uint),
                ("memory_mib", c_uint64), ("disk_mib", c_uint64),
                ("env", c_str_array), ("workdir", c_char_p),
                ("boot_timeout_ms", c_uint),
                ("cmd", c_str_array), ("net", NetConfig), ("ephemeral", c_int),
                ("kernel", c_char_p), ("user", c_char_p),
                ("entrypoint", c_str_array), ("image_cmd", c_int),
                ("volumes", POINTER(Volume)), ("nvolumes", c_size_t),
                ("secrets", POINTER(Secret)), ("nsecrets", c_size_t),
                ("on_secret_violation", c_char_p), ("tls_bypass", c_str_array),
                ("ntls_bypass", c_size_t), ("tls_upstream_ca", c_str_array),
                ("ntls_upstream_ca", c_size_t)]


class SandboxInfo(Structure):
    _fields_ = [("name", c_char * 64), ("image", c_char * 256),
                ("status", c_char * 16), ("cpus", c_uint),
                ("memory_mib", c_uint64), ("pid", c_int),
                ("created_at", c_int64), ("started_at", c_int64),
                ("stopped_at", c_int64), ("error", c_char * 512),
                ("cmd_state", c_int), ("cmd_exit_code", c_int),
                ("from_snapshot", c_char * 64)]


class SnapshotInfo(Structure):
    _fields_ = [("name", c_char * 64), ("source", c_char * 64),
                ("kind", c_char * 8), ("reason", c_char * 192),
                ("image", c_char * 256), ("cpus", c_uint),
                ("memory_mib", c_uint64), ("created_at", c_int64),
                ("ram_bytes", c_uint64), ("disk_bytes", c_uint64),
                ("size_bytes", c_uint64), ("users", c_uint)]


class RestoreOpts(Structure):
    _fields_ = [("name", c_char_p), ("env", c_str_array), ("cpus", c_uint),
                ("memory_mib", c_uint64), ("disk_only", c_int),
                ("ephemeral", c_int), ("boot_timeout_ms", c_uint)]


class Stats(Structure):
    _fields_ = [("name", c_char * 64), ("status", c_char * 16),
                ("running", c_int), ("guest", c_int), ("cpus", c_uint),
                ("memory_limit_bytes", c_uint64), ("uptime_ms", c_uint64),
                ("cpu_percent", c_double), ("cpu_time_ns", c_uint64),
                ("memory_rss_bytes", c_uint64), ("memory_used_bytes", c_uint64),
                ("memory_total_bytes", c_uint64), ("disk_bytes", c_uint64),
                ("disk_used_bytes", c_uint64), ("disk_total_bytes", c_uint64),
                ("net_rx_bytes", c_uint64), ("net_tx_bytes", c_uint64),
                ("net_rx_packets", c_uint64), ("net_tx_packets", c_uint64),
                ("processes", c_uint64)]


class ExecOpts(Structure):
    _fields_ = [("env", c_str_array), ("workdir", c_char_p), ("user", c_char_p),
                ("tty", c_int), ("rows", c_uint), ("cols", c_uint),
                ("stdin", c_int), ("main", c_int), ("timeout_ms", c_uint)]


EXEC_STARTED, EXEC_STDOUT, EXEC_STDERR, EXEC_EXIT = 1, 2, 3, 4
EXEC_PAUSED, EXEC_RESUMED = 5, 6  # the sandbox paused (host disk full) / runs again


class ExecEvent(Structure):
    _fields_ = [("type", c_int), ("data", c_void_p), ("len", c_size_t),
                ("pid", c_int), ("exit_code", c_int), ("signal", c_int),
                ("timed_out", c_int)]


class Event(Structure):
    _fields_ = [("seq", c_uint64), ("time", ctypes.c_double),
                ("source", c_char_p), ("topic", c_char_p), ("data", c_char_p),
                ("json", c_char_p), ("dropped", c_uint64)]


class Output(Structure):
    _fields_ = [("out", c_void_p), ("err", c_void_p), ("out_len", c_size_t),
                ("err_len", c_size_t), ("exit_code", c_int), ("signal", c_int),
                ("timed_out", c_int)]


class FileInfo(Structure):
    _fields_ = [("name", c_char * 4096), ("type", c_int), ("mode", c_uint32),
                ("uid", c_uint32), ("gid", c_uint32), ("nlink", c_uint32),
                ("size", c_uint64), ("mtime", c_int64), ("mtime_nsec", c_uint32),
                ("link", c_char * 4096)]


class FileOpts(Structure):
    _fields_ = [("user", c_char_p), ("mode", c_uint), ("parents", c_int),
                ("recursive", c_int), ("exclusive", c_int), ("append", c_int),
                ("nofollow", c_int)]


FILE_READ, FILE_WRITE, FILE_LIST = 1, 2, 3
FILE_DATA, FILE_ENTRY, FILE_DONE = 1, 2, 3


class FileEvent(Structure):
    _fields_ = [("type", c_int), ("data", c_void_p), ("len", c_size_t),
                ("entry", POINTER(FileInfo)), ("size", c_uint64)]


class Port(Structure):
    _fields_ = [("host_ip", c_char * 64), ("host_port", c_uint16),
                ("guest_port", c_uint16)]


PROGRESS_FN = CFUNCTYPE(None, c_void_p, c_char_p, c_uint64, c_uint64)


class CopyOpts(Structure):
    _fields_ = [("user", c_char_p), ("progress", PROGRESS_FN), ("ctx", c_void_p)]


class PullProgress(Structure):
    _fields_ = [("phase", c_char_p), ("digest", c_char_p), ("done", c_uint64),
                ("total", c_uint64), ("index", c_uint), ("count", c_uint)]


PULL_PROGRESS_FN = CFUNCTYPE(None, c_void_p, POINTER(PullProgress))


class PullOpts(Structure):
    _fields_ = [("insecure", c_int), ("progress", PULL_PROGRESS_FN),
                ("ctx", c_void_p)]


class LoginOpts(Structure):
    _fields_ = [("insecure", c_int)]


class ImageInfo(Structure):
    _fields_ = [("reference", c_char * 600), ("canonical", c_char * 600),
                ("digest", c_char * 80), ("id", c_char * 80),
                ("size", c_uint64), ("layers", c_uint), ("pulled_at", c_int64),
                ("fetched", c_uint), ("builtin", c_int)]


class LoadOpts(Structure):
    _fields_ = [("tag", c_char_p), ("progress", PULL_PROGRESS_FN),
                ("ctx", c_void_p)]


class SyncProgress(Structure):
    _fields_ = [("phase", c_char_p), ("done", c_uint64), ("total", c_uint64),
                ("chunks_done", c_uint), ("chunks_total", c_uint),
                ("image", POINTER(PullProgress))]


SYNC_PROGRESS_FN = CFUNCTYPE(None, c_void_p, POINTER(SyncProgress))


class SyncOpts(Structure):
    _fields_ = [("ref", c_char_p), ("name", c_char_p), ("insecure", c_int),
                ("force", c_int), ("trust", c_int),
                ("progress", SYNC_PROGRESS_FN), ("ctx", c_void_p)]


class SyncInfo(Structure):
    _fields_ = [("name", c_char * 64), ("reference", c_char * 600),
                ("digest", c_char * 80), ("parent", c_char * 80),
                ("disk_bytes", c_uint64), ("chunks", c_uint),
                ("transferred", c_uint), ("bytes", c_uint64),
                ("reused", c_uint), ("up_to_date", c_int),
                ("dropped", c_char * 256)]


class ProjectEvent(Structure):
    _fields_ = [("sandbox", c_char_p), ("name", c_char_p), ("what", c_char_p),
                ("ms", c_uint64), ("detail", c_char_p)]


PROJECT_PROGRESS_FN = CFUNCTYPE(None, c_void_p, POINTER(ProjectEvent))


class ProjectOpts(Structure):
    _fields_ = [("only", c_str_array), ("stop_timeout_s", c_uint),
                ("volumes", c_int), ("progress", PROJECT_PROGRESS_FN),
                ("ctx", c_void_p)]


class ProjectEntry(Structure):
    _fields_ = [("key", c_char * 64), ("name", c_char * 64),
                ("status", c_char * 16), ("state", c_char * 16),
                ("image", c_char * 256)]


class VolumeInfo(Structure):
    _fields_ = [("name", c_char * 64), ("size_mib", c_uint64),
                ("used_bytes", c_uint64), ("created_at", c_int64),
                ("project", c_char * 64), ("path", c_char * 1024),
                ("users", c_uint), ("running", c_uint)]


class PluginInfo(Structure):
    _fields_ = [("name", c_char * 64), ("version", c_char * 64),
                ("kind", c_char * 16), ("language", c_char * 32),
                ("hooks", c_char * 256), ("command", c_char * 1024),
                ("description", c_char * 256), ("reference", c_char * 700),
                ("digest", c_char * 80), ("path", c_char * 1024),
                ("size", c_uint64), ("files", c_uint),
                ("installed_at", c_int64), ("verified", c_int)]


# Every struct this module lays out, by its C name.
STRUCTS = {
    "msb_error": MsbError, "msb_net_config": NetConfig, "msb_volume": Volume,
    "msb_secret": Secret, "msb_sandbox_config": SandboxConfig,
    "msb_sandbox_info": SandboxInfo, "msb_snapshot_info": SnapshotInfo,
    "msb_restore_opts": RestoreOpts, "msb_stats": Stats,
    "msb_exec_opts": ExecOpts, "msb_exec_event": ExecEvent, "msb_output": Output,
    "msb_file_info": FileInfo, "msb_file_opts": FileOpts,
    "msb_file_event": FileEvent, "msb_copy_opts": CopyOpts, "msb_port": Port,
    "msb_pull_progress": PullProgress, "msb_pull_opts": PullOpts,
    "msb_image_info": ImageInfo, "msb_load_opts": LoadOpts,
    "msb_sync_progress": SyncProgress, "msb_sync_opts": SyncOpts,
    "msb_sync_info": SyncInfo, "msb_project_event": ProjectEvent,
    "msb_project_opts": ProjectOpts, "msb_project_entry": ProjectEntry,
    "msb_event": Event, "msb_plugin_info": PluginInfo,
    "msb_volume_info": VolumeInfo, "msb_login_options": LoginOpts,
}

_E = POINTER(MsbError)
_P = c_void_p  # opaque handles: msb_sandbox *, msb_exec *, msb_file *

# name: (restype, argtypes)
PROTOTYPES = {
    "msb_abi_sizeof": (c_size_t, [c_char_p]),
    "msb_error_name": (c_char_p, [c_int]),
    "msb_name_valid": (c_int, [c_char_p, _E]),
    "msb_parse_memory": (c_int, [c_char_p, POINTER(c_uint64), _E]),
    "msb_tls_ca_read": (c_int, [c_char_p, POINTER(c_void_p), _E]),
    "msb_sandbox_config_init": (None, [POINTER(SandboxConfig)]),
    "msb_sandbox_create": (c_int, [POINTER(SandboxConfig), POINTER(_P), _E]),
    "msb_sandbox_start": (c_int, [c_char_p, POINTER(_P), _E]),
    "msb_sandbox_open": (c_int, [c_char_p, POINTER(_P), _E]),
    "msb_sandbox_stop": (c_int, [c_char_p, c_uint, POINTER(c_uint64), _E]),
    "msb_sandbox_remove": (c_int, [c_char_p, c_int, _E]),
    "msb_sandbox_stop_sync": (c_int, [c_char_p, c_uint, POINTER(SyncOpts),
                                      POINTER(SyncInfo), POINTER(c_uint64), _E]),
    "msb_sandbox_push": (c_int, [c_char_p, POINTER(SyncOpts), POINTER(SyncInfo), _E]),
    "msb_sandbox_pull": (c_int, [c_char_p, POINTER(SyncOpts), POINTER(SyncInfo), _E]),
    "msb_snapshot_push": (c_int, [c_char_p, POINTER(SyncOpts), POINTER(SyncInfo), _E]),
    "msb_snapshot_pull": (c_int, [c_char_p, POINTER(SyncOpts), POINTER(SyncInfo), _E]),
    "msb_snapshot_rename": (c_int, [c_char_p, c_char_p, _E]),
    "msb_sandbox_set_sync": (c_int, [c_char_p, c_int, _E]),
    "msb_plugins_new": (_P, []),
    "msb_plugins_free": (None, [_P]),
    "msb_plugins_add": (c_int, [_P, c_char_p, c_char_p, _E]),
    "msb_plugin_publish": (c_int, [c_char_p, c_char_p, POINTER(PluginInfo), _E]),
    "msb_plugin_install": (c_int, [c_char_p, c_char_p, POINTER(PluginInfo), _E]),
    "msb_plugin_search": (c_int, [c_char_p, c_char_p, POINTER(POINTER(PluginInfo)),
                                  POINTER(c_size_t), _E]),
    "msb_plugin_list": (c_int, [POINTER(POINTER(PluginInfo)), POINTER(c_size_t), _E]),
    "msb_plugin_inspect": (c_int, [c_char_p, POINTER(PluginInfo), _E]),
    "msb_plugin_remove": (c_int, [c_char_p, _E]),
    "msb_plugins_add_process": (c_int, [_P, c_char_p, _E]),
    "msb_plugins_add_socket": (c_int, [_P, c_char_p, _E]),
    "msb_plugins_set_timeout": (None, [_P, c_uint]),
    "msb_plugins_set_restarts": (None, [_P, c_uint]),
    "msb_sandbox_create_with_plugins": (c_int, [POINTER(SandboxConfig), _P,
                                                POINTER(_P), _E]),
    "msb_spawn_policy_new": (_P, [c_uint]),
    "msb_spawn_policy_free": (None, [_P]),
    "msb_spawn_policy_add_image": (c_int, [_P, c_char_p, _E]),
    "msb_spawn_policy_set_limits": (None, [_P, c_uint, c_uint64, c_uint64]),
    "msb_sandbox_create_full": (c_int, [POINTER(SandboxConfig), _P, _P,
                                        POINTER(_P), _E]),
    "msb_sandbox_parent": (c_int, [c_char_p, c_char_p, c_size_t, _E]),
    "msb_remote_get": (c_int, [c_char_p, c_size_t, POINTER(c_int), _E]),
    "msb_remote_set": (c_int, [c_char_p, c_int, _E]),
    "msb_sandbox_name": (c_char_p, [_P]),
    "msb_sandbox_boot_ms": (c_uint64, [_P]),
    "msb_sandbox_close": (None, [_P]),
    "msb_list": (c_int, [POINTER(POINTER(SandboxInfo)), POINTER(c_size_t), _E]),
    "msb_sandbox_info_get": (c_int, [c_char_p, POINTER(SandboxInfo), _E]),
    "msb_inspect_json": (c_int, [c_char_p, POINTER(c_void_p), _E]),
    "msb_sandbox_logs_path": (c_int, [c_char_p, c_char_p, c_size_t, _E]),
    "msb_sandbox_ports": (c_int, [c_char_p, POINTER(POINTER(Port)),
                                  POINTER(c_size_t), _E]),
    "msb_sandbox_wait": (c_int, [c_char_p, c_uint, POINTER(c_int), _E]),
    "msb_home": (c_char_p, []),
    "msb_sandbox_stats": (c_int, [c_char_p, POINTER(Stats), _E]),
    "msb_stats_list": (c_int, [c_int, POINTER(POINTER(Stats)), POINTER(c_size_t), _E]),
    "msb_snapshot_create": (c_int, [c_char_p, c_char_p, POINTER(SnapshotInfo), _E]),
    "msb_restore_opts_init": (None, [POINTER(RestoreOpts)]),
    "msb_snapshot_restore": (c_int, [c_char_p, POINTER(RestoreOpts), POINTER(_P), _E]),
    "msb_snapshot_info_get": (c_int, [c_char_p, POINTER(SnapshotInfo), _E]),
    "msb_snapshot_remove": (c_int, [c_char_p, c_int, _E]),
    "msb_snapshot_list": (c_int, [POINTER(POINTER(SnapshotInfo)),
                                  POINTER(c_size_t), _E]),
    "msb_snapshot_inspect_json": (c_int, [c_char_p, POINTER(c_void_p), _E]),
    "msb_exec_start": (c_int, [_P, c_str_array, POINTER(ExecOpts), POINTER(_P), _E]),
    "msb_exec_fd": (c_int, [_P]),
    "msb_events_open": (c_int, [c_char_p, c_char_p, ctypes.c_int64, c_int,
                                POINTER(_P), _E]),
    "msb_events_fd": (c_int, [_P]),
    "msb_events_next": (c_int, [_P, POINTER(Event), c_int, _E]),
    "msb_events_next_seq": (c_uint64, [_P]),
    "msb_events_free": (None, [_P]),
    "msb_event_send": (c_int, [c_char_p, c_char_p, c_char_p,
                               POINTER(c_uint64), _E]),
    "msb_exec_next": (c_int, [_P, POINTER(ExecEvent), c_int, _E]),
    "msb_exec_write": (c_int, [_P, c_void_p, c_size_t, _E]),
    "msb_exec_close_stdin": (c_int, [_P, _E]),
    "msb_exec_signal": (c_int, [_P, c_int, _E]),
    "msb_exec_resize": (c_int, [_P, c_uint, c_uint, _E]),
    "msb_exec_free": (None, [_P]),
    "msb_exec_detach": (c_int, [_P, c_str_array, POINTER(ExecOpts),
                                POINTER(c_int), _E]),
    "msb_file_open": (c_int, [_P, c_int, c_char_p, POINTER(FileOpts), POINTER(_P), _E]),
    "msb_file_fd": (c_int, [_P]),
    "msb_file_next": (c_int, [_P, POINTER(FileEvent), c_int, _E]),
    "msb_file_write": (c_int, [_P, c_void_p, c_size_t, _E]),
    "msb_file_close_write": (c_int, [_P, _E]),
    "msb_file_free": (None, [_P]),
    "msb_file_read_all": (c_int, [_P, c_char_p, POINTER(FileOpts), POINTER(c_void_p),
                                  POINTER(c_size_t), _E]),
    "msb_file_write_all": (c_int, [_P, c_char_p, c_void_p, c_size_t,
                                   POINTER(FileOpts), _E]),
    "msb_file_stat": (c_int, [_P, c_char_p, POINTER(FileOpts), POINTER(FileInfo), _E]),
    "msb_file_exists": (c_int, [_P, c_char_p, POINTER(FileOpts), _E]),
    "msb_file_list": (c_int, [_P, c_char_p, POINTER(FileOpts),
                              POINTER(POINTER(FileInfo)), POINTER(c_size_t), _E]),
    "msb_file_mkdir": (c_int, [_P, c_char_p, POINTER(FileOpts), _E]),
    "msb_file_remove": (c_int, [_P, c_char_p, POINTER(FileOpts), _E]),
    "msb_file_rename": (c_int, [_P, c_char_p, c_char_p, POINTER(FileOpts), _E]),
    "msb_file_symlink": (c_int, [_P, c_char_p, c_char_p, POINTER(FileOpts), _E]),
    "msb_copy_in": (c_int, [_P, c_char_p, c_char_p, POINTER(CopyOpts), _E]),
    "msb_copy_out": (c_int, [_P, c_char_p, c_char_p, POINTER(CopyOpts), _E]),
    "msb_image_pull": (c_int, [c_char_p, POINTER(PullOpts), POINTER(ImageInfo), _E]),
    "msb_image_load": (c_int, [c_char_p, POINTER(LoadOpts), POINTER(ImageInfo), _E]),
    "msb_image_list": (c_int, [POINTER(POINTER(ImageInfo)), POINTER(c_size_t), _E]),
    "msb_image_remove": (c_int, [c_char_p, _E]),
    "msb_image_inspect_json": (c_int, [c_char_p, POINTER(c_void_p), _E]),
    "msb_image_save": (c_int, [c_char_p, c_char_p, c_int, _E]),
    "msb_image_prune": (c_int, [POINTER(c_uint64), POINTER(c_uint), _E]),
    "msb_registry_login": (c_int, [c_char_p, c_char_p, c_char_p, _E]),
    "msb_registry_login_with": (c_int, [c_char_p, c_char_p, c_char_p,
                                        POINTER(LoginOpts), _E]),
    "msb_registry_logout": (c_int, [c_char_p, _E]),
    "msb_volume_create": (c_int, [c_char_p, c_uint64, POINTER(VolumeInfo), _E]),
    "msb_volume_list": (c_int, [POINTER(POINTER(VolumeInfo)), POINTER(c_size_t),
                                _E]),
    "msb_volume_info_get": (c_int, [c_char_p, POINTER(VolumeInfo), _E]),
    "msb_volume_inspect_json": (c_int, [c_char_p, POINTER(c_void_p), _E]),
    "msb_volume_remove": (c_int, [c_char_p, c_int, _E]),
    "msb_project_load": (c_int, [c_char_p, POINTER(c_void_p), _E]),
    "msb_project_parse": (c_int, [c_char_p, c_size_t, c_char_p,
                                  POINTER(c_void_p), _E]),
    "msb_project_free": (None, [_P]),
    "msb_project_name": (c_char_p, [_P]),
    "msb_project_file": (c_char_p, [_P]),
    "msb_project_count": (c_size_t, [_P]),
    "msb_project_sandbox": (c_char_p, [_P, c_size_t, POINTER(c_char_p)]),
    "msb_project_config_json": (c_int, [_P, POINTER(c_void_p), _E]),
    "msb_project_script": (c_int, [_P, c_char_p, c_char_p,
                                   POINTER(c_str_array), _E]),
    "msb_project_opts_init": (None, [POINTER(ProjectOpts)]),
    "msb_project_up": (c_int, [_P, POINTER(ProjectOpts), _E]),
    "msb_project_down": (c_int, [_P, POINTER(ProjectOpts), _E]),
    "msb_project_stop": (c_int, [_P, POINTER(ProjectOpts), _E]),
    "msb_project_restart": (c_int, [_P, POINTER(ProjectOpts), _E]),
    "msb_project_ps": (c_int, [_P, POINTER(POINTER(ProjectEntry)),
                               POINTER(c_size_t), _E]),
}

_HINT = ("install microsandbox (./setup in its repository installs libmsb "
         "under /usr/local), or point MSB_LIB at libmsb.so.0, or "
         "PKG_CONFIG_PATH at the directory holding libmsb.pc")


def _candidates() -> list[str]:
    """Where libmsb may be, in the order it is looked for."""
    found = []
    env = os.environ.get("MSB_LIB")
    if env:
        return [env]  # asked for: that one or none
    pkg = shutil.which("pkg-config")
    if pkg:
        try:
            libdir = subprocess.run([pkg, "--variable=libdir", "libmsb"],
                                    capture_output=True, text=True, timeout=10,
                                    check=True).stdout.strip()
            if libdir:
                found.append(os.path.join(libdir, "libmsb.so.0"))
        except (subprocess.SubprocessError, OSError):
            pass
    for prefix in dict.fromkeys((sys.prefix, "/usr/local", "/usr")):
        found.append(os.path.join(prefix, "lib", "libmsb.so.0"))
    name = ctypes.util.find_library("msb")
    if name:
        found.append(name)
    return found


def _load() -> ctypes.CDLL:
    tried = []
    for path in _candidates():
        if os.path.sep in path and not os.path.exists(path):
            tried.append(f"{path} (no such file)")
            continue
        try:
            lib = ctypes.CDLL(path)
            break
        except OSError as e:
            tried.append(f"{path} ({e})")
    else:
        raise LibraryNotFound(
            "libmsb, the microsandbox C library, was not found: " + _HINT +
            ". Looked at: " + "; ".join(tried))
    for name, (res, args) in PROTOTYPES.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            raise LibraryNotFound(
                f"{path} has no {name}(): it is older than this SDK; "
                "install a matching microsandbox") from None
        fn.restype = res
        fn.argtypes = args
    for cname, struct in STRUCTS.items():
        size = lib.msb_abi_sizeof(cname.encode())
        if size != ctypes.sizeof(struct):
            raise LibraryNotFound(
                f"{path}: struct {cname} is {size} bytes, this SDK lays out "
                f"{ctypes.sizeof(struct)}: the library and the SDK are of "
                "different versions; install a matching microsandbox")
    lib.path = path
    return lib


_lib: ctypes.CDLL | None = None


def lib() -> ctypes.CDLL:
    """libmsb, loaded once, on first use."""
    global _lib
    if _lib is None:
        _lib = _load()
    return _lib


# free() of what libmsb hands over (msb_list, msb_file_read_all, ...).
_libc = ctypes.CDLL(None)
_libc.free.argtypes = [c_void_p]
_libc.free.restype = None


def free(p) -> None:
    _libc.free(ctypes.cast(p, c_void_p))


class StrArray:
    """A NULL-terminated ``char **`` of @items, alive as long as this is;
    ``ptr`` is what a struct field or an argument takes."""

    def __init__(self, items):
        self._enc = [s.encode() if isinstance(s, str) else bytes(s)
                     for s in items]
        self._arr = (c_char_p * (len(self._enc) + 1))(*self._enc, None)
        self.ptr = ctypes.cast(self._arr, c_str_array)
        self.count = len(self._enc)


def strv(items) -> StrArray | None:
    return None if items is None else StrArray(items)


def cstr(s: str | None) -> bytes | None:
    return None if s is None else s.encode()


def text(b: bytes) -> str:
    return b.decode("utf-8", "replace")
