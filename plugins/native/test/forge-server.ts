import {createHash} from 'node:crypto'
import {chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import os from 'node:os'
import path from 'node:path'

import {run} from '../../../test/helpers/cli.js'

interface Release {
  slug: string
  version: string
  tarball: Buffer
  /** Served instead of the tarball (whose checksum the API still publishes): a tampered download. */
  tampered?: Buffer
}

/**
 * A small Forge API (v3) on 127.0.0.1: the module, release and file
 * endpoints r10k and the native assembler use, serving tarballs made on the
 * fly. Counts the file downloads, to see what a cache saves.
 */
export class ForgeServer {
  readonly releases = new Map<string, Release>()
  downloads = 0
  /** Answers a file request with a redirect to another path (as a Forge in front of a CDN may). */
  redirectFiles = false
  private server?: Server
  private readonly work = mkdtempSync(path.join(os.tmpdir(), 'pupistry-forge-'))

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`
  }

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      const send = (status: number, body: Buffer | string, type = 'application/json') => {
        response.writeHead(status, {'content-type': type})
        response.end(body)
      }

      const url = new URL(request.url ?? '/', 'http://127.0.0.1')
      if (this.redirectFiles && url.pathname.startsWith('/v3/files/')) {
        response.writeHead(302, {location: url.pathname.replace('/v3/files/', '/cdn/files/')})
        return response.end()
      }

      const file = /^\/(?:v3|cdn)\/files\/(.+)\.tar\.gz$/.exec(url.pathname)
      const release = /^\/v3\/releases\/(.+)$/.exec(url.pathname)
      const module = /^\/v3\/modules\/([^/]+)$/.exec(url.pathname)
      if (file) {
        const found = this.releases.get(file[1])
        if (!found) return send(404, '{"message":"404 Not Found","errors":["not found"]}')
        this.downloads++
        return send(200, found.tampered ?? found.tarball, 'application/octet-stream')
      }

      if (release) {
        const found = this.releases.get(release[1])
        if (!found) return send(404, '{"message":"404 Not Found","errors":["not found"]}')
        return send(200, JSON.stringify(this.releaseJson(found)))
      }

      if (module) {
        const versions = [...this.releases.values()].filter((entry) => entry.slug === module[1])
        if (versions.length === 0) return send(404, '{"message":"404 Not Found","errors":["not found"]}')
        const newest = versions.sort((a, b) => compareVersions(b.version, a.version))[0]
        return send(
          200,
          JSON.stringify({
            current_release: this.releaseJson(newest),
            deprecated_at: null,
            name: module[1].split('-')[1],
            slug: module[1],
          }),
        )
      }

      send(404, '{"message":"404 Not Found"}')
    })
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
  }

  /** Makes and publishes a release: a module directory with metadata, a manifest, a script, an empty directory and a symlink. */
  async publish(slug: string, version: string): Promise<Release> {
    const top = `${slug}-${version}`
    const dir = path.join(this.work, top)
    mkdirSync(path.join(dir, 'manifests'), {recursive: true})
    mkdirSync(path.join(dir, 'files', 'empty'), {recursive: true})
    const [author, name] = slug.split('-')
    writeFileSync(
      path.join(dir, 'metadata.json'),
      `${JSON.stringify(
        {author, dependencies: [], license: 'Apache-2.0', name: slug, source: 'local', summary: 'test', version},
        null,
        2,
      )}\n`,
    )
    writeFileSync(path.join(dir, 'manifests', 'init.pp'), `class ${name} { notice('${name} ${version}') }\n`)
    writeFileSync(path.join(dir, 'files', 'run.sh'), '#!/bin/sh\necho run\n')
    chmodSync(path.join(dir, 'files', 'run.sh'), 0o755)
    symlinkSync('run.sh', path.join(dir, 'files', 'link.sh'))
    const tarball = path.join(this.work, `${top}.tar.gz`)
    await run('tar', ['-czf', tarball, '--owner=0', '--group=0', '-C', this.work, top])
    const release = {slug, tarball: readFileSync(tarball), version}
    this.releases.set(top, release)
    return release
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve())
    rmSync(this.work, {force: true, recursive: true})
  }

  private releaseJson(release: Release) {
    const top = `${release.slug}-${release.version}`
    return {
      file_md5: createHash('md5').update(release.tarball).digest('hex'),
      file_sha256: createHash('sha256').update(release.tarball).digest('hex'),
      file_size: release.tarball.length,
      file_uri: `/v3/files/${top}.tar.gz`,
      metadata: {name: release.slug, version: release.version},
      slug: top,
      uri: `/v3/releases/${top}`,
      version: release.version,
    }
  }
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number)
  const pb = b.split('.').map(Number)
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i]
  return 0
}
