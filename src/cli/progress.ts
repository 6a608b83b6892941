import type {Meter} from '../runtime.js'
import {formatBytes} from '../util/bytes.js'

/** The meter when no progress is shown (a pipe, --json): counting costs nothing. */
export const NO_METER: Meter = {advance() {}, done() {}}

/** Redrawing more often than this only costs time; people cannot read it faster. */
const REDRAW_MS = 200

/**
 * One line redrawn in place with a carriage return (no escape sequences, so
 * any terminal shows it): percentage, bytes, rate and time left. The clock
 * is an argument so that tests need not wait.
 */
export function createMeter(
  write: (text: string) => void,
  label: string,
  total: number,
  now: () => number = () => performance.now(),
): Meter {
  const started = now()
  let done = 0
  let drawn: number | undefined
  let width = 0
  const draw = (final: boolean) => {
    const seconds = (now() - started) / 1000
    const rate = seconds > 0 ? done / seconds : 0
    const percent = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 100
    const left = !final && rate > 0 && done < total ? `, ${formatSeconds((total - done) / rate)} left` : ''
    const speed = rate > 0 ? `, ${formatBytes(Math.round(rate))}/s` : ''
    const line = `${label}: ${percent}% of ${formatBytes(total)}${speed}${left}`
    write(`\r${line.padEnd(width)}${final ? '\n' : ''}`)
    width = line.length
  }

  return {
    advance(bytes) {
      done += bytes
      const time = now()
      if (drawn !== undefined && time - drawn < REDRAW_MS) return
      drawn = time
      draw(false)
    },
    done() {
      draw(true)
    },
  }
}

function formatSeconds(seconds: number): string {
  const whole = Math.ceil(seconds)
  if (whole < 60) return `${whole}s`
  const minutes = Math.floor(whole / 60)
  return minutes < 60
    ? `${minutes}m${String(whole % 60).padStart(2, '0')}s`
    : `${Math.floor(minutes / 60)}h${minutes % 60}m`
}
