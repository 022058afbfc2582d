import type tar from 'tar-stream';

/**
 * Adds a regular-file entry, as every entry of an export is (docs/FORMAT.md,
 * "Tarball layout"). A failure surfaces through the pack; the entry's own
 * stream must not throw it again as an uncaught 'error' when the pack is
 * destroyed with entries still queued.
 */
export function fileEntry(pack: tar.Pack, name: string, data: Buffer, mtime: Date, done?: (err?: Error | null) => void): void {
  const sink = pack.entry({ name, size: data.length, mode: 0o644, mtime, type: 'file', uname: 'cairn', gname: 'cairn' }, data, done);
  sink.on('error', () => {});
}
