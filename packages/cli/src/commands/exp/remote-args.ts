import type { Argv } from 'yargs';
import type { GlobalArgs } from '../../context.js';

export interface RemoteArgs extends GlobalArgs {
  remote?: string;
}

/** `-r, --remote NAME`: a remote of `cairn remote list` (or a URL); default: the default remote. */
export function remoteOption<T extends GlobalArgs>(y: Argv<T>, describe = 'the remote (a name from cairn remote list, or a URL); default: the default remote'): Argv<T & RemoteArgs> {
  return y.option('remote', { alias: 'r', type: 'string', requiresArg: true, describe }) as unknown as Argv<T & RemoteArgs>;
}
