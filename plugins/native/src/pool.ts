/** Runs `work` on every item with at most `size` running at once; results keep the items' order. */
export async function mapBounded<T, R>(items: readonly T[], size: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await work(items[index])
    }
  }

  await Promise.all(Array.from({length: Math.min(size, items.length)}, worker))
  return results
}

/**
 * A gate that lets at most `size` tasks run at once, in the order they were
 * given: unlike `mapBounded`, tasks may be added while others run, so work
 * of different kinds can start as soon as what it needs is ready.
 */
export function limiter(size: number): <R>(task: () => Promise<R>) => Promise<R> {
  let running = 0
  const queue: Array<() => void> = []
  const done = () => {
    running--
    queue.shift()?.()
  }

  return (task) =>
    new Promise((resolve, reject) => {
      const start = () => {
        running++
        task().then(resolve, reject).finally(done)
      }

      if (running < size) start()
      else queue.push(start)
    })
}

/**
 * Waits for every promise to settle, then throws the first failure in the
 * given order: nothing is left running behind a failure (a build must not
 * touch a tree it is about to remove), and the error shown does not depend on
 * which job happened to fail first.
 */
export async function settleAll<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(promises)
  const failed = settled.find((result) => result.status === 'rejected')
  if (failed) throw failed.reason
  return settled.map((result) => (result as PromiseFulfilledResult<T>).value)
}
