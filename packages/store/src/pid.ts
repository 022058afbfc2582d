/**
 * Whether process `pid` exists on this host. EPERM means it exists but
 * belongs to another user, so it counts as alive: treating it as dead would
 * let a lock or lease of a live process be taken over.
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
