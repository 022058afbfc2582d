import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CairnError, findDotCairn, writeFileAtomic, type ObjectBackend } from '@cairn/store';
import type { GlobalArgs } from './context.js';

/*
 * Remotes as `.cairn/config.yaml` keeps them:
 *
 *   remotes:
 *     origin:
 *       url: s3://bucket/prefix
 *       endpoint: http://127.0.0.1:9000   # optional
 *   default-remote: origin
 *
 * Only names, URLs and endpoints: credentials come from the AWS environment
 * when a remote is opened and are never written here.
 */

export interface RemoteEntry {
  name: string;
  url: string;
  endpoint?: string;
  default: boolean;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkRemoteName(name: string): void {
  if (!NAME.test(name)) {
    throw new CairnError('BAD_INPUT', `invalid remote name '${name.slice(0, 100)}'`, { hint: "use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit" });
  }
}

/**
 * The config.yaml remotes live in: the store's own with --store or
 * CAIRN_STORE, else that of the nearest `.cairn/` (which may redirect the
 * store elsewhere; the remotes stay with the workspace that names them).
 */
export function configPath(args: GlobalArgs, cwd = process.cwd()): string {
  if (args.store) return join(resolve(cwd, args.store), 'config.yaml');
  if (process.env.CAIRN_STORE) return join(resolve(cwd, process.env.CAIRN_STORE), 'config.yaml');
  const root = findDotCairn(cwd);
  if (!root) throw new CairnError('NOT_FOUND', 'no cairn store here or in any parent folder', { hint: 'run cairn init, or pass --store DIR' });
  return join(root, '.cairn', 'config.yaml');
}

// yaml (~20 ms) is loaded only by commands that read remotes.
async function yamlModule() {
  return import('yaml');
}

async function readDoc(path: string) {
  const YAML = await yamlModule();
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const doc = YAML.parseDocument(text);
  if (doc.errors.length > 0) throw new CairnError('BAD_INPUT', `${path}: ${doc.errors[0].message.split('\n')[0]}`, { fields: { path } });
  const root = doc.toJS() as unknown;
  if (root !== null && root !== undefined && (typeof root !== 'object' || Array.isArray(root))) throw new CairnError('BAD_INPUT', `${path}: not a mapping of settings`, { fields: { path } });
  return { YAML, doc, root: (root ?? {}) as Record<string, unknown> };
}

function entries(root: Record<string, unknown>, path: string): RemoteEntry[] {
  const remotes = root.remotes ?? {};
  if (typeof remotes !== 'object' || remotes === null || Array.isArray(remotes)) throw new CairnError('BAD_INPUT', `${path}: 'remotes' must be a mapping of name -> { url, endpoint }`, { fields: { path } });
  const def = root['default-remote'];
  return Object.entries(remotes as Record<string, unknown>).map(([name, v]) => {
    const e = v as { url?: unknown; endpoint?: unknown } | null;
    if (!e || typeof e.url !== 'string' || (e.endpoint !== undefined && typeof e.endpoint !== 'string')) {
      throw new CairnError('BAD_INPUT', `${path}: remote '${name}' needs a url (and optionally an endpoint), as text`, { fields: { path } });
    }
    return { name, url: e.url, ...(e.endpoint ? { endpoint: e.endpoint } : {}), default: def === name };
  });
}

export async function listRemotes(args: GlobalArgs): Promise<RemoteEntry[]> {
  const path = configPath(args);
  return entries((await readDoc(path)).root, path);
}

/**
 * Refuses a URL that carries credentials (user:secret@, a signed query), so
 * none is ever written to config.yaml or echoed in an error. The message
 * does not repeat the URL.
 */
export function refuseSecrets(url: string, what: string): void {
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(url) || /[?#]/.test(url)) {
    throw new CairnError('BAD_INPUT', `the ${what} holds credentials or a query; cairn never stores secrets`, {
      hint: 'give the plain URL, and credentials through AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)',
    });
  }
}

function checkEndpoint(endpoint: string): void {
  refuseSecrets(endpoint, '--endpoint');
  if (!/^https?:\/\/[^/\s]+\/?$/.test(endpoint)) throw new CairnError('BAD_INPUT', '--endpoint must be http://HOST[:PORT] or https://HOST[:PORT]');
}

/** Adds a remote; the first one added (or one added with `makeDefault`) is the default. */
export async function addRemote(args: GlobalArgs, r: { name: string; url: string; endpoint?: string; makeDefault?: boolean }): Promise<RemoteEntry> {
  checkRemoteName(r.name);
  refuseSecrets(r.url, 'URL');
  if (r.endpoint !== undefined) checkEndpoint(r.endpoint);
  const { parseRemoteUrl } = await import('@cairn/remote');
  parseRemoteUrl(r.url);
  const path = configPath(args);
  const { doc, root } = await readDoc(path);
  const existing = entries(root, path);
  if (existing.some((e) => e.name === r.name)) throw new CairnError('BAD_INPUT', `a remote named '${r.name}' exists`, { hint: `remove it first (cairn remote remove ${r.name})` });
  const isDefault = r.makeDefault === true || existing.length === 0 || !existing.some((e) => e.default);
  doc.setIn(['remotes', r.name], doc.createNode({ url: r.url, ...(r.endpoint ? { endpoint: r.endpoint } : {}) }));
  if (isDefault) doc.set('default-remote', r.name);
  await writeFileAtomic(path, doc.toString());
  return { name: r.name, url: r.url, ...(r.endpoint ? { endpoint: r.endpoint } : {}), default: isDefault };
}

/** Forgets a remote; when it was the default and one other is left, that one becomes the default. */
export async function removeRemote(args: GlobalArgs, name: string): Promise<void> {
  const path = configPath(args);
  const { doc, root } = await readDoc(path);
  const existing = entries(root, path);
  const gone = existing.find((e) => e.name === name);
  if (!gone) throw noSuchRemote(name);
  doc.deleteIn(['remotes', name]);
  if (existing.length === 1) doc.delete('remotes');
  const left = existing.filter((e) => e !== gone);
  // With one remote left there is no choice to make: it becomes the default.
  if (gone.default) {
    if (left.length === 1) doc.set('default-remote', left[0].name);
    else doc.delete('default-remote');
  }
  await writeFileAtomic(path, doc.toString());
}

function noSuchRemote(name: string): CairnError {
  return new CairnError('NOT_FOUND', `no remote '${name}'`, { hint: 'see cairn remote list; add one with cairn remote add NAME URL', fields: { name } });
}

/** The remote `-r` names (a configured name, or a URL), else the default one. */
export async function resolveRemote(args: GlobalArgs, name: string | undefined): Promise<RemoteEntry> {
  if (name !== undefined && name.includes('://')) {
    refuseSecrets(name, 'URL');
    return { name, url: name, default: false };
  }
  const all = await listRemotes(args);
  if (name === undefined) {
    const def = all.find((e) => e.default);
    if (!def) throw new CairnError('NOT_FOUND', 'no default remote', { hint: all.length ? 'name one with -r NAME' : 'add one with cairn remote add NAME URL' });
    return def;
  }
  const found = all.find((e) => e.name === name);
  if (!found) throw noSuchRemote(name);
  return found;
}

/** Opens a remote, loading @cairn/remote (and for s3://, the AWS SDK) only now. */
export async function openRemoteEntry(r: RemoteEntry): Promise<ObjectBackend> {
  const { openRemote } = await import('@cairn/remote');
  return openRemote(r.url, { endpoint: r.endpoint, env: process.env });
}

/** Runs `fn` with the remote open, closing it after (its close errors do not hide fn's). */
export async function withRemote<T>(r: RemoteEntry, fn: (remote: ObjectBackend) => Promise<T>): Promise<T> {
  const remote = await openRemoteEntry(r);
  let result: T;
  try {
    result = await fn(remote);
  } catch (err) {
    await remote.close().catch(() => {});
    throw err;
  }
  await remote.close();
  return result;
}
