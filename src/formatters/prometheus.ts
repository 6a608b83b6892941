import type {Metric} from '../status/metrics.js'

/** A label value in the text exposition format: backslash, double quote and newline escaped. */
function labelValue(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')
}

/** Metrics in Prometheus' text exposition format (version 0.0.4), as a textfile collector reads it. */
export function formatPrometheus(metrics: Metric[]): string {
  const lines: string[] = []
  for (const metric of metrics) {
    lines.push(`# HELP ${metric.name} ${metric.help.replaceAll('\\', '\\\\').replaceAll('\n', '\\n')}`)
    lines.push(`# TYPE ${metric.name} ${metric.type}`)
    for (const sample of metric.samples) {
      const labels = Object.entries(sample.labels)
        .map(([name, value]) => `${name}="${labelValue(value)}"`)
        .join(',')
      lines.push(`${metric.name}{${labels}} ${sample.value}`)
    }
  }

  return `${lines.join('\n')}\n`
}
