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
