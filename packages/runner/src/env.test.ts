import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { buildRunEnv, pythonModuleDir } from './env.js';

describe('buildRunEnv', () => {
  const base = { PATH: '/usr/bin', PYTHONPATH: '/mine', CAIRN_RESUME: '1', DVCLIVE_RESUME: '1' };

  it('sets the variables of the signal protocol', () => {
    const env = buildRunEnv({ root: '/w', expName: 'exp-abcde', step: 4, resume: false, signalPath: '/w/.cairn/tmp/sig', base, cairnPid: 42 });
    assert.deepEqual(env, {
      PATH: '/usr/bin',
      CAIRN_ROOT: '/w',
      CAIRN_EXP_NAME: 'exp-abcde',
      CAIRN_STEP: '4',
      CAIRN_CHECKPOINT: '1',
      CAIRN_CHECKPOINT_SIGNAL: '/w/.cairn/tmp/sig',
      CAIRN_PID: '42',
      DVC_CHECKPOINT: '1',
      DVC_ROOT: '/w',
      PYTHONPATH: `${pythonModuleDir()}${path.delimiter}/mine`,
    });
  });

  it('marks a resume for cairn and DVCLive', () => {
    const env = buildRunEnv({ root: '/w', expName: 'e', step: 0, resume: true, signalPath: '/s', dvcRoot: '/d', pythonDir: '/py', base: { PATH: '/bin' } });
    assert.equal(env.CAIRN_RESUME, '1');
    assert.equal(env.DVCLIVE_RESUME, '1');
    assert.equal(env.DVC_ROOT, '/d');
    assert.equal(env.PYTHONPATH, '/py');
    assert.equal(env.CAIRN_PID, String(process.pid));
  });
});

describe('buildRunEnv for DVCLive', () => {
  it("passes DVC 2.x's live settings as DVCLive 0.x reads them (bool(int(value)))", () => {
    const env = buildRunEnv({ root: '/w', expName: 'e', step: 0, resume: false, signalPath: '/s', base: {}, live: { path: 'logs', summary: true, html: false } });
    assert.equal(env.DVCLIVE_PATH, 'logs');
    assert.equal(env.DVCLIVE_SUMMARY, '1');
    assert.equal(env.DVCLIVE_HTML, '0');
    assert.equal(env.DVCLIVE_RESUME, undefined);
  });

  it('sets DVCLIVE_RESUME, not CAIRN_RESUME, for a new experiment started from a checkpoint', () => {
    const env = buildRunEnv({ root: '/w', expName: 'e', step: 5, resume: false, fromCheckpoint: true, signalPath: '/s', base: {} });
    assert.equal(env.DVCLIVE_RESUME, '1');
    assert.equal(env.CAIRN_RESUME, undefined);
  });
});

describe('pythonModuleDir', () => {
  it('holds cairn.py', () => {
    assert.ok(path.isAbsolute(pythonModuleDir()));
    assert.ok(existsSync(path.join(pythonModuleDir(), 'cairn.py')));
  });
});
