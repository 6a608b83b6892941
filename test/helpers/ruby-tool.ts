import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {execute, run} from './cli.js'

/**
 * What the Ruby tool (pupistry 1.x/2.x) does on each side, replayed with the
 * system tools it shelled out to: GNU tar, gzip, md5sum, gpg and Ruby's YAML.
 */

/** A GnuPG home with one signing key of `algo` (rsa3072, ed25519); returns its fingerprint and armoured public key. */
export async function gpgKey(home: string, userId: string, algo = 'rsa3072') {
  mkdirSync(home, {mode: 0o700, recursive: true})
  const env = {GNUPGHOME: home}
  await run('gpg', ['--batch', '--passphrase', '', '--quick-generate-key', userId, algo, 'sign', 'never'], {env})
  const listing = await run('gpg', ['--batch', '--with-colons', '--list-secret-keys', userId], {env})
  const fingerprint = listing
    .split('\n')
    .find((line) => line.startsWith('fpr:'))!
    .split(':')[9]
  const publicKey = await run('gpg', ['--batch', '--armor', '--export', fingerprint], {env})
  return {env, fingerprint, publicKey}
}

export interface RubyRelease {
  version: string
  artifact: Buffer
  manifest: string
}

/**
 * Builds a release as the Ruby tool did: `tar -c puppetcode/*` (GNU tar,
 * owners and times kept), the MD5 of that tar as the version, `gzip FILE`
 * (which records the file name), a binary detached signature over the
 * .tar.gz, base64 with line breaks (Base64.encode64), and the YAML manifest.
 * `extra` adds raw tar members (with -P, names are kept as given).
 */
export async function rubyRelease(
  dir: string,
  environments: Record<string, Record<string, string>>,
  options: {signWith?: NodeJS.ProcessEnv; extra?: string[]; version?: string} = {},
): Promise<RubyRelease> {
  mkdirSync(dir, {recursive: true})
  for (const [environment, files] of Object.entries(environments)) {
    for (const [name, text] of Object.entries(files)) {
      const file = path.join(dir, 'puppetcode', environment, name)
      mkdirSync(path.dirname(file), {recursive: true})
      writeFileSync(file, text)
    }
  }

  const tarFile = path.join(dir, 'artifact.temp.tar')
  await run('tar', ['-c', '-P', '--exclude', '.git', '-f', tarFile, 'puppetcode', ...(options.extra ?? [])], {cwd: dir})
  const md5 = (await run('md5sum', [tarFile])).split(' ')[0]
  await run('gzip', [tarFile])
  const artifactFile = `${tarFile}.gz`
  let gpgsig = 'unsigned'
  if (options.signWith) {
    const sig = path.join(dir, 'artifact.sig')
    await run('gpg', ['--batch', '--yes', '--detach-sign', '--output', sig, artifactFile], {env: options.signWith})
    const encoded = await run('base64', ['-w', '60', sig])
    gpgsig = `|\n${encoded
      .trimEnd()
      .split('\n')
      .map((line) => `  ${line}`)
      .join('\n')}`
  }

  const version = options.version ?? md5
  const manifest = `---\nversion: ${version}\ndate: '2026-11-29 19:30:00 +0000'\nbuilduser: ops\ngpgsig: ${gpgsig}\n`
  return {artifact: readFileSync(artifactFile), manifest, version}
}

/**
 * The Ruby agent's steps on a downloaded release: Ruby's YAML.safe_load of
 * the manifest (with its own line-anchored version check), `gpg --verify`
 * with its status output for GOODSIG, `tar -xzf`, and the MD5 of the tar.
 */
export async function replayRubyAgent(
  dir: string,
  release: {manifest: Buffer; artifact: Buffer},
  gnupgHome: string,
  gpg = 'gpg',
): Promise<{manifest: Record<string, unknown>; goodsig: boolean; md5: string; extracted: string}> {
  mkdirSync(dir, {recursive: true})
  const manifestFile = path.join(dir, 'manifest.latest.yaml')
  const artifactFile = path.join(dir, 'artifact.tar.gz')
  writeFileSync(manifestFile, release.manifest)
  writeFileSync(artifactFile, release.artifact)
  const ruby = [
    'require "yaml"; require "json"; require "base64"',
    'm = YAML.safe_load(File.read(ARGV[0]))',
    'raise "bad version" unless m["version"] =~ /^[A-Za-z0-9]+$/',
    'File.binwrite(ARGV[1], Base64.decode64(m["gpgsig"])) unless m["gpgsig"] == "unsigned"',
    'puts JSON.generate(m.transform_values { |v| [v.class.name, v] })',
  ].join('\n')
  const sig = path.join(dir, 'artifact.sig')
  const parsed = JSON.parse(await run('ruby', ['-e', ruby, manifestFile, sig])) as Record<string, [string, unknown]>
  const verify = await execute(gpg, ['--batch', '--status-fd', '1', '--verify', sig, artifactFile], {
    env: {GNUPGHOME: gnupgHome},
  })
  const extracted = path.join(dir, 'extracted')
  mkdirSync(extracted)
  await run('tar', ['-xzf', artifactFile, '-C', extracted])
  const md5 = (await run('bash', ['-c', 'gzip -dc "$1" | md5sum', '_', artifactFile])).split(' ')[0]
  for (const [key, [type]] of Object.entries(parsed)) if (type !== 'String') throw new Error(`${key} is a ${type}`)
  return {
    extracted,
    goodsig: /^\[GNUPG:\] GOODSIG /m.test(verify.stdout),
    manifest: Object.fromEntries(Object.entries(parsed).map(([key, [, value]]) => [key, value])),
    md5,
  }
}
