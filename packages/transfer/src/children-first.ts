import type { ObjectId } from '@cairn/store';

/**
 * The objects of `included` reachable from `roots`, children before parents
 * (a post-order), each once: the order in which objects can be written so
 * that nothing ever links to an object not yet there. Iterative, so a deep
 * chain of checkpoints cannot overflow the stack.
 */
export function childrenFirst(roots: readonly ObjectId[], included: (id: ObjectId) => boolean, linksOf: (id: ObjectId) => readonly ObjectId[]): ObjectId[] {
  const order: ObjectId[] = [];
  const placed = new Set<ObjectId>();
  for (const root of roots) {
    if (!included(root) || placed.has(root)) continue;
    const stack: Array<{ id: ObjectId; next: number }> = [{ id: root, next: 0 }];
    placed.add(root);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const out = linksOf(top.id);
      let pushed = false;
      while (top.next < out.length) {
        const child = out[top.next++];
        if (!included(child) || placed.has(child)) continue;
        placed.add(child);
        stack.push({ id: child, next: 0 });
        pushed = true;
        break;
      }
      if (!pushed) {
        order.push(top.id);
        stack.pop();
      }
    }
  }
  return order;
}
