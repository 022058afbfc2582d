import { test } from 'node:test';
import assert from 'node:assert/strict';
import yargs from 'yargs';
import { skipHelpCache } from './main.js';

type Internals = { getInternalMethods(): { getUsageInstance(): { hasCachedHelpMessage(): boolean } } };

/** Runs a one-command yargs and tells whether it left a rendered help message behind. */
async function helpCachedAfterRun(skip: boolean): Promise<boolean> {
  let ran = false;
  const y = yargs(['go']).command('go', 'a command', {}, () => {
    ran = true;
  });
  if (skip) assert.equal(skipHelpCache(y), true);
  await y.parseAsync();
  assert.ok(ran);
  return (y as unknown as Internals).getInternalMethods().getUsageInstance().hasCachedHelpMessage();
}

test('yargs renders help for its cache whenever it runs a handler, and skipHelpCache stops that', async () => {
  assert.equal(await helpCachedAfterRun(false), true);
  assert.equal(await helpCachedAfterRun(true), false);
});
