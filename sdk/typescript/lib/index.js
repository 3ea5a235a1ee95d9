// SPDX-License-Identifier: Apache-2.0
// microsandbox: every agent gets its own microVM.
//
//   const { Sandbox } = require('microsandbox');
//   const sb = await Sandbox.create('worker', { image: 'node:20',
//     network: { allow: ['api.openai.com'], blockCidr: ['10.0.0.0/8'] } });
//   const r = await sb.exec('node -e "console.log(1)"');
//
// A binding of libmsb, the C library the `msb` command line is made of
// (include/msb.h), through a Node-API addon (native/): nothing a sandbox
// does is re-implemented here. Types: index.d.ts.
'use strict';

const native = require('./native');
const errors = require('./errors');
const config = require('./config');
const sandbox = require('./sandbox');
const proc = require('./process');
const files = require('./files');
const project = require('./project');
const events = require('./events');
const hooks = require('./hooks');
const plugin = require('./plugin');
const pluginRegistry = require('./pluginregistry');
const runtime = require('./runtime');
const { splitCommand } = require('./shellwords');

/** The state directory: $MSB_HOME or ~/.microsandbox. */
function home() {
  return native.home();
}

/** validName() - throws InvalidArgumentError, saying why, unless @name is
 * a sandbox name (1-63 of [a-zA-Z0-9_.-], starting with a letter or digit). */
function validName(name) {
  native.nameValid(name);
}

module.exports = {
  Sandbox: sandbox.Sandbox,
  SandboxInfo: sandbox.SandboxInfo,
  Metrics: sandbox.Metrics,
  Snapshot: sandbox.Snapshot,
  SnapshotInfo: sandbox.SnapshotInfo,
  ImageInfo: sandbox.ImageInfo,
  SyncInfo: sandbox.SyncInfo,
  VolumeInfo: sandbox.VolumeInfo,
  createVolume: sandbox.createVolume,
  getVolume: sandbox.getVolume,
  inspectVolume: sandbox.inspectVolume,
  listVolumes: sandbox.listVolumes,
  removeVolume: sandbox.removeVolume,
  NamedVolume: config.NamedVolume,
  getRemote: sandbox.getRemote,
  setRemote: sandbox.setRemote,
  pullImage: sandbox.pullImage,
  loadImage: sandbox.loadImage,
  listImages: sandbox.listImages,
  inspectImage: sandbox.inspectImage,
  removeImage: sandbox.removeImage,
  saveImage: sandbox.saveImage,
  pruneImages: sandbox.pruneImages,
  registryLogin: sandbox.registryLogin,
  registryLogout: sandbox.registryLogout,
  Project: project.Project,
  Event: events.Event,
  EventStream: events.EventStream,
  EventSubscription: events.EventSubscription,
  Process: proc.Process,
  ExecResult: proc.ExecResult,
  OutputChunk: proc.OutputChunk,
  Files: files.Files,
  FileInfo: files.FileInfo,
  HostDir: config.HostDir,
  MemFs: config.MemFs,
  PluginFs: config.PluginFs,
  FileSystemBackend: config.FileSystemBackend,
  PassthroughFs: config.PassthroughFs,
  Secret: config.Secret,
  DnsAction: config.DnsAction,
  ExecAction: hooks.ExecAction,
  AuditLog: hooks.AuditLog,
  RateLimiter: hooks.RateLimiter,
  Plugin: plugin.Plugin,
  Plugins: pluginRegistry.Plugins,
  PluginInfo: pluginRegistry.PluginInfo,
  Runtime: runtime.Runtime,
  Peer: runtime.Peer,
  PeerInfo: runtime.PeerInfo,
  PeerSnapshotInfo: runtime.PeerSnapshotInfo,
  forward: config.forward,
  block: config.block,
  splitCommand,
  home,
  validName,
  ...Object.fromEntries(Object.entries(errors).filter(([k]) => k !== 'fromCode')),
  version: '0.1.0',
};
