import {type ChildProcess, spawn} from 'node:child_process'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import path from 'node:path'

import {run} from './cli.js'

export interface Nginx {
  /**
   * https://127.0.0.1:PORT/ serving the root, with /moved/ (redirect to itself), /downgrade/ (redirect to plain
   * http) and /private/ (basic auth).
   */
  https: string
  /** http://127.0.0.1:PORT/ serving the same root. */
  http: string
  /** The certificate to trust (NODE_EXTRA_CA_CERTS). */
  ca: string
  user: string
  password: string
  /** Requests served so far, as "METHOD /uri STATUS". */
  requests(): string[]
  stop(): Promise<void>
}

async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function waitForPort(port: number, child: ChildProcess, errorLog: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (child.exitCode !== null) throw new Error(`nginx exited ${child.exitCode}: ${readFileSync(errorLog, 'utf8')}`)
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.end()
        resolve(true)
      })
      socket.on('error', () => resolve(false))
    })
    if (open) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }

  throw new Error(`nginx did not listen on 127.0.0.1:${port}`)
}

/** A self-signed certificate for 127.0.0.1 (an EC key), written as cert.pem and key.pem in `dir`. */
export async function selfSignedCert(dir: string): Promise<{cert: string; key: string}> {
  const cert = path.join(dir, 'cert.pem')
  const key = path.join(dir, 'key.pem')
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '2',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
  ])
  return {cert, key}
}

/** Debian's nginx on loopback, serving `root` over HTTPS (self-signed for 127.0.0.1) and plain HTTP. */
export async function startNginx(root: string, dir: string): Promise<Nginx> {
  mkdirSync(path.join(dir, 'tmp'), {recursive: true})
  const {cert, key} = await selfSignedCert(dir)
  const user = 'fleet'
  const password = 'mirror-secret-7f3a'
  const hash = (await run('openssl', ['passwd', '-apr1', password])).trim()
  writeFileSync(path.join(dir, 'htpasswd'), `${user}:${hash}\n`)

  const [httpsPort, httpPort] = [await freePort(), await freePort()]
  const temp = path.join(dir, 'tmp')
  const config = `
${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes 1;
error_log ${dir}/error.log;
pid ${dir}/nginx.pid;
events { worker_connections 64; }
http {
  log_format short '$request_method $uri $status';
  access_log ${dir}/access.log short;
  client_body_temp_path ${temp}/body; proxy_temp_path ${temp}/proxy; fastcgi_temp_path ${temp}/fastcgi;
  uwsgi_temp_path ${temp}/uwsgi; scgi_temp_path ${temp}/scgi;
  types { application/json json; application/gzip gz; }
  server {
    listen 127.0.0.1:${httpsPort} ssl;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    root ${root};
    location /moved/ { rewrite ^/moved/(.*)$ https://127.0.0.1:${httpsPort}/$1 permanent; }
    location /downgrade/ { rewrite ^/downgrade/(.*)$ http://127.0.0.1:${httpPort}/$1 redirect; }
    location /private/ { alias ${root}/; auth_basic "mirror"; auth_basic_user_file ${dir}/htpasswd; }
  }
  server {
    listen 127.0.0.1:${httpPort};
    root ${root};
  }
}
`
  const conf = path.join(dir, 'nginx.conf')
  writeFileSync(conf, config)
  writeFileSync(path.join(dir, 'access.log'), '')
  const child = spawn('/usr/sbin/nginx', ['-p', dir, '-c', conf, '-g', 'daemon off;'], {stdio: 'ignore'})
  await waitForPort(httpsPort, child, path.join(dir, 'error.log'))
  await waitForPort(httpPort, child, path.join(dir, 'error.log'))
  return {
    ca: cert,
    http: `http://127.0.0.1:${httpPort}/`,
    https: `https://127.0.0.1:${httpsPort}/`,
    password,
    requests: () => readFileSync(path.join(dir, 'access.log'), 'utf8').split('\n').filter(Boolean),
    async stop() {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    },
    user,
  }
}
