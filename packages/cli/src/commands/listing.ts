import type { CommandModule } from 'yargs';
import type { GlobalArgs } from '../context.js';

export type AnyCommand = CommandModule<GlobalArgs, any>;

/** What help shows of a command: its usage line, description and aliases. */
export interface Listing {
  command: string;
  describe: string;
  aliases?: string[];
}

/** A command that can be listed without importing its module, and loaded to run. */
export interface LazyCommand<L extends (...args: any[]) => Promise<AnyCommand>> extends Listing {
  load: L;
}

/** Thrown when yargs enters a command that was only listed: the argv scan did not see it, so argv is parsed again with every command loaded. */
export class NotLoaded extends Error {
  constructor(command: string) {
    super(`cairn: internal: command '${command}' was entered before it was loaded`);
  }
}

/**
 * A command as help lists it, without its options, subcommands or handler.
 * Help, a typo or a missing command word then import no command module (nor
 * the store, runner and transfer packages behind them: ~140 ms of --help).
 * yargs runs a command's builder whenever it enters the command (to run it or
 * to show its own help), so that is where a listing gives up.
 */
export function listingOnly({ command, describe, aliases }: Listing): AnyCommand {
  const notLoaded = (): never => {
    throw new NotLoaded(command);
  };
  return { command, describe, ...(aliases ? { aliases } : {}), builder: notLoaded, handler: notLoaded };
}
