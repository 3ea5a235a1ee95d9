// SPDX-License-Identifier: Apache-2.0
// pluginregistry.js - the plugin registry (docs/plugins.md, "The registry")
//
//   const pub = await Plugins.publish('./my-plugin', { registry: '127.0.0.1:5000/plugins' });
//   const [hit] = await Plugins.search('deny', { registry });
//   await Plugins.install('msb-guard', { registry });
//   await Sandbox.create('guarded', { plugins: ['msb-guard'] });
//
// Plugins are published to any OCI registry as artifacts, found by
// search, installed under $MSB_HOME/plugins pinned by digest, and loaded
// by name (a string among a sandbox's `plugins`). A plugin registry is
// REGISTRY/NAMESPACE; without `registry`, $MSB_PLUGIN_REGISTRY's. libmsb
// does all of it (msb_plugin_*); these only hand it over.
'use strict';

const native = require('./native');
const { InvalidArgumentError } = require('./errors');

/** A plugin as published, found or installed (msb_plugin_info). */
class PluginInfo {
  constructor(n) {
    this.name = n.name;
    this.version = n.version;
    /** "process": a command speaking the hook protocol, run in its files. */
    this.kind = n.kind;
    /** Informative: "python", "node", "go"... */
    this.language = n.language;
    /** The hooks it asks for ("exec_before", "dns"...). */
    this.hooks = n.hooks ? n.hooks.split(',') : [];
    /** Run with /bin/sh -c in its files. */
    this.command = n.command;
    this.description = n.description;
    /** Published as, or installed from. */
    this.reference = n.reference;
    /** The artifact's manifest digest. */
    this.digest = n.digest;
    /** Installed: its files' directory, else "". */
    this.path = n.path;
    /** Bytes of its files, and how many. */
    this.size = n.size;
    this.files = n.files;
    /** When it was installed; null when it is not. */
    this.installedAt = n.installedAt ? new Date(n.installedAt * 1000) : null;
    /** Plugins.list(): its files still match their digests. */
    this.verified = n.verified;
  }
}

function str(v, what) {
  if (typeof v !== 'string') throw new InvalidArgumentError(`${what} is a string`);
  return v;
}

function registryOf(o) {
  for (const k of Object.keys(o)) {
    if (k !== 'registry') throw new InvalidArgumentError(`unknown plugin registry option '${k}' (registry)`);
  }
  return o.registry == null ? undefined : str(o.registry, 'a plugin registry (REGISTRY/NAMESPACE)');
}

/** The plugin registry and the installed plugins (msb plugin ...). */
class Plugins {
  /**
   * publish() - the plugin in directory @dir (its metadata in
   * dir/plugin.json: name, version, kind, hooks, language, command,
   * description; every other regular file under it is one of its files)
   * pushed to `registry` as NAME:VERSION and NAME:latest and entered in
   * its index (msb plugin publish).
   */
  static async publish(dir, options = {}) {
    return new PluginInfo(await native.pluginPublish(str(dir, 'a plugin directory'), registryOf(options)));
  }

  /**
   * search() - the entries of the registry's index whose name,
   * description, language, kind or hooks hold @query (case ignored; ""
   * for all), by name (msb plugin search).
   */
  static async search(query = '', options = {}) {
    const r = registryOf(options);
    return (await native.pluginSearch(r, str(query, 'a query'))).map((n) => new PluginInfo(n));
  }

  /**
   * install() - @what (NAME, NAME:VERSION or NAME@DIGEST in `registry`,
   * or a whole reference HOST/REPO:TAG) under $MSB_HOME/plugins, every
   * blob checked against its digest; an installed one of that name is
   * replaced (msb plugin install). NotFoundError when the registry has
   * no such plugin, WrongKindError when the reference holds something
   * else.
   */
  static async install(what, options = {}) {
    return new PluginInfo(await native.pluginInstall(str(what, 'a plugin'), registryOf(options)));
  }

  /** list() - the installed plugins, by name, each verified (`verified`). */
  static async list() {
    return (await native.pluginList()).map((n) => new PluginInfo(n));
  }

  /** inspect() - the installed plugin @name, verified: DamagedError when
   * its files no longer match its digest, NotFoundError when none of that
   * name is installed. */
  static async inspect(name) {
    return new PluginInfo(await native.pluginInspect(str(name, 'a plugin name')));
  }

  /** remove() - uninstall @name; sandboxes that load it then fail to
   * start, saying so. */
  static async remove(name) {
    await native.pluginRemove(str(name, 'a plugin name'));
  }
}

module.exports = { Plugins, PluginInfo };
