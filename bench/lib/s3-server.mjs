#!/usr/bin/env node
// An S3-protocol server (s3rver, a devDependency) on 127.0.0.1 for the S3
// benchmark: one bucket, objects in DIR. Prints the endpoint URL on its first
// line, then serves until it gets SIGTERM or SIGINT.
//
//   node s3-server.mjs DIR BUCKET
import S3rver from 's3rver'

const [directory, bucket] = process.argv.slice(2)
if (!directory || !bucket) {
  console.error('usage: s3-server.mjs DIR BUCKET')
  process.exit(2)
}

const server = new S3rver({address: '127.0.0.1', configureBuckets: [{name: bucket}], directory, port: 0, silent: true})
const {port} = await server.run()
console.log(`http://127.0.0.1:${port}`)
const stop = async () => {
  await server.close()
  process.exit(0)
}

process.on('SIGTERM', stop)
process.on('SIGINT', stop)
